package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// poolRole makes a PostgreSQL login role of the test's own, so that its
// backends can be told from everyone else's in pg_stat_activity, and
// returns it with a superuser connection to count them.
func poolRole(t *testing.T) (role string, admin *pgx.Conn) {
	t.Helper()
	u := testenv.PostgresURL(t)
	admin, err := pgx.Connect(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	role = "qg_pool_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec(t.Context(), "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD 'pool password'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		admin.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
		admin.Close(ctx)
	})
	return role, admin
}

// poolSource creates a device-custody PostgreSQL datasource that connects
// as role.
func poolSource(t *testing.T, c *client, name, role string) string {
	t.Helper()
	u := testenv.PostgresURL(t)
	port := portOr(t, u.Port(), 5432)
	return c.must(201, "POST", "/api/datasources", map[string]any{"name": name, "kind": "postgres", "custody": "device",
		"settings": map[string]any{"host": u.Hostname(), "port": port, "database": strings.TrimPrefix(u.Path, "/"),
			"user": role, "sslmode": "disable"}})["id"].(string)
}

// backendPorts lists the client ports of the gateway's connections to
// PostgreSQL as role, as the server sees them.
func backendPorts(ctx context.Context, admin *pgx.Conn, role string) ([]int, error) {
	rows, err := admin.Query(ctx, "SELECT client_port FROM pg_stat_activity WHERE application_name = 'querygate' AND usename = $1", role)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// openPorts returns the local ports of this process's established TCP
// connections to remotePort (Linux /proc): the connections the in-process
// gateway holds, as it sees them.
func openPorts(remotePort int) (map[int]bool, error) {
	// The table first, then the descriptors: a socket counted was open
	// when the table was read.
	byInode := map[string]int{}
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "01" { // ESTABLISHED
				continue
			}
			_, rport, _ := strings.Cut(fs[2], ":")
			_, lport, _ := strings.Cut(fs[1], ":")
			r, err1 := strconv.ParseInt(rport, 16, 32)
			l, err2 := strconv.ParseInt(lport, 16, 32)
			if err1 == nil && err2 == nil && int(r) == remotePort {
				byInode[fs[9]] = int(l)
			}
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	out := map[int]bool{}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			if port, ok := byInode[strings.TrimSuffix(inode, "]")]; ok {
				out[port] = true
			}
		}
	}
	return out, nil
}

// TestDeviceConnectionsBounded: one user unlocks a device-custody
// datasource from many devices at once and runs parallel queries from each;
// the gateway never holds more than --pool-max-conns connections to it
// (every device pool, unlock and test shares that bound), and every query
// still gets its turn.
func TestDeviceConnectionsBounded(t *testing.T) {
	const maxConns, devices, perDevice = 2, 6, 3
	role, pg := poolRole(t)
	g := MustRun(t, t.TempDir(), nil, "--pool-max-conns", fmt.Sprint(maxConns))
	admin := g.MustSetup(nil)
	id := poolSource(t, admin, "pg", role)

	// Count the connections all along, from before the first unlock, as
	// the server sees them (pg_stat_activity) and as the gateway does (its
	// open sockets). A backend the gateway has just closed stays listed by
	// the server for a moment, while it exits: the server's count keeps
	// the backends whose socket the gateway still held after the sample.
	u := testenv.PostgresURL(t)
	pgPort := portOr(t, u.Port(), 5432)
	sampler := pg.PgConn().Conn().LocalAddr().(*net.TCPAddr).Port
	if _, err := openPorts(pgPort); err != nil {
		t.Skipf("cannot read this process's sockets: %v", err)
	}
	var peakServer, peakGateway int
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			listed, err := backendPorts(context.Background(), pg, role)
			if err != nil {
				t.Errorf("pg_stat_activity: %v", err)
				return
			}
			held, err := openPorts(pgPort)
			if err != nil {
				t.Errorf("sockets: %v", err)
				return
			}
			delete(held, sampler)
			n := 0
			for _, p := range listed {
				if held[p] {
					n++
				}
			}
			peakServer, peakGateway = max(peakServer, n), max(peakGateway, len(held))
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// Many devices (cookie jars) of one user unlock at once.
	clients := make([]*client, devices)
	for i := range clients {
		clients[i] = g.client(nil)
		clients[i].must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			// A parallel unlock may find the connection tests all busy
			// (503): try again, as a browser would.
			for range 50 {
				r := c.do("POST", "/api/datasources/"+id+"/unlock", map[string]any{"password": "pool password"})
				if r.Status == 200 {
					return
				}
				if r.Status != http.StatusServiceUnavailable {
					t.Errorf("unlock: %d %s", r.Status, r.Body)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Error("unlock: still busy after 50 tries")
		})
	}
	wg.Wait()
	if t.Failed() {
		close(stop)
		<-sampled
		t.FailNow()
	}

	// Each device runs queries in parallel.
	q := map[string]any{"query": "SELECT pg_sleep(0.3) IS NULL AS slept", "timeout_ms": 60000}
	for _, c := range clients {
		for range perDevice {
			wg.Go(func() {
				r := c.do("POST", "/api/datasources/"+id+"/query", q)
				if r.Status != 200 || !strings.Contains(string(r.Body), `"done"`) {
					t.Errorf("query: %d %s", r.Status, r.Body)
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	<-sampled
	if peakServer > maxConns || peakGateway > maxConns {
		t.Errorf("the gateway held %d connections to the datasource at once (pg_stat_activity), %d (its sockets), want at most --pool-max-conns %d",
			peakServer, peakGateway, maxConns)
	} else if peakServer == 0 || peakGateway == 0 {
		t.Error("no connection was ever seen: the count is not measuring the gateway")
	}
	t.Logf("peak connections: %d (pg_stat_activity), %d (sockets); bound %d, %d devices × %d queries", peakServer, peakGateway, maxConns, devices, perDevice)
}

// TestDeviceUnlockCap: a user keeps at most 10 unlocked devices per
// datasource; the one unused for longest is forgotten by the next unlock
// (its cookie opens nothing any more), the others keep working.
func TestDeviceUnlockCap(t *testing.T) {
	role, _ := poolRole(t)
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	id := poolSource(t, admin, "pg", role)
	other := poolSource(t, admin, "pg2", role)
	name := "qg-dk-" + id
	q := map[string]any{"query": "SELECT 1"}
	// A device of the same user on another datasource is not counted.
	admin.must(200, "POST", "/api/datasources/"+other+"/unlock", map[string]any{"password": "pool password"})

	var cookies []string
	for range 12 {
		admin.must(200, "POST", "/api/datasources/"+id+"/unlock", map[string]any{"password": "pool password"})
		cookies = append(cookies, admin.cookieOf(name).Value)
	}
	if n := len(admin.must(200, "GET", "/api/devices?datasource_id="+id, nil)["devices"].([]any)); n != 10 {
		t.Fatalf("devices of the datasource: %d, want 10", n)
	}
	if n := len(admin.must(200, "GET", "/api/devices?datasource_id="+other, nil)["devices"].([]any)); n != 1 {
		t.Fatalf("devices of the other datasource: %d, want 1", n)
	}
	for i, ck := range cookies {
		admin.setCookie(name, ck)
		r := admin.do("POST", "/api/datasources/"+id+"/query", q)
		switch {
		case i < 2 && r.errorCode() != "device_locked":
			t.Errorf("device %d (forgotten): got %d %s", i, r.Status, r.Body)
		case i >= 2 && r.Status != 200:
			t.Errorf("device %d: got %d %s", i, r.Status, r.Body)
		}
	}
	// The forgetting is audited with the unlock that caused it.
	first, _, _ := g.m.inst.Cookies.Open(name, cookies[0])
	_, firstID, _ := strings.Cut(string(first), ".")
	events := fmt.Sprint(admin.must(200, "GET", "/api/audit?action=device.unlock", nil))
	if firstID == "" || !strings.Contains(events, "device_limit") || !strings.Contains(events, firstID) {
		t.Errorf("the forgotten device %q is not in the unlock's audit event: %s", firstID, events)
	}
}

// TestUnlockSharesTestBound: an unlock opens a connection to test the
// password, so it takes one of the slots that bound connection tests: with
// every slot held by tests that hang, an unlock is answered 503 at once
// instead of opening one more connection.
func TestUnlockSharesTestBound(t *testing.T) {
	role, _ := poolRole(t)
	// A server that accepts connections and never answers: each test on it
	// hangs until it is cancelled.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c)
			heldMu.Unlock()
			accepted.Add(1)
		}
	}()
	defer func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	g := MustRun(t, t.TempDir(), nil, "--pool-max-conns", "10")
	admin := g.MustSetup(nil)
	dev := poolSource(t, admin, "pg", role)
	hang := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "hang", "kind": "postgres",
		"settings": map[string]any{"host": "127.0.0.1", "port": ln.Addr().(*net.TCPAddr).Port, "database": "d", "user": "u", "sslmode": "disable"}})["id"].(string)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	const slots = 8 // web.maxConcurrentTests
	for range slots {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", g.url+"/api/datasources/"+hang+"/test", nil)
			if resp, err := admin.http.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for accepted.Load() < slots && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := accepted.Load(); n < slots {
		t.Fatalf("only %d hanging tests connected", n)
	}
	r := admin.do("POST", "/api/datasources/"+dev+"/unlock", map[string]any{"password": "pool password"})
	if r.Status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
		t.Fatalf("unlock with every test slot held: got %d %s, want 503", r.Status, r.Body)
	}
	// Once the tests end, unlock works again.
	cancel()
	wg.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for {
		r := admin.do("POST", "/api/datasources/"+dev+"/unlock", map[string]any{"password": "pool password"})
		if r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unlock after the tests ended: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// wireGateway starts the gateway with --pgwire-listen and returns the
// listener's address, an API token of the bench user, and the names of a
// read-write and a read-only datasource on the test server.
func wireGateway(b *testing.B) (addr, token, rw, ro string) {
	b.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr = ln.Addr().String()
	ln.Close()
	g := startGateway(b, "--pgwire-listen", addr)
	var tok struct{ Token string }
	json.Unmarshal(g.post(b, "/api/tokens", `{"name":"bench"}`), &tok)
	u := testenv.PostgresURL(b)
	port := 5432
	fmt.Sscan(u.Port(), &port)
	body, _ := json.Marshal(map[string]any{"name": "pgro", "kind": "postgres", "read_only": true, "settings": map[string]any{
		"host": u.Hostname(), "port": port, "database": strings.TrimPrefix(u.Path, "/"), "user": testenv.PostgresReadOnlyUser(b), "sslmode": "disable"}})
	g.post(b, "/api/datasources", string(body))
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			b.Fatal("wire listener did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, tok.Token, "pg", "pgro"
}

func wireConn(b *testing.B, addr, user, db, password string) *pgx.Conn {
	b.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cfg, err := pgx.ParseConfig("host=" + host + " port=" + port + " user=" + user + " dbname=" + db + " sslmode=disable")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Password = password
	c, err := pgx.ConnectConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func directConn(b *testing.B) *pgx.Conn {
	b.Helper()
	c, err := pgx.Connect(b.Context(), testenv.PostgresURL(b).String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// p50 runs fn n times in a row and returns the median time.
func p50(b *testing.B, n int, fn func() error) time.Duration {
	all := make([]time.Duration, n)
	for i := range n {
		t := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		all[i] = time.Since(t)
	}
	slices.Sort(all)
	return all[n/2]
}

// BenchmarkPgwireSelect1 is SELECT 1 on one pgx connection, direct vs.
// through the wire listener (read-write and read-only datasources), in the
// extended protocol (pgx's default: cached prepared statement) and the
// simple one (as psql sends it). Each reports the direct p50, the wire
// p50, and the overhead.
func BenchmarkPgwireSelect1(b *testing.B) {
	addr, token, rw, ro := wireGateway(b)
	direct := directConn(b)
	const n = 3000
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		for _, db := range []string{rw, ro} {
			wire := wireConn(b, addr, "bench", db, token)
			b.Run(fmt.Sprintf("%s/%s", db, mode), func(b *testing.B) {
				for b.Loop() {
					one := func(c *pgx.Conn) func() error {
						return func() error {
							var v int
							return c.QueryRow(context.Background(), "SELECT 1", mode).Scan(&v)
						}
					}
					p50(b, 200, one(direct)) // warm up both
					p50(b, 200, one(wire))
					d := p50(b, n, one(direct))
					w := p50(b, n, one(wire))
					b.ReportMetric(float64(d.Microseconds())/1000, "direct-p50-ms")
					b.ReportMetric(float64(w.Microseconds())/1000, "wire-p50-ms")
					b.ReportMetric(float64((w-d).Microseconds())/1000, "overhead-ms")
				}
			})
		}
	}
}

// BenchmarkPgwireRows reads 1M rows of two columns with pgx, direct vs.
// through the wire listener, and reports the throughput ratio.
func BenchmarkPgwireRows(b *testing.B) {
	addr, token, rw, ro := wireGateway(b)
	direct := directConn(b)
	const n = 1_000_000
	q := fmt.Sprintf("SELECT g, 'name-' || g FROM generate_series(1, %d) g", n)
	read := func(c *pgx.Conn) (float64, error) {
		start := time.Now()
		rows, err := c.Query(context.Background(), q)
		if err != nil {
			return 0, err
		}
		count := 0
		for rows.Next() {
			rows.RawValues()
			count++
		}
		if rows.Err() != nil || count != n {
			return 0, fmt.Errorf("got %d rows: %v", count, rows.Err())
		}
		return float64(n) / time.Since(start).Seconds(), nil
	}
	for _, db := range []string{rw, ro} {
		wire := wireConn(b, addr, "bench", db, token)
		b.Run(db, func(b *testing.B) {
			for b.Loop() {
				var d, w []float64
				for range 5 { // alternated, best of five each (the machine is shared)
					x, err := read(direct)
					if err != nil {
						b.Fatal(err)
					}
					y, err := read(wire)
					if err != nil {
						b.Fatal(err)
					}
					d, w = append(d, x), append(w, y)
				}
				b.ReportMetric(slices.Max(d), "direct-rows/s")
				b.ReportMetric(slices.Max(w), "wire-rows/s")
				b.ReportMetric(slices.Max(w)/slices.Max(d), "ratio")
			}
		})
	}
}

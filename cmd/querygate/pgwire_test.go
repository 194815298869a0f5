package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/testenv"
)

// wireGateway is a running gateway serving the wire protocol on loopback,
// with an admin client, an API token of the admin, and a read-only and a
// read-write PostgreSQL datasource.
type wireGateway struct {
	g              *gateway
	admin          *client
	token          string
	addr           string
	roName, rwName string
	roID, rwID     string
}

func startWire(t *testing.T, args ...string) *wireGateway {
	t.Helper()
	testenv.PostgresURL(t)
	g := MustRun(t, t.TempDir(), nil, append([]string{"--pgwire-listen", "127.0.0.1:0"}, args...)...)
	c := g.MustSetup(nil)
	w := &wireGateway{g: g, admin: c, addr: g.m.PgwireAddr(), roName: "wire_ro", rwName: "wire_rw"}
	w.roID = postgresSource(t, c, w.roName, true)
	w.rwID = postgresSource(t, c, w.rwName, false)
	w.token = c.must(201, "POST", "/api/tokens", map[string]any{"name": "wire"})["token"].(string)
	return w
}

// dsn is a libpq connection string to the gateway.
func (w *wireGateway) dsn(user, db string) string {
	host, port, _ := net.SplitHostPort(w.addr)
	return "host=" + host + " port=" + port + " user=" + user + " dbname=" + db + " sslmode=disable connect_timeout=10"
}

// psql runs psql with the password (an API token) and returns its output
// (stdout and stderr) and error.
func psql(t *testing.T, dsn, password string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", append([]string{"-X", "-v", "ON_ERROR_STOP=1", dsn}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestWirePsqlSmoke(t *testing.T) {
	w := startWire(t)
	out, err := psql(t, w.dsn("admin", w.roName), w.token, "-At", "-c", "SELECT 1+1")
	if err != nil || strings.TrimSpace(out) != "2" {
		t.Fatalf("psql: %v\n%s\nlogs:\n%s", err, out, w.g.logs)
	}
}

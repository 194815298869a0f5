package postgres

import (
	"context"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/testenv"
)

// setPGEnv sets every PG* variable pgconn reads to a value that would
// change the connection if it were used: another host and port, a
// password, sslmode, a password file, a service file, session options.
func setPGEnv(t *testing.T) {
	dir := t.TempDir()
	passfile := filepath.Join(dir, "pgpass")
	if err := os.WriteFile(passfile, []byte("*:*:*:*:canary-passfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"PGHOST":               "127.0.0.2",
		"PGPORT":               "1",
		"PGDATABASE":           "env_db",
		"PGUSER":               "env_user",
		"PGPASSWORD":           "canary-env-password",
		"PGPASSFILE":           passfile,
		"PGSSLMODE":            "verify-full",
		"PGSSLROOTCERT":        filepath.Join(dir, "missing-root.crt"),
		"PGSSLCERT":            filepath.Join(dir, "missing.crt"),
		"PGSSLKEY":             filepath.Join(dir, "missing.key"),
		"PGSSLCERTMODE":        "require",
		"PGSSLNEGOTIATION":     "direct",
		"PGSSLSNI":             "0",
		"PGAPPNAME":            "env_app",
		"PGOPTIONS":            "-c search_path=env_schema -c default_transaction_read_only=on",
		"PGTZ":                 "Pacific/Chatham",
		"PGCONNECT_TIMEOUT":    "1",
		"PGTARGETSESSIONATTRS": "standby",
		"PGCHANNELBINDING":     "require",
		"PGREQUIREAUTH":        "gss",
		"PGMINPROTOCOLVERSION": "3.0",
		"PGMAXPROTOCOLVERSION": "3.0",
		"PGSERVICEFILE":        filepath.Join(dir, "missing-service.conf"),
	} {
		t.Setenv(k, v)
	}
}

// TestEnvironmentIgnored proves the PG* environment, ~/.pgpass and the
// like change nothing: every field ParseConfig could have taken from them
// is set from the datasource.
func TestEnvironmentIgnored(t *testing.T) {
	setPGEnv(t)
	s := &Settings{host: "db.example", port: 6543, database: "ds_db", user: "ds_user"}
	dial := (&net.Dialer{}).DialContext
	pc, err := poolConfig(s, dial, 3, time.Minute)
	if err != nil {
		t.Fatalf("poolConfig: %v", err)
	}
	c := pc.ConnConfig.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"Host", c.Host, "db.example"},
		{"Port", c.Port, uint16(6543)},
		{"Database", c.Database, "ds_db"},
		{"User", c.User, "ds_user"},
		{"Password (none configured)", c.Password, ""},
		{"TLSConfig", c.TLSConfig == nil, true},
		{"Fallbacks", len(c.Fallbacks), 0},
		{"SSLNegotiation", c.SSLNegotiation, "postgres"},
		{"ChannelBinding", c.ChannelBinding, "prefer"},
		{"RequireAuth", c.RequireAuth, "!password"}, // no TLS here: never a cleartext password
		{"ValidateConnect", c.ValidateConnect == nil, true},
		{"AfterConnect", c.AfterConnect == nil, true},
		{"ConnectTimeout", c.ConnectTimeout, connectTimeout},
		{"MinProtocolVersion", c.MinProtocolVersion, "3.0"},
		{"MaxProtocolVersion", c.MaxProtocolVersion, "3.0"},
		{"KerberosSrvName", c.KerberosSrvName, ""},
		{"MaxConns", pc.MaxConns, int32(3)},
		{"MinConns", pc.MinConns, int32(0)},
		{"MaxConnIdleTime", pc.MaxConnIdleTime, time.Minute},
		{"StatementCacheCapacity", pc.ConnConfig.StatementCacheCapacity, 0},
		{"DescriptionCacheCapacity", pc.ConnConfig.DescriptionCacheCapacity, 0},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if want := map[string]string{"application_name": "querygate", "client_encoding": "UTF8"}; !maps.Equal(c.RuntimeParams, want) {
		t.Errorf("RuntimeParams = %v, want %v", c.RuntimeParams, want)
	}
	// The look-up hands the name to the dialer unresolved.
	addrs, err := c.LookupFunc(t.Context(), "db.example")
	if err != nil || len(addrs) != 1 || addrs[0] != "db.example" {
		t.Errorf("LookupFunc = %v, %v; want the host unchanged", addrs, err)
	}
}

// TestEnvironmentIgnoredLive connects to the test server with the hostile
// environment set: the session is the one the datasource describes.
func TestEnvironmentIgnoredLive(t *testing.T) {
	u := testenv.PostgresURL(t)
	setPGEnv(t)
	port, _ := strconv.ParseInt(u.Port(), 10, 64)
	if port == 0 {
		port = 5432
	}
	st := &Settings{host: u.Hostname(), port: uint16(port), database: strings.TrimPrefix(u.Path, "/"), user: u.User.Username()}
	st.password, _ = u.User.Password()
	var dials int
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials++
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	pc, err := poolConfig(st, dial, 1, 0)
	if err != nil {
		t.Fatalf("poolConfig: %v", err)
	}
	if pc.ConnConfig.Password != st.password {
		t.Error("the password does not come from the datasource")
	}
	c, err := newConnector(pc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []any
	_, err = c.Query(t.Context(), connect.Request{Query: `SELECT current_user::text, current_database()::text,
		current_setting('application_name'), current_setting('search_path'), current_setting('TimeZone'),
		current_setting('default_transaction_read_only')`}, sinkFunc(func(v []any) { got = append([]any(nil), v...) }))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	want := []any{st.user, st.database, "querygate"}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("column %d = %v, want %v", i, got[i], w)
		}
	}
	if got[3] == "env_schema" || got[4] == "Pacific/Chatham" || got[5] == "on" {
		t.Errorf("session settings came from the environment: search_path %v, TimeZone %v, read only %v", got[3], got[4], got[5])
	}
	if dials != 1 {
		t.Errorf("dialled %d times through the given dialer, want 1", dials)
	}
}

// sinkFunc is a Sink that hands each row to a function.
type sinkFunc func([]any)

func (sinkFunc) Columns([]connect.Column) error { return nil }
func (f sinkFunc) Row(v []any) error {
	f(v)
	return nil
}

// TestServiceEnvironment: pgconn always reads the service PGSERVICE names;
// a gateway started with one fails cleanly instead of using it.
func TestServiceEnvironment(t *testing.T) {
	t.Setenv("PGSERVICE", "env_service")
	t.Setenv("PGSERVICEFILE", filepath.Join(t.TempDir(), "missing.conf"))
	_, err := poolConfig(&Settings{host: "h", port: 1, database: "d", user: "u"}, (&net.Dialer{}).DialContext, 1, 0)
	if code := querygate.ErrorCode(err); code != connect.ECONFIG {
		t.Errorf("poolConfig error = %v, want %s", err, connect.ECONFIG)
	}
}

package query

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/schema"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// schemaConn is a hand-written connector with a schema reader.
type schemaConn struct {
	fakeConn
	sc    *schema.Schema
	err   error
	block bool // wait for ctx
	lim   schema.Limits
	calls int
}

var _ connect.SchemaReader = (*schemaConn)(nil)

func (c *schemaConn) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	c.calls++
	c.lim = lim
	if c.block {
		<-ctx.Done()
		return nil, connect.ContextError(ctx)
	}
	return c.sc, c.err
}

// schemaFixture is the query service on a real store and audit log, its
// PostgreSQL kind opening conn, with a datasource owned by "owner" (its
// password "pw-secret") and a device-custody one.
type schemaFixture struct {
	svc       *Service
	log       *audit.Log
	logs      *bytes.Buffer
	d, device *datasource.Datasource
	conn      connect.Connector
}

func newSchemaFixture(t *testing.T, conn connect.Connector, limits Limits, schemaLimits schema.Limits) *schemaFixture {
	t.Helper()
	st, inst := mustStore(t)
	kinds := fakePostgres(func(connect.Config) (connect.Connector, error) { return conn, nil })
	ds := datasource.NewService(datasource.ServiceOptions{Kinds: kinds, Store: st, Envelope: inst.Envelope})
	log := audit.New(audit.Options{Store: st, Key: seal.GenerateKey()})
	t.Cleanup(log.Close)
	f := &schemaFixture{log: log, logs: &bytes.Buffer{}, conn: conn}
	f.svc = NewService(Options{Datasources: ds, Audit: log, Kinds: kinds, Limits: limits, SchemaLimits: schemaLimits,
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil))})
	t.Cleanup(f.svc.Close)
	in := func(name, custody string) datasource.CreateInput {
		return datasource.CreateInput{Name: name, Kind: "postgres", Custody: custody,
			Settings: map[string]json.RawMessage{"host": json.RawMessage(`"127.0.0.1"`), "database": json.RawMessage(`"d"`), "user": json.RawMessage(`"u"`)},
			Secrets:  map[string]json.RawMessage{"password": json.RawMessage(`"pw-secret"`)}}
	}
	var err error
	if f.d, err = ds.Create(t.Context(), "owner", in("r", "")); err != nil {
		t.Fatal(err)
	}
	dev := in("dev", datasource.CustodyDevice)
	dev.Secrets = map[string]json.RawMessage{}
	if f.device, err = ds.Create(t.Context(), "owner", dev); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *schemaFixture) events(t *testing.T) []*store.AuditEvent {
	t.Helper()
	evs, err := f.log.List(context.Background(), store.AuditFilter{Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// The schema use case authorizes like a query (use grant; a datasource
// the actor may not see is not found; a device-custody one needs its
// device key) and records exactly one audit event for success and for
// every refusal, counting tables and columns, naming none.
func TestSchemaUseCase(t *testing.T) {
	const canary = "schema_canary_col"
	rows := int64(3)
	conn := &schemaConn{fakeConn: fakeConn{errAt: -1}, sc: &schema.Schema{Schemas: []schema.Namespace{{Name: "public", Tables: []schema.Table{
		{Name: "t_" + canary, Kind: schema.KindTable, RowsEstimate: &rows, Columns: []schema.Column{{Name: canary, Type: "int4"}, {Name: "b", Type: "text"}}}}}}}}
	f := newSchemaFixture(t, conn, Limits{}, schema.Limits{MaxColumns: 77})

	for _, tc := range []struct {
		name  string
		actor accounts.Actor
		dsID  string
		code  string
	}{
		{"owner", actor("owner", accounts.RoleEditor), f.d.ID, ""},
		{"admin", actor("admin", accounts.RoleAdmin), f.d.ID, ""},
		{"stranger", actor("stranger", accounts.RoleEditor), f.d.ID, querygate.ENOTFOUND},
		{"viewer", actor("viewer", accounts.RoleViewer), f.d.ID, querygate.ENOTFOUND},
		{"no such datasource", actor("owner", accounts.RoleEditor), "dsnope", querygate.ENOTFOUND},
		{"nobody", accounts.Actor{}, f.d.ID, querygate.EUNAUTHORIZED},
		{"device custody, locked", actor("owner", accounts.RoleEditor), f.device.ID, querygate.EDEVICELOCKED},
	} {
		before := len(f.events(t))
		calls := conn.calls
		sc, err := f.svc.Schema(t.Context(), tc.actor, tc.dsID, func(string) string { return "" })
		if querygate.ErrorCode(err) != tc.code && !(tc.code == "" && err == nil) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.code)
		}
		evs := f.events(t)[before:]
		if len(evs) != 1 {
			t.Fatalf("%s: %d audit events, want 1", tc.name, len(evs))
		}
		ev := evs[0]
		wantOutcome := audit.OK
		if tc.code != "" {
			wantOutcome = tc.code
		}
		if ev.Action != audit.SchemaRead || ev.Outcome != wantOutcome {
			t.Errorf("%s: event %s %s, want %s %s", tc.name, ev.Action, ev.Outcome, audit.SchemaRead, wantOutcome)
		}
		if tc.code != "" {
			if sc != nil || conn.calls != calls {
				t.Errorf("%s: refused, yet the schema was read (%v, %d reads)", tc.name, sc, conn.calls-calls)
			}
			continue
		}
		if sc == nil || len(sc.Schemas) != 1 || conn.lim.MaxColumns != 77 || conn.lim.MaxTables != schema.DefaultMaxTables {
			t.Errorf("%s: %+v read with limits %+v", tc.name, sc, conn.lim)
		}
		var d map[string]any
		json.Unmarshal([]byte(ev.Details), &d)
		if ev.DatasourceID != f.d.ID || d["kind"] != "postgres" || d["tables"] != 1.0 || d["columns"] != 2.0 || d["truncated"] != false {
			t.Errorf("%s: event %s details %s", tc.name, ev.DatasourceID, ev.Details)
		}
	}
	raw, _ := json.Marshal(f.events(t))
	if strings.Contains(string(raw), canary) || strings.Contains(f.logs.String(), canary) {
		t.Errorf("a name of the schema reached the audit trail or the log")
	}
	if n := strings.Count(f.logs.String(), `"msg":"schema"`); n != 7 {
		t.Errorf("%d log lines, want one per call:\n%s", n, f.logs)
	}
}

// A reader's error goes through the secret shield like a query's, and
// the default timeout ends a read that hangs.
func TestSchemaErrors(t *testing.T) {
	owner := actor("owner", accounts.RoleEditor)
	conn := &schemaConn{fakeConn: fakeConn{errAt: -1},
		err: querygate.Errorf(querygate.EQUERY, `password authentication failed: "pw-secret"`)}
	f := newSchemaFixture(t, conn, Limits{}, schema.Limits{})
	_, err := f.svc.Schema(t.Context(), owner, f.d.ID, nil)
	if querygate.ErrorCode(err) != querygate.EQUERY || strings.Contains(err.Error(), "pw-secret") {
		t.Fatalf("got %v, want a query error without the secret", err)
	}

	slow := &schemaConn{fakeConn: fakeConn{errAt: -1}, block: true}
	f = newSchemaFixture(t, slow, Limits{DefaultTimeout: 50 * time.Millisecond}, schema.Limits{})
	start := time.Now()
	if _, err := f.svc.Schema(t.Context(), owner, f.d.ID, nil); querygate.ErrorCode(err) != querygate.ETIMEOUT {
		t.Fatalf("got %v, want %s", err, querygate.ETIMEOUT)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the read took %v", d)
	}
	if evs := f.events(t); len(evs) != 1 || evs[0].Outcome != querygate.ETIMEOUT {
		t.Fatalf("events %+v, want one timeout", evs)
	}

	// A connector without a reader answers an empty schema, not an error.
	plain := &fakeConn{errAt: -1}
	f = newSchemaFixture(t, plain, Limits{}, schema.Limits{})
	sc, err := f.svc.Schema(t.Context(), owner, f.d.ID, nil)
	if err != nil || sc == nil || sc.Schemas == nil || len(sc.Schemas) != 0 || sc.Truncated {
		t.Fatalf("got %+v %v, want an empty schema", sc, err)
	}
	if b, _ := json.Marshal(sc); string(b) != `{"schemas":[],"truncated":false}` {
		t.Fatalf("empty schema encodes as %s", b)
	}
}

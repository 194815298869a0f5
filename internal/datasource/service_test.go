package datasource_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// canary is part of every secret value in these tests; it must never show
// up anywhere but in OpenSecrets.
const canary = "CANARY-7f3a9c"

const pemText = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
const pemKey = "-----BEGIN PRIVATE KEY-----\nMIIE" + canary + "\n-----END PRIVATE KEY-----\n"

// testEnv is a real catalogue: a SQLite store and instance keys in a
// temporary directory.
type testEnv struct {
	svc *datasource.Service
	db  *sqlite.DB
	dir string
}

// MustService opens a store and an instance (creating its key) and returns
// the catalogue on top of them.
func MustService(tb testing.TB) *testEnv {
	tb.Helper()
	ctx := tb.Context()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "querygate.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	inst, err := instance.Open(ctx, db, instance.Options{KeyFile: filepath.Join(dir, "master.key"), CreateKey: true})
	if err != nil {
		tb.Fatalf("instance.Open: %v", err)
	}
	return &testEnv{svc: datasource.NewService(datasource.ServiceOptions{Kinds: allKinds, Store: db, Envelope: inst.Envelope}), db: db, dir: dir}
}

// MustCreate creates a datasource or fails the test.
func (e *testEnv) MustCreate(tb testing.TB, in datasource.CreateInput) *datasource.Datasource {
	tb.Helper()
	d, err := e.svc.Create(tb.Context(), "u1", in)
	if err != nil {
		tb.Fatalf("Create(%s %s): %v", in.Kind, in.Name, err)
	}
	return d
}

// MustOpenSecrets returns the revealed secret values of a datasource, header
// maps flattened as name.header.
func (e *testEnv) MustOpenSecrets(tb testing.TB, id string) map[string]string {
	tb.Helper()
	s, err := e.svc.OpenSecrets(tb.Context(), id)
	if err != nil {
		tb.Fatalf("OpenSecrets(%s): %v", id, err)
	}
	out := map[string]string{}
	for _, n := range s.Names() {
		if v, ok := s.Get(n); ok {
			out[n] = v.Reveal()
			continue
		}
		for h, v := range s.Headers(n) {
			out[n+"."+h] = v.Reveal()
		}
	}
	return out
}

// rows returns every stored datasource row.
func (e *testEnv) rows(tb testing.TB) []*store.Datasource {
	tb.Helper()
	var rows []*store.Datasource
	if err := e.db.View(tb.Context(), func(tx store.Tx) (err error) { rows, err = tx.ListDatasources(tb.Context()); return err }); err != nil {
		tb.Fatalf("ListDatasources: %v", err)
	}
	return rows
}

func (e *testEnv) row(tb testing.TB, id string) *store.Datasource {
	tb.Helper()
	var row *store.Datasource
	if err := e.db.View(tb.Context(), func(tx store.Tx) (err error) { row, err = tx.FindDatasource(tb.Context(), id); return err }); err != nil {
		tb.Fatalf("FindDatasource: %v", err)
	}
	return row
}

// rawFiles returns the bytes of the store's files.
func (e *testEnv) rawFiles(tb testing.TB) []byte {
	tb.Helper()
	var all []byte
	for _, f := range e.db.Files() {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			tb.Fatalf("read %s: %v", f, err)
		}
		all = append(all, b...)
	}
	return all
}

// wantErr fails unless err is a *querygate.Error with that code and (when
// not empty) field.
func wantErr(tb testing.TB, err error, code, field string) *querygate.Error {
	tb.Helper()
	var qe *querygate.Error
	if !errors.As(err, &qe) {
		tb.Fatalf("err = %v (%T), want a *querygate.Error with code %q", err, err, code)
	}
	if qe.Code != code || (field != "" && qe.Field != field) {
		tb.Fatalf("error = code %q field %q (%v), want code %q field %q", qe.Code, qe.Field, err, code, field)
	}
	return qe
}

// raw marshals each value to JSON; a json.RawMessage is kept as it is.
func raw(tb testing.TB, m map[string]any) map[string]json.RawMessage {
	tb.Helper()
	if m == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		if r, ok := v.(json.RawMessage); ok {
			out[k] = r
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatalf("marshal %s: %v", k, err)
		}
		out[k] = b
	}
	return out
}

// valid returns valid settings and secrets for a kind, using every field.
func valid(kind string) (settings, secrets map[string]any) {
	switch kind {
	case datasource.KindPostgres, datasource.KindMySQL:
		tls := "sslmode"
		if kind == datasource.KindMySQL {
			tls = "tls"
		}
		return map[string]any{"host": "db.example.com", "port": 6543, "database": "app", "user": "app_ro", tls: "verify-ca", "ca_cert": pemText, "client_cert": pemText},
			map[string]any{"password": "pw-" + canary, "client_key": pemKey}
	case datasource.KindSQLite:
		return map[string]any{"path": "/var/lib/app/data.db"}, nil
	case datasource.KindRedis:
		return map[string]any{"host": "10.0.0.7", "port": 6380, "db": 3, "username": "app", "tls": "require", "ca_cert": pemText, "client_cert": pemText, "allow_admin": false, "schema_scan": false},
			map[string]any{"password": "pw-" + canary, "client_key": pemKey}
	case datasource.KindHTTP:
		return map[string]any{"base_url": "https://api.example.com/v1/", "headers": map[string]string{"Accept": "application/json"}, "timeout_ms": 5000,
				"ca_cert": pemText, "insecure_skip_verify": false, "basic_user": "bob", "api_key_name": "X-Api-Key", "api_key_in": "query"},
			map[string]any{"bearer_token": "bt-" + canary, "basic_password": "bp-" + canary, "api_key": "ak-" + canary,
				"secret_headers": map[string]string{"X-Token": "xt-" + canary}}
	}
	panic("no valid input for kind " + kind)
}

// minimal returns only the required settings of a kind.
func minimal(kind string) map[string]any {
	switch kind {
	case datasource.KindPostgres, datasource.KindMySQL:
		return map[string]any{"host": "db.example.com", "database": "app", "user": "app"}
	case datasource.KindSQLite:
		return map[string]any{"path": "/data/app.db"}
	case datasource.KindRedis:
		return map[string]any{"host": "redis.internal"}
	case datasource.KindHTTP:
		return map[string]any{"base_url": "https://api.example.com"}
	}
	panic("no minimal input for kind " + kind)
}

// normalise turns a settings map built in a test into the form the
// catalogue returns (numbers as int64, header maps as map[string]string).
func normalise(tb testing.TB, m map[string]any) map[string]any {
	tb.Helper()
	out := map[string]any{}
	for k, v := range m {
		switch v := v.(type) {
		case int:
			out[k] = int64(v)
		default:
			out[k] = v
		}
	}
	return out
}

func TestCreate(t *testing.T) {
	e := MustService(t)
	for _, k := range allKinds.All() {
		t.Run(k.Name, func(t *testing.T) {
			settings, secrets := valid(k.Name)
			in := datasource.CreateInput{Name: "full " + k.Name, Kind: k.Name, ReadOnly: true, Settings: raw(t, settings), Secrets: raw(t, secrets)}
			d := e.MustCreate(t, in)
			if !strings.HasPrefix(d.ID, "ds") || d.Name != in.Name || d.Kind != k.Name || d.Custody != datasource.CustodyServer || !d.ReadOnly || d.OwnerID != "u1" {
				t.Errorf("Create = %+v, want id ds..., name %q, kind %s, server custody, read-only, owner u1", d, in.Name, k.Name)
			}
			if want := normalise(t, settings); !reflect.DeepEqual(d.Settings, want) {
				t.Errorf("Settings = %#v, want %#v", d.Settings, want)
			}
			if want := slices.Sorted(maps.Keys(secrets)); !slices.Equal(d.SecretNames, want) {
				t.Errorf("SecretNames = %q, want %q", d.SecretNames, want)
			}
			found, err := e.svc.Find(t.Context(), d.ID)
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if found.ID != d.ID || found.Name != d.Name || !reflect.DeepEqual(found.Settings, d.Settings) || !slices.Equal(found.SecretNames, d.SecretNames) {
				t.Errorf("Find = %+v, want %+v", found, d)
			}
			got := e.MustOpenSecrets(t, d.ID)
			want := map[string]string{}
			for n, v := range secrets {
				if h, ok := v.(map[string]string); ok {
					for hk, hv := range h {
						want[n+"."+hk] = hv
					}
					continue
				}
				want[n] = v.(string)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("OpenSecrets = %q, want %q", got, want)
			}
		})
	}
}

func TestCreateDefaults(t *testing.T) {
	e := MustService(t)
	tests := []struct {
		kind string
		want map[string]any // on top of minimal(kind)
	}{
		{datasource.KindPostgres, map[string]any{"port": int64(5432), "sslmode": "verify-full"}},
		{datasource.KindMySQL, map[string]any{"port": int64(3306), "tls": "verify-full"}},
		{datasource.KindSQLite, map[string]any{}},
		{datasource.KindRedis, map[string]any{"port": int64(6379), "db": int64(0), "tls": "disable", "allow_admin": false, "schema_scan": false}},
		{datasource.KindHTTP, map[string]any{"timeout_ms": int64(30000), "insecure_skip_verify": false, "api_key_in": "header"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			d := e.MustCreate(t, datasource.CreateInput{Name: "min " + tt.kind, Kind: tt.kind, Settings: raw(t, minimal(tt.kind))})
			want := normalise(t, minimal(tt.kind))
			for k, v := range tt.want {
				want[k] = v
			}
			for _, got := range []map[string]any{d.Settings, mustFind(t, e, d.ID).Settings} {
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Settings = %#v, want %#v", got, want)
				}
			}
			if len(d.SecretNames) != 0 || d.Custody != datasource.CustodyServer || d.ReadOnly {
				t.Errorf("Create = %+v, want no secrets, server custody, not read-only", d)
			}
			if row := e.row(t, d.ID); row.Secrets != nil {
				t.Errorf("stored blob = %x, want nil without secrets", row.Secrets)
			}
			if got := e.MustOpenSecrets(t, d.ID); len(got) != 0 {
				t.Errorf("OpenSecrets = %q, want none", got)
			}
		})
	}
}

func mustFind(tb testing.TB, e *testEnv, id string) *datasource.Datasource {
	tb.Helper()
	d, err := e.svc.Find(tb.Context(), id)
	if err != nil {
		tb.Fatalf("Find(%s): %v", id, err)
	}
	return d
}

func TestCreateDeviceCustody(t *testing.T) {
	e := MustService(t)
	d := e.MustCreate(t, datasource.CreateInput{Name: "pg device", Kind: datasource.KindPostgres, Custody: datasource.CustodyDevice,
		Settings: raw(t, minimal(datasource.KindPostgres)), Secrets: raw(t, map[string]any{"client_key": pemKey})})
	if d.Custody != datasource.CustodyDevice || !slices.Equal(d.SecretNames, []string{"client_key"}) {
		t.Errorf("Create = %+v, want device custody with only client_key", d)
	}
}

// TestSecretNamesWithoutOpening reads the catalogue through a service whose
// key cannot open any secret: Find, List and settings-only updates must
// still work, since they never open the sealed blob.
func TestSecretNamesWithoutOpening(t *testing.T) {
	e := MustService(t)
	settings, secrets := valid(datasource.KindHTTP)
	d := e.MustCreate(t, datasource.CreateInput{Name: "api", Kind: datasource.KindHTTP, Settings: raw(t, settings), Secrets: raw(t, secrets)})

	ring, err := seal.NewKeyRing(seal.GenerateKeyID(), seal.GenerateKey())
	if err != nil {
		t.Fatalf("NewKeyRing: %v", err)
	}
	env, err := seal.NewEnvelope(seal.EnvelopeOptions{Ring: ring, Salt: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatalf("NewEnvelope: %v", err)
	}
	blind := datasource.NewService(datasource.ServiceOptions{Kinds: allKinds, Store: e.db, Envelope: env})
	want := []string{"api_key", "basic_password", "bearer_token", "secret_headers"}

	found, err := blind.Find(t.Context(), d.ID)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if !slices.Equal(found.SecretNames, want) {
		t.Errorf("Find: SecretNames = %q, want %q", found.SecretNames, want)
	}
	list, err := blind.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || !slices.Equal(list[0].SecretNames, want) {
		t.Errorf("List = %+v, want one datasource with secrets %q", list, want)
	}
	before := e.row(t, d.ID)
	if _, err := blind.Update(t.Context(), d.ID, datasource.UpdateInput{Settings: raw(t, map[string]any{"timeout_ms": 1000})}); err != nil {
		t.Fatalf("settings-only Update: %v", err)
	}
	if after := e.row(t, d.ID); !bytes.Equal(after.Secrets, before.Secrets) {
		t.Errorf("settings-only Update changed the sealed blob")
	}
	if _, err := blind.OpenSecrets(t.Context(), d.ID); err == nil {
		t.Errorf("OpenSecrets with the wrong key: got nil error, want one")
	}
	if _, err := blind.Update(t.Context(), d.ID, datasource.UpdateInput{Secrets: raw(t, map[string]any{"api_key": "new"})}); err == nil {
		t.Errorf("secrets Update with the wrong key: got nil error, want one")
	}
	if after := e.row(t, d.ID); !bytes.Equal(after.Secrets, before.Secrets) {
		t.Errorf("failed secrets Update changed the sealed blob")
	}
	if got := e.MustOpenSecrets(t, d.ID); got["api_key"] != "ak-"+canary {
		t.Errorf("api_key = %q after a failed update, want the original", got["api_key"])
	}
}

func TestSecretsBoundToDatasource(t *testing.T) {
	e := MustService(t)
	settings, secrets := valid(datasource.KindPostgres)
	a := e.MustCreate(t, datasource.CreateInput{Name: "a", Kind: datasource.KindPostgres, Settings: raw(t, settings), Secrets: raw(t, secrets)})
	b := e.MustCreate(t, datasource.CreateInput{Name: "b", Kind: datasource.KindPostgres, Settings: raw(t, settings), Secrets: raw(t, map[string]any{"password": "other"})})
	blob := e.row(t, a.ID).Secrets
	if err := e.db.Update(t.Context(), func(tx store.Tx) error { return tx.SetDatasourceSecrets(t.Context(), b.ID, blob) }); err != nil {
		t.Fatalf("SetDatasourceSecrets: %v", err)
	}
	if s, err := e.svc.OpenSecrets(t.Context(), b.ID); err == nil {
		t.Errorf("OpenSecrets of a blob moved from another datasource = %v, want an error", s.Names())
	}
}

func TestNoSecretLeaks(t *testing.T) {
	e := MustService(t)
	var ids []string
	for _, k := range allKinds.All() {
		settings, secrets := valid(k.Name)
		ids = append(ids, e.MustCreate(t, datasource.CreateInput{Name: k.Name, Kind: k.Name, Settings: raw(t, settings), Secrets: raw(t, secrets)}).ID)
	}
	list, err := e.svc.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != len(ids) {
		t.Fatalf("List returned %d datasources, want %d", len(list), len(ids))
	}
	var all []*datasource.Datasource
	for _, id := range ids {
		all = append(all, mustFind(t, e, id))
	}
	all = append(all, list...)
	for _, d := range all {
		t.Run(d.Kind+"/"+d.ID, func(t *testing.T) {
			text := fmt.Sprintf("%v %+v %#v", d, d, d)
			if strings.Contains(text, canary) {
				t.Errorf("fmt of a Datasource reveals a secret: %s", text)
			}
			j, err := json.Marshal(d)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if bytes.Contains(j, []byte(canary)) {
				t.Errorf("JSON of a Datasource reveals a secret: %s", j)
			}
		})
	}
	t.Run("store files", func(t *testing.T) {
		if bytes.Contains(e.rawFiles(t), []byte(canary)) {
			t.Errorf("the store files hold a secret in clear")
		}
	})
}

// TestSecretsRedacted prints opened secrets every way a careless caller
// might. The values are passed as any, as they would reach fmt through an
// interface, so that vet lets every verb through.
func TestSecretsRedacted(t *testing.T) {
	e := MustService(t)
	settings, secrets := valid(datasource.KindHTTP)
	d := e.MustCreate(t, datasource.CreateInput{Name: "api", Kind: datasource.KindHTTP, Settings: raw(t, settings), Secrets: raw(t, secrets)})
	s, err := e.svc.OpenSecrets(t.Context(), d.ID)
	if err != nil {
		t.Fatalf("OpenSecrets: %v", err)
	}
	if v, ok := s.Get("bearer_token"); !ok || v.Reveal() != "bt-"+canary {
		t.Fatalf("Get(bearer_token) = %v, %v; want the value", ok, v.Reveal() == "bt-"+canary)
	}
	if h := s.Headers("secret_headers"); h["X-Token"].Reveal() != "xt-"+canary {
		t.Fatalf("Headers(secret_headers) does not hold the value")
	}
	var arg any = s
	var wrapped any = struct{ S datasource.Secrets }{s}
	bt, _ := s.Get("bearer_token")
	var secret any = bt
	var headers any = s.Headers("secret_headers")
	tests := []struct {
		name    string
		format  func() string
		anyText bool
	}{
		{"%v", func() string { return fmt.Sprintf("%v", arg) }, false},
		{"%+v", func() string { return fmt.Sprintf("%+v", arg) }, false},
		{"%#v", func() string { return fmt.Sprintf("%#v", arg) }, false},
		{"%s", func() string { return fmt.Sprintf("%s", arg) }, false},
		{"%q", func() string { return fmt.Sprintf("%q", arg) }, false},
		{"%x", func() string { return fmt.Sprintf("%x", arg) }, true},
		{"%d", func() string { return fmt.Sprintf("%d", arg) }, true},
		{"Sprint", func() string { return fmt.Sprint(arg) }, false},
		{"Println", func() string { return fmt.Sprintln(arg) }, false},
		{"in a struct %+v", func() string { return fmt.Sprintf("%+v", wrapped) }, false},
		{"in a struct %#v", func() string { return fmt.Sprintf("%#v", wrapped) }, false},
		{"in a struct %d", func() string { return fmt.Sprintf("%d", wrapped) }, true},
		{"one secret %v %+v %#v %s", func() string { return fmt.Sprintf("%v %+v %#v %s", secret, secret, secret, secret) }, false},
		{"headers %v %+v %#v", func() string { return fmt.Sprintf("%v %+v %#v", headers, headers, headers) }, false},
		{"one secret %d %x %t", func() string { return fmt.Sprintf("%d %x %t", secret, secret, secret) }, true},
		{"headers %d", func() string { return fmt.Sprintf("%d", headers) }, true},
		{"json", func() string { b, err := json.Marshal(s); return string(b) + fmt.Sprint(err) }, false},
		{"json in a struct", func() string { b, err := json.Marshal(wrapped); return string(b) + fmt.Sprint(err) }, false},
		{"json headers", func() string { b, err := json.Marshal(headers); return string(b) + fmt.Sprint(err) }, false},
		{"slog text", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secrets", s, "wrapped", wrapped, "token", bt, "headers", headers)
			return buf.String()
		}, false},
		{"slog json", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secrets", s, "wrapped", wrapped, "token", bt, "headers", headers)
			return buf.String()
		}, false},
		{"slog group", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", slog.Group("ds", "secrets", s))
			return buf.String()
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.format()
			if strings.Contains(got, canary) || strings.Contains(got, hexOf(canary)) {
				t.Errorf("%s reveals a secret: %s", tt.name, got)
			}
			// Verbs that fmt does not route to String (%d) or that encode
			// it (%x) need not say REDACTED; they must only not leak.
			if !tt.anyText && !strings.Contains(got, "REDACTED") {
				t.Errorf("%s = %s, want REDACTED", tt.name, got)
			}
		})
	}
}

func hexOf(s string) string { return fmt.Sprintf("%x", s) }

func TestFindListDelete(t *testing.T) {
	e := MustService(t)
	ctx := t.Context()
	for _, name := range []string{"zeta", "alpha", "mid"} {
		e.MustCreate(t, datasource.CreateInput{Name: name, Kind: datasource.KindSQLite, Settings: raw(t, minimal(datasource.KindSQLite))})
	}
	list, err := e.svc.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, d := range list {
		names = append(names, d.Name)
	}
	if want := []string{"alpha", "mid", "zeta"}; !slices.Equal(names, want) {
		t.Errorf("List names = %q, want %q", names, want)
	}
	id := list[0].ID
	if err := e.svc.Delete(ctx, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	tests := []struct {
		name string
		fn   func() error
	}{
		{"Find", func() error { _, err := e.svc.Find(ctx, id); return err }},
		{"OpenSecrets", func() error { _, err := e.svc.OpenSecrets(ctx, id); return err }},
		{"Update", func() error {
			n := "x"
			_, err := e.svc.Update(ctx, id, datasource.UpdateInput{Name: &n})
			return err
		}},
		{"Delete", func() error { return e.svc.Delete(ctx, id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" after delete", func(t *testing.T) {
			wantErr(t, tt.fn(), querygate.ENOTFOUND, "")
		})
	}
	if got := len(e.rows(t)); got != 2 {
		t.Errorf("rows = %d, want 2", got)
	}
}

func TestCreateConflict(t *testing.T) {
	e := MustService(t)
	e.MustCreate(t, datasource.CreateInput{Name: "billing", Kind: datasource.KindSQLite, Settings: raw(t, minimal(datasource.KindSQLite))})
	settings, secrets := valid(datasource.KindPostgres)
	_, err := e.svc.Create(t.Context(), "u2", datasource.CreateInput{Name: "billing", Kind: datasource.KindPostgres, Settings: raw(t, settings), Secrets: raw(t, secrets)})
	wantErr(t, err, querygate.ECONFLICT, "name")
	if rows := e.rows(t); len(rows) != 1 || rows[0].Kind != datasource.KindSQLite {
		t.Errorf("rows after conflict = %+v, want only the first", rows)
	}
}

// TestInsecure: the settings the API and the pages flag as insecure are
// the insecure options turned on, a TLS mode of disable (everything in
// clear) and credentials sent to a plain http URL.
func TestInsecure(t *testing.T) {
	e := MustService(t)
	tests := []struct {
		name     string
		kind     string
		settings map[string]any
		secrets  map[string]any
		want     []string
	}{
		{"https", datasource.KindHTTP, nil, nil, nil},
		{"skip verify", datasource.KindHTTP, map[string]any{"insecure_skip_verify": true}, nil, []string{"insecure_skip_verify"}},
		{"plain http without credential", datasource.KindHTTP, map[string]any{"base_url": "http://api.example.com"}, nil, nil},
		{"plain http with token", datasource.KindHTTP, map[string]any{"base_url": "http://api.example.com"},
			map[string]any{"bearer_token": "t"}, []string{"base_url"}},
		{"plain http with secret header", datasource.KindHTTP, map[string]any{"base_url": "HTTP://api.example.com"},
			map[string]any{"secret_headers": map[string]string{"X-Token": "t"}}, []string{"base_url"}},
		{"https with token", datasource.KindHTTP, nil, map[string]any{"bearer_token": "t"}, nil},
		{"postgres verify-full", datasource.KindPostgres, nil, nil, nil},
		{"postgres disable", datasource.KindPostgres, map[string]any{"sslmode": "disable"}, nil, []string{"sslmode"}},
		{"postgres require", datasource.KindPostgres, map[string]any{"sslmode": "require"}, nil, nil},
		{"mysql disable", datasource.KindMySQL, map[string]any{"tls": "disable"}, nil, []string{"tls"}},
		{"redis default", datasource.KindRedis, nil, nil, []string{"tls"}},
		{"redis verify-full", datasource.KindRedis, map[string]any{"tls": "verify-full"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings := minimal(tt.kind)
			maps.Copy(settings, tt.settings)
			d := e.MustCreate(t, datasource.CreateInput{Name: tt.name, Kind: tt.kind, Settings: raw(t, settings), Secrets: raw(t, tt.secrets)})
			k, _ := allKinds.Find(d.Kind)
			if got := k.Insecure(d.Settings, d.SecretNames); !slices.Equal(got, tt.want) {
				t.Errorf("Insecure() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEveryUpdateIsANewVersion: UpdatedAt is the version pools are checked
// against on every replica; updates made in one millisecond (a script, or
// a fast store) must still each give a later version, or a pool opened
// with the old settings and secrets would live on.
func TestEveryUpdateIsANewVersion(t *testing.T) {
	e := MustService(t)
	d := e.MustCreate(t, datasource.CreateInput{Name: "v", Kind: datasource.KindPostgres, Settings: raw(t, minimal(datasource.KindPostgres))})
	prev := d.UpdatedAt
	for i := range 20 {
		name := fmt.Sprintf("v%d", i)
		got, err := e.svc.Update(t.Context(), d.ID, datasource.UpdateInput{Name: &name})
		if err != nil {
			t.Fatal(err)
		}
		if !got.UpdatedAt.After(prev) {
			t.Fatalf("update %d: version %v, not after %v", i, got.UpdatedAt, prev)
		}
		prev = got.UpdatedAt
	}
}

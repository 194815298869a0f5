package datasource_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/store"
)

func ptr[T any](v T) *T { return &v }

// TestUpdate applies one partial update to a fresh datasource built from
// valid() and checks the settings, secret names, opened secrets and sealed
// blob that result.
func TestUpdate(t *testing.T) {
	type edit = map[string]any
	httpSecrets := map[string]string{
		"api_key": "ak-" + canary, "basic_password": "bp-" + canary, "bearer_token": "bt-" + canary, "secret_headers.X-Token": "xt-" + canary,
	}
	with := func(base map[string]string, edits map[string]any) map[string]string {
		out := maps.Clone(base)
		for k, v := range edits {
			if v == del {
				delete(out, k)
			} else {
				out[k] = v.(string)
			}
		}
		return out
	}
	tests := []struct {
		name         string
		kind         string
		in           func(t *testing.T) datasource.UpdateInput
		wantSettings edit // changes to valid(kind) settings
		wantSecrets  map[string]string
		wantNames    []string
		blobSame     bool // the sealed blob must be untouched
		// createSecrets edits valid(kind) secrets at creation.
		createSecrets edit
	}{
		{
			name: "rename and settings keep secrets", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Name: ptr("renamed"), ReadOnly: ptr(true), Settings: raw(t, edit{"timeout_ms": 1000})}
			},
			wantSettings: edit{"timeout_ms": 1000},
			wantSecrets:  httpSecrets,
			wantNames:    []string{"api_key", "basic_password", "bearer_token", "secret_headers"},
			blobSame:     true,
		},
		{
			name: "empty secrets object keeps them", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Secrets: map[string]json.RawMessage{}}
			},
			wantSecrets: httpSecrets,
			wantNames:   []string{"api_key", "basic_password", "bearer_token", "secret_headers"},
			blobSame:    true,
		},
		{
			name: "same kind and custody accepted", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Kind: ptr(datasource.KindHTTP), Custody: ptr(datasource.CustodyServer)}
			},
			wantSecrets: httpSecrets,
			wantNames:   []string{"api_key", "basic_password", "bearer_token", "secret_headers"},
			blobSame:    true,
		},
		{
			name: "a value replaces only that secret", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Secrets: raw(t, edit{"bearer_token": "new-" + canary})}
			},
			wantSecrets: with(httpSecrets, edit{"bearer_token": "new-" + canary}),
			wantNames:   []string{"api_key", "basic_password", "bearer_token", "secret_headers"},
		},
		{
			name: "a header map replaces the whole map", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Secrets: raw(t, edit{"secret_headers": map[string]string{"X-Other": "o-" + canary}})}
			},
			wantSecrets: with(httpSecrets, edit{"secret_headers.X-Token": del, "secret_headers.X-Other": "o-" + canary}),
			wantNames:   []string{"api_key", "basic_password", "bearer_token", "secret_headers"},
		},
		{
			name: "null clears one secret", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Secrets: raw(t, edit{"api_key": nil})}
			},
			wantSecrets: with(httpSecrets, edit{"api_key": del}),
			wantNames:   []string{"basic_password", "bearer_token", "secret_headers"},
		},
		{
			name: "null and a value together", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Secrets: raw(t, edit{"basic_password": nil, "api_key": "ak2-" + canary}), Settings: raw(t, edit{"basic_user": nil})}
			},
			wantSettings: edit{"basic_user": del},
			wantSecrets:  with(httpSecrets, edit{"basic_password": del, "api_key": "ak2-" + canary}),
			wantNames:    []string{"api_key", "bearer_token", "secret_headers"},
		},
		{
			name: "null clears every secret", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Secrets: raw(t, edit{"api_key": nil, "basic_password": nil, "bearer_token": nil, "secret_headers": nil})}
			},
			wantSecrets: map[string]string{},
			wantNames:   nil,
		},
		{
			name: "null for a secret never set", kind: datasource.KindPostgres,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Secrets: raw(t, edit{"client_key": nil})}
			},
			wantSecrets: map[string]string{"password": "pw-" + canary},
			wantNames:   []string{"password"},
		},
		{
			name: "settings null resets to default", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"timeout_ms": nil, "headers": nil})}
			},
			wantSettings: edit{"timeout_ms": 30000, "headers": del},
			wantSecrets:  httpSecrets,
			wantNames:    []string{"api_key", "basic_password", "bearer_token", "secret_headers"},
			blobSame:     true,
		},
		{
			name: "guarded settings null reset with every secret sent again", kind: datasource.KindPostgres,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"port": nil, "sslmode": nil, "ca_cert": nil}),
					Secrets: raw(t, edit{"password": "pw2-" + canary, "client_key": pemKey})}
			},
			wantSettings: edit{"port": 5432, "sslmode": "verify-full", "ca_cert": del},
			wantSecrets:  map[string]string{"password": "pw2-" + canary, "client_key": pemKey},
			wantNames:    []string{"client_key", "password"},
		},
		{
			name: "settings merge over stored ones", kind: datasource.KindPostgres,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"database": "reports", "user": "reporter"})}
			},
			wantSettings: edit{"database": "reports", "user": "reporter"},
			wantSecrets:  map[string]string{"password": "pw-" + canary, "client_key": pemKey},
			wantNames:    []string{"client_key", "password"},
			blobSame:     true,
		},
		{
			name: "guarded settings set to their current values", kind: datasource.KindPostgres,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"host": "db.example.com", "port": 6543, "sslmode": "verify-ca", "ca_cert": pemText})}
			},
			wantSecrets: map[string]string{"password": "pw-" + canary, "client_key": pemKey},
			wantNames:   []string{"client_key", "password"},
			blobSame:    true,
		},
		{
			name: "host change with every secret sent again", kind: datasource.KindRedis,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"host": "redis2.internal"}), Secrets: raw(t, edit{"password": "pw-" + canary, "client_key": pemKey})}
			},
			wantSettings: edit{"host": "redis2.internal"},
			wantSecrets:  map[string]string{"password": "pw-" + canary, "client_key": pemKey},
			wantNames:    []string{"client_key", "password"},
		},
		{
			name: "base_url change clearing every secret", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"base_url": "https://other.example.com/", "basic_user": nil}),
					Secrets: raw(t, edit{"api_key": nil, "basic_password": nil, "bearer_token": nil, "secret_headers": nil})}
			},
			wantSettings: edit{"base_url": "https://other.example.com/", "basic_user": del},
			wantSecrets:  map[string]string{},
			wantNames:    nil,
		},
		{
			name: "base_url change sending some secrets and clearing the rest", kind: datasource.KindHTTP,
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"base_url": "https://other.example.com/", "insecure_skip_verify": true}),
					Secrets: raw(t, edit{"api_key": "ak3-" + canary, "basic_password": "bp-" + canary, "bearer_token": nil, "secret_headers": nil})}
			},
			wantSettings: edit{"base_url": "https://other.example.com/", "insecure_skip_verify": true},
			wantSecrets:  map[string]string{"api_key": "ak3-" + canary, "basic_password": "bp-" + canary},
			wantNames:    []string{"api_key", "basic_password"},
		},
		{
			name: "host change without stored secrets", kind: datasource.KindMySQL, createSecrets: edit{"password": del, "client_key": del},
			in: func(t *testing.T) datasource.UpdateInput {
				return datasource.UpdateInput{Settings: raw(t, edit{"host": "db2.example.com", "port": 3307, "tls": "disable"})}
			},
			wantSettings: edit{"host": "db2.example.com", "port": 3307, "tls": "disable"},
			wantSecrets:  map[string]string{},
			wantNames:    nil,
			blobSame:     true,
		},
	}
	e := MustService(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings, secrets := valid(tt.kind)
			d := e.MustCreate(t, datasource.CreateInput{Name: tt.name, Kind: tt.kind, Settings: raw(t, settings), Secrets: raw(t, apply(secrets, tt.createSecrets))})
			before := e.row(t, d.ID)

			got, err := e.svc.Update(t.Context(), d.ID, tt.in(t))
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			found := mustFind(t, e, d.ID)
			wantSettings := normalise(t, apply(settings, tt.wantSettings))
			for _, g := range []*datasource.Datasource{got, found} {
				if !reflect.DeepEqual(g.Settings, wantSettings) {
					t.Errorf("Settings = %#v, want %#v", g.Settings, wantSettings)
				}
				if !slices.Equal(g.SecretNames, tt.wantNames) {
					t.Errorf("SecretNames = %q, want %q", g.SecretNames, tt.wantNames)
				}
				if g.Kind != tt.kind || g.Custody != datasource.CustodyServer || !g.CreatedAt.Equal(found.CreatedAt) {
					t.Errorf("Update changed kind, custody or creation: %+v", g)
				}
			}
			if gotSecrets := e.MustOpenSecrets(t, d.ID); !reflect.DeepEqual(gotSecrets, tt.wantSecrets) {
				t.Errorf("OpenSecrets = %q, want %q", gotSecrets, tt.wantSecrets)
			}
			after := e.row(t, d.ID)
			switch {
			case tt.blobSame && !bytes.Equal(after.Secrets, before.Secrets):
				t.Errorf("sealed blob changed; want it untouched")
			case !tt.blobSame && bytes.Equal(after.Secrets, before.Secrets):
				t.Errorf("sealed blob unchanged; want it resealed")
			case len(tt.wantNames) == 0 && after.Secrets != nil:
				t.Errorf("sealed blob = %x with no secret left, want nil", after.Secrets)
			}
			if bytes.Contains(after.Settings, []byte(canary)) {
				t.Errorf("stored settings hold a secret: %s", after.Settings)
			}
		})
	}
}

// TestUpdateRefused checks that refused updates return the right error and
// leave the whole store unchanged.
func TestUpdateRefused(t *testing.T) {
	e := MustService(t)
	settings, secrets := valid(datasource.KindHTTP)
	api := e.MustCreate(t, datasource.CreateInput{Name: "api", Kind: datasource.KindHTTP, Settings: raw(t, settings), Secrets: raw(t, secrets)})
	pgSettings, pgSecrets := valid(datasource.KindPostgres)
	pg := e.MustCreate(t, datasource.CreateInput{Name: "pg", Kind: datasource.KindPostgres, Settings: raw(t, pgSettings), Secrets: raw(t, pgSecrets)})
	dev := e.MustCreate(t, datasource.CreateInput{Name: "pg device", Kind: datasource.KindPostgres, Custody: datasource.CustodyDevice, Settings: raw(t, minimal(datasource.KindPostgres))})
	bare := e.MustCreate(t, datasource.CreateInput{Name: "api bare", Kind: datasource.KindHTTP, Settings: raw(t, minimal(datasource.KindHTTP))})
	before := e.rows(t)

	type edit = map[string]any
	tests := []struct {
		name      string
		id        string
		in        func(t *testing.T) datasource.UpdateInput
		wantCode  string
		wantField string
	}{
		{"kind change", pg.ID, func(*testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Kind: ptr(datasource.KindMySQL)}
		},
			querygate.EINVALID, "kind"},
		{"custody change to device", pg.ID, func(*testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Custody: ptr(datasource.CustodyDevice)}
		}, querygate.EINVALID, "custody"},
		{"custody change to server", dev.ID, func(*testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Custody: ptr(datasource.CustodyServer)}
		}, querygate.EINVALID, "custody"},
		{"rename to a taken name", pg.ID, func(*testing.T) datasource.UpdateInput { return datasource.UpdateInput{Name: ptr("api")} },
			querygate.ECONFLICT, "name"},
		{"rename with settings to a taken name", api.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Name: ptr("pg"), Settings: raw(t, edit{"timeout_ms": 1000}), Secrets: raw(t, edit{"api_key": "x"})}
		}, querygate.ECONFLICT, "name"},
		{"empty name", pg.ID, func(*testing.T) datasource.UpdateInput { return datasource.UpdateInput{Name: ptr("")} },
			querygate.EINVALID, "name"},
		{"bad port", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Name: ptr("pg2"), Settings: raw(t, edit{"port": 0})}
		}, querygate.EINVALID, "settings.port"},
		{"required setting null", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"host": nil})}
		}, querygate.EINVALID, "settings.host"},
		{"unknown setting", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"base_url": "https://x"})}
		}, querygate.EINVALID, "settings.base_url"},
		{"secret in settings", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"password": "p-" + canary})}
		}, querygate.EINVALID, "settings.password"},
		{"secret null in settings", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"password": nil})}
		}, querygate.EINVALID, "settings.password"},
		{"setting in secrets", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Secrets: raw(t, edit{"host": "db"})}
		}, querygate.EINVALID, "secrets.host"},
		{"empty secret", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Secrets: raw(t, edit{"password": ""})}
		}, querygate.EINVALID, "secrets.password"},
		{"bad secret after a good one", api.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Secrets: raw(t, edit{"api_key": "new", "bearer_token": 5})}
		}, querygate.EINVALID, "secrets.bearer_token"},
		{"clear basic_user while basic_password is set", api.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"basic_user": nil})}
		}, querygate.EINVALID, "settings.basic_user"},
		{"clear api_key_name while api_key is set", api.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"api_key_name": nil}), Secrets: raw(t, edit{"api_key": "ak-" + canary, "basic_password": nil, "bearer_token": nil, "secret_headers": nil})}
		}, querygate.EINVALID, "settings.api_key_name"},
		{"move the API key between query and header without resending it", api.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"api_key_in": "header"})}
		}, querygate.EINVALID, "secrets.api_key"},
		{"add basic_password without basic_user", bare.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Secrets: raw(t, edit{"basic_password": "bp-" + canary})}
		}, querygate.EINVALID, "settings.basic_user"},
		// Settings that decide where or how secrets are sent need every
		// stored secret sent again (or cleared) in the same update.
		{"host change without the secrets", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"host": "evil.example.com"})}
		}, querygate.EINVALID, "secrets.client_key"},
		{"host change with only some secrets", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"host": "evil.example.com"}), Secrets: raw(t, edit{"client_key": nil})}
		}, querygate.EINVALID, "secrets.password"},
		{"port change", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"port": 5432})}
		}, querygate.EINVALID, "secrets.client_key"},
		{"port reset to default", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"port": nil})}
		}, querygate.EINVALID, "secrets.client_key"},
		{"sslmode disable", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"sslmode": "disable"})}
		}, querygate.EINVALID, "secrets.client_key"},
		{"ca_cert cleared", pg.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"ca_cert": nil})}
		}, querygate.EINVALID, "secrets.client_key"},
		{"base_url change", api.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"base_url": "https://evil.example.com/v1/"})}
		}, querygate.EINVALID, "secrets.api_key"},
		{"insecure_skip_verify on", api.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Settings: raw(t, edit{"insecure_skip_verify": true})}
		}, querygate.EINVALID, "secrets.api_key"},
		{"device custody password", dev.ID, func(t *testing.T) datasource.UpdateInput {
			return datasource.UpdateInput{Secrets: raw(t, edit{"password": "p-" + canary})}
		}, querygate.EINVALID, "secrets.password"},
		{"unknown id", "dsnope", func(*testing.T) datasource.UpdateInput { return datasource.UpdateInput{Name: ptr("x")} },
			querygate.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.svc.Update(t.Context(), tt.id, tt.in(t))
			if d != nil {
				t.Errorf("Update returned %+v with an error", d)
			}
			qe := wantErr(t, err, tt.wantCode, tt.wantField)
			if bytesContains(err.Error(), canary) || bytesContains(qe.Message, canary) {
				t.Errorf("error %q echoes a secret", err)
			}
			after := e.rows(t)
			if got, want := len(after), len(before); got != want {
				t.Fatalf("rows = %d, want %d", got, want)
			}
			if !reflect.DeepEqual(after, before) {
				t.Errorf("the store changed after a refused update:\n got %+v\nwant %+v", rowsByName(after), rowsByName(before))
			}
		})
	}
	t.Run("device custody may set other secrets", func(t *testing.T) {
		d, err := e.svc.Update(t.Context(), dev.ID, datasource.UpdateInput{Secrets: raw(t, edit{"client_key": pemKey})})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if !slices.Equal(d.SecretNames, []string{"client_key"}) {
			t.Errorf("SecretNames = %q, want [client_key]", d.SecretNames)
		}
	})
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

func rowsByName(rows []*store.Datasource) map[string]store.Datasource {
	out := map[string]store.Datasource{}
	for _, r := range rows {
		out[r.Name] = *r
	}
	return out
}

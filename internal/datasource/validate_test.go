package datasource_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/datasource"
)

// del in an edit removes the key.
type deleteKey struct{}

var del = deleteKey{}

// apply returns base with the edits made.
func apply(base, edits map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range edits {
		if v == del {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func manyHeaders(n int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h[fmt.Sprintf("X-H%d", i)] = "v"
	}
	return h
}

func TestCreateValidation(t *testing.T) {
	const (
		pg, my, lite, redis, api = datasource.KindPostgres, datasource.KindMySQL, datasource.KindSQLite, datasource.KindRedis, datasource.KindHTTP
	)
	long := strings.Repeat("a", 1025)
	longSecret := strings.Repeat(canary, 64<<10/len(canary)+1)
	longPEM := "-----BEGIN CERTIFICATE-----\n" + strings.Repeat("A", 64<<10) + "\n-----END CERTIFICATE-----\n"
	type edit = map[string]any
	tests := []struct {
		name      string
		kind      string
		dsName    string // default "new datasource"
		custody   string
		settings  edit
		secrets   edit
		wantField string
	}{
		// Kind and custody.
		{name: "unknown kind", kind: "oracle", wantField: "kind"},
		{name: "empty kind", kind: "", wantField: "kind"},
		{name: "kind in capitals", kind: "Postgres", wantField: "kind"},
		{name: "custody other", kind: pg, custody: "other", wantField: "custody"},
		{name: "custody in capitals", kind: pg, custody: "Server", wantField: "custody"},
		{name: "custody with space", kind: pg, custody: " server", wantField: "custody"},

		// Names.
		{name: "empty name", kind: pg, dsName: "-", wantField: "name"},
		{name: "blank name", kind: pg, dsName: "   ", wantField: "name"},
		{name: "name with tab", kind: pg, dsName: "a\tb", wantField: "name"},
		{name: "name with NUL", kind: pg, dsName: "a\x00b", wantField: "name"},
		{name: "name with DEL", kind: pg, dsName: "a\x7fb", wantField: "name"},
		{name: "name with C1 control", kind: pg, dsName: "a\u0085b", wantField: "name"},
		{name: "name with newline", kind: pg, dsName: "billing\nprod", wantField: "name"},
		{name: "name not UTF-8", kind: pg, dsName: "a\xffb", wantField: "name"},
		{name: "name with leading space", kind: pg, dsName: " billing", wantField: "name"},
		{name: "name with trailing space", kind: pg, dsName: "billing ", wantField: "name"},
		{name: "name too long", kind: pg, dsName: strings.Repeat("n", 101), wantField: "name"},

		// Fields in the wrong place.
		{name: "unknown setting", kind: pg, settings: edit{"hostname": "db"}, wantField: "settings.hostname"},
		{name: "unknown secret", kind: pg, secrets: edit{"token": "t-" + canary}, wantField: "secrets.token"},
		{name: "another kind's setting", kind: lite, settings: edit{"host": "db"}, wantField: "settings.host"},
		{name: "secret sent in settings", kind: pg, settings: edit{"password": "pw-" + canary}, wantField: "settings.password"},
		{name: "secret key sent in settings", kind: redis, settings: edit{"client_key": pemKey}, wantField: "settings.client_key"},
		{name: "secret headers sent in settings", kind: api, settings: edit{"secret_headers": map[string]string{"X-T": canary}}, wantField: "settings.secret_headers"},
		{name: "setting sent in secrets", kind: pg, secrets: edit{"host": "db"}, wantField: "secrets.host"},
		{name: "headers sent in secrets", kind: api, secrets: edit{"headers": map[string]string{"A": "b"}}, wantField: "secrets.headers"},
		{name: "secret for a kind without secrets", kind: lite, secrets: edit{"password": canary}, wantField: "secrets.password"},

		// Required fields.
		{name: "missing host", kind: pg, settings: edit{"host": del}, wantField: "settings.host"},
		{name: "null host", kind: my, settings: edit{"host": nil}, wantField: "settings.host"},
		{name: "missing database", kind: pg, settings: edit{"database": del}, wantField: "settings.database"},
		{name: "missing user", kind: my, settings: edit{"user": del}, wantField: "settings.user"},
		{name: "missing redis host", kind: redis, settings: edit{"host": del}, wantField: "settings.host"},
		{name: "missing path", kind: lite, settings: edit{"path": del}, wantField: "settings.path"},
		{name: "missing base_url", kind: api, settings: edit{"base_url": del}, wantField: "settings.base_url"},

		// Ports and integers.
		{name: "port 0", kind: pg, settings: edit{"port": 0}, wantField: "settings.port"},
		{name: "port 65536", kind: pg, settings: edit{"port": 65536}, wantField: "settings.port"},
		{name: "port negative", kind: my, settings: edit{"port": -1}, wantField: "settings.port"},
		{name: "port as string", kind: pg, settings: edit{"port": "5432"}, wantField: "settings.port"},
		{name: "port fractional", kind: pg, settings: edit{"port": 5.5}, wantField: "settings.port"},
		{name: "port as 5432.0", kind: my, settings: edit{"port": json.RawMessage(`5432.0`)}, wantField: "settings.port"},
		{name: "port exponent", kind: pg, settings: edit{"port": json.RawMessage(`5.432e3`)}, wantField: "settings.port"},
		{name: "port huge", kind: redis, settings: edit{"port": json.RawMessage(`99999999999999999999999`)}, wantField: "settings.port"},
		{name: "port bool", kind: redis, settings: edit{"port": true}, wantField: "settings.port"},
		{name: "port with trailing data", kind: pg, settings: edit{"port": json.RawMessage(`5432 5433`)}, wantField: "settings.port"},
		{name: "redis db 16", kind: redis, settings: edit{"db": 16}, wantField: "settings.db"},
		{name: "redis db negative", kind: redis, settings: edit{"db": -1}, wantField: "settings.db"},
		{name: "redis db as string", kind: redis, settings: edit{"db": "3"}, wantField: "settings.db"},
		{name: "timeout too short", kind: api, settings: edit{"timeout_ms": 99}, wantField: "settings.timeout_ms"},
		{name: "timeout too long", kind: api, settings: edit{"timeout_ms": 600001}, wantField: "settings.timeout_ms"},

		// Hosts.
		{name: "host with space", kind: pg, settings: edit{"host": "db host"}, wantField: "settings.host"},
		{name: "host with control character", kind: pg, settings: edit{"host": "db\x01host"}, wantField: "settings.host"},
		{name: "host with newline", kind: redis, settings: edit{"host": "db\nhost"}, wantField: "settings.host"},
		{name: "host with port", kind: pg, settings: edit{"host": "host:5432"}, wantField: "settings.host"},
		{name: "host as URL", kind: pg, settings: edit{"host": "http://x"}, wantField: "settings.host"},
		{name: "host empty", kind: pg, settings: edit{"host": ""}, wantField: "settings.host"},
		{name: "host with leading hyphen", kind: my, settings: edit{"host": "-db.example.com"}, wantField: "settings.host"},
		{name: "host with empty label", kind: my, settings: edit{"host": "db..example.com"}, wantField: "settings.host"},
		{name: "host in brackets", kind: redis, settings: edit{"host": "[::1]"}, wantField: "settings.host"},
		{name: "host with slash", kind: redis, settings: edit{"host": "db/x"}, wantField: "settings.host"},
		{name: "host label too long", kind: pg, settings: edit{"host": strings.Repeat("a", 64) + ".example.com"}, wantField: "settings.host"},
		{name: "host too long", kind: pg, settings: edit{"host": strings.Repeat("a.", 127) + "a"}, wantField: "settings.host"},
		{name: "host as number", kind: pg, settings: edit{"host": 10}, wantField: "settings.host"},

		// Strings.
		{name: "database too long", kind: pg, settings: edit{"database": long}, wantField: "settings.database"},
		{name: "user too long", kind: my, settings: edit{"user": long}, wantField: "settings.user"},
		{name: "database with newline", kind: pg, settings: edit{"database": "app\n"}, wantField: "settings.database"},
		{name: "user with DEL", kind: pg, settings: edit{"user": "app\x7f"}, wantField: "settings.user"},
		{name: "database empty", kind: pg, settings: edit{"database": ""}, wantField: "settings.database"},
		{name: "database as number", kind: pg, settings: edit{"database": 5}, wantField: "settings.database"},
		{name: "database as object", kind: pg, settings: edit{"database": map[string]string{"a": "b"}}, wantField: "settings.database"},
		{name: "password too long", kind: pg, secrets: edit{"password": longSecret}, wantField: "secrets.password"},
		{name: "PEM too long", kind: pg, settings: edit{"ca_cert": longPEM}, wantField: "settings.ca_cert"},
		{name: "PEM not PEM", kind: redis, settings: edit{"ca_cert": "hello"}, wantField: "settings.ca_cert"},
		{name: "PEM key not PEM", kind: pg, secrets: edit{"client_key": "key-" + canary}, wantField: "secrets.client_key"},
		{name: "PEM with NUL", kind: pg, settings: edit{"client_cert": pemText + "\x00"}, wantField: "settings.client_cert"},
		{name: "path relative", kind: lite, settings: edit{"path": "data.db"}, wantField: "settings.path"},
		{name: "path dot relative", kind: lite, settings: edit{"path": "./data.db"}, wantField: "settings.path"},
		{name: "path home", kind: lite, settings: edit{"path": "~/data.db"}, wantField: "settings.path"},
		{name: "path empty", kind: lite, settings: edit{"path": ""}, wantField: "settings.path"},
		{name: "bool as string", kind: api, settings: edit{"insecure_skip_verify": "true"}, wantField: "settings.insecure_skip_verify"},
		{name: "bool as number", kind: api, settings: edit{"insecure_skip_verify": 1}, wantField: "settings.insecure_skip_verify"},

		// Enums.
		{name: "sslmode unknown", kind: pg, settings: edit{"sslmode": "prefer"}, wantField: "settings.sslmode"},
		{name: "sslmode in capitals", kind: pg, settings: edit{"sslmode": "VERIFY-FULL"}, wantField: "settings.sslmode"},
		{name: "sslmode empty", kind: pg, settings: edit{"sslmode": ""}, wantField: "settings.sslmode"},
		{name: "mysql tls unknown", kind: my, settings: edit{"tls": "preferred"}, wantField: "settings.tls"},
		{name: "redis tls verify-ca", kind: redis, settings: edit{"tls": "verify-ca"}, wantField: "settings.tls"},
		{name: "api key in body", kind: api, settings: edit{"api_key_in": "body"}, wantField: "settings.api_key_in"},

		// Base URLs.
		{name: "base_url with user and password", kind: api, settings: edit{"base_url": "https://u:" + canary + "@api.example.com/"}, wantField: "settings.base_url"},
		{name: "base_url with user", kind: api, settings: edit{"base_url": "https://" + canary + "@api.example.com/"}, wantField: "settings.base_url"},
		{name: "base_url ftp", kind: api, settings: edit{"base_url": "ftp://api.example.com/"}, wantField: "settings.base_url"},
		{name: "base_url javascript", kind: api, settings: edit{"base_url": "javascript:alert(1)"}, wantField: "settings.base_url"},
		{name: "base_url file", kind: api, settings: edit{"base_url": "file:///etc/passwd"}, wantField: "settings.base_url"},
		{name: "base_url without scheme", kind: api, settings: edit{"base_url": "api.example.com/v1"}, wantField: "settings.base_url"},
		{name: "base_url scheme-relative", kind: api, settings: edit{"base_url": "//api.example.com/v1"}, wantField: "settings.base_url"},
		{name: "base_url with fragment", kind: api, settings: edit{"base_url": "https://api.example.com/v1#x"}, wantField: "settings.base_url"},
		{name: "base_url with empty fragment", kind: api, settings: edit{"base_url": "https://api.example.com/v1#"}, wantField: "settings.base_url"},
		{name: "base_url with query", kind: api, settings: edit{"base_url": "https://api.example.com/v1?key=" + canary}, wantField: "settings.base_url"},
		{name: "base_url without host", kind: api, settings: edit{"base_url": "https://"}, wantField: "settings.base_url"},
		{name: "base_url with bad host", kind: api, settings: edit{"base_url": "https://bad host/"}, wantField: "settings.base_url"},
		{name: "base_url with port 0", kind: api, settings: edit{"base_url": "https://api.example.com:0/"}, wantField: "settings.base_url"},
		{name: "base_url with port 99999", kind: api, settings: edit{"base_url": "https://api.example.com:99999/"}, wantField: "settings.base_url"},
		{name: "base_url with newline", kind: api, settings: edit{"base_url": "https://api.example.com/\n"}, wantField: "settings.base_url"},
		{name: "base_url too long", kind: api, settings: edit{"base_url": "https://api.example.com/" + long}, wantField: "settings.base_url"},

		// Header maps.
		{name: "header value with CRLF", kind: api, settings: edit{"headers": map[string]string{"X-A": "a\r\nX-Injected: 1"}}, wantField: "settings.headers"},
		{name: "header value with LF", kind: api, settings: edit{"headers": map[string]string{"X-A": "a\nb"}}, wantField: "settings.headers"},
		{name: "header value with NUL", kind: api, settings: edit{"headers": map[string]string{"X-A": "a\x00b"}}, wantField: "settings.headers"},
		{name: "header value too long", kind: api, settings: edit{"headers": map[string]string{"X-A": long}}, wantField: "settings.headers"},
		{name: "header value not a string", kind: api, settings: edit{"headers": map[string]any{"X-A": 1}}, wantField: "settings.headers"},
		{name: "header name with space", kind: api, settings: edit{"headers": map[string]string{"Bad Name": "x"}}, wantField: "settings.headers"},
		{name: "header name empty", kind: api, settings: edit{"headers": map[string]string{"": "x"}}, wantField: "settings.headers"},
		{name: "header name with colon", kind: api, settings: edit{"headers": map[string]string{"X:Y": "x"}}, wantField: "settings.headers"},
		{name: "header name with CRLF", kind: api, settings: edit{"headers": map[string]string{"X\r\nY": "x"}}, wantField: "settings.headers"},
		{name: "header name too long", kind: api, settings: edit{"headers": map[string]string{strings.Repeat("X", 129): "x"}}, wantField: "settings.headers"},
		{name: "too many headers", kind: api, settings: edit{"headers": manyHeaders(65)}, wantField: "settings.headers"},
		{name: "headers as array", kind: api, settings: edit{"headers": []string{"X-A: b"}}, wantField: "settings.headers"},
		{name: "headers as string", kind: api, settings: edit{"headers": "X-A: b"}, wantField: "settings.headers"},
		{name: "secret header value with CRLF", kind: api, secrets: edit{"secret_headers": map[string]string{"X-T": canary + "\r\nX-Injected: 1"}}, wantField: "secrets.secret_headers"},
		{name: "secret header bad name", kind: api, secrets: edit{"secret_headers": map[string]string{"X T": canary}}, wantField: "secrets.secret_headers"},
		{name: "secret headers as string", kind: api, secrets: edit{"secret_headers": canary}, wantField: "secrets.secret_headers"},

		// Secret values.
		{name: "empty password", kind: pg, secrets: edit{"password": ""}, wantField: "secrets.password"},
		{name: "empty bearer token", kind: api, secrets: edit{"bearer_token": ""}, wantField: "secrets.bearer_token"},
		{name: "password as number", kind: redis, secrets: edit{"password": 123456}, wantField: "secrets.password"},
		{name: "password as object", kind: pg, secrets: edit{"password": map[string]string{"v": canary}}, wantField: "secrets.password"},
		{name: "password with control character", kind: pg, secrets: edit{"password": canary + "\x01"}, wantField: "secrets.password"},

		// Rules across fields.
		{name: "basic_password without basic_user", kind: api, settings: edit{"basic_user": del}, wantField: "settings.basic_user"},
		{name: "basic_password with null basic_user", kind: api, settings: edit{"basic_user": nil}, wantField: "settings.basic_user"},
		{name: "api_key without api_key_name", kind: api, settings: edit{"api_key_name": del}, wantField: "settings.api_key_name"},

		// Device custody keeps the password off the server.
		{name: "device custody with password", kind: pg, custody: datasource.CustodyDevice, wantField: "secrets.password"},
		{name: "device custody mysql password", kind: my, custody: datasource.CustodyDevice, secrets: edit{"client_key": del}, wantField: "secrets.password"},
		{name: "device custody redis password", kind: redis, custody: datasource.CustodyDevice, wantField: "secrets.password"},
		{name: "device custody bearer token", kind: api, custody: datasource.CustodyDevice, wantField: "secrets.bearer_token"},
	}

	e := MustService(t)
	settings, secrets := valid(datasource.KindHTTP)
	e.MustCreate(t, datasource.CreateInput{Name: "existing", Kind: datasource.KindHTTP, Settings: raw(t, settings), Secrets: raw(t, secrets)})
	before := e.rows(t)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := datasource.CreateInput{Name: "new datasource", Kind: tt.kind, Custody: tt.custody}
			switch tt.dsName {
			case "":
			case "-":
				in.Name = ""
			default:
				in.Name = tt.dsName
			}
			if k, ok := allKinds.Find(tt.kind); ok {
				settings, secrets := valid(k.Name)
				in.Settings = raw(t, apply(settings, tt.settings))
				in.Secrets = raw(t, apply(secrets, tt.secrets))
			} else {
				in.Settings = raw(t, minimal(datasource.KindPostgres))
			}
			d, err := e.svc.Create(t.Context(), "u1", in)
			if d != nil {
				t.Errorf("Create returned %+v with an error", d)
			}
			qe := wantErr(t, err, querygate.EINVALID, tt.wantField)
			if !strings.HasPrefix(qe.Message, tt.wantField+":") {
				t.Errorf("message %q does not start with the field %q", qe.Message, tt.wantField)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(qe.Message, canary) {
				t.Errorf("error %q echoes a secret", err)
			}
			if len(qe.Message) > 300 {
				t.Errorf("message is %d bytes long; it must not echo the input", len(qe.Message))
			}
			after := e.rows(t)
			if got, want := len(after), len(before); got != want {
				t.Fatalf("rows after a refused create = %d, want %d", got, want)
			}
			if !reflect.DeepEqual(after, before) {
				t.Errorf("the store changed after a refused create")
			}
		})
	}
}

// TestCreateValidBoundaries checks the values just inside each limit.
func TestCreateValidBoundaries(t *testing.T) {
	type edit = map[string]any
	tests := []struct {
		name     string
		kind     string
		dsName   string
		settings edit
		secrets  edit
	}{
		{name: "port 1", kind: datasource.KindPostgres, settings: edit{"port": 1}},
		{name: "port 65535", kind: datasource.KindPostgres, settings: edit{"port": 65535}},
		{name: "IPv6 host", kind: datasource.KindRedis, settings: edit{"host": "::1"}},
		{name: "host with trailing dot", kind: datasource.KindPostgres, settings: edit{"host": "db.example.com."}},
		{name: "name of 100 bytes", kind: datasource.KindSQLite, dsName: strings.Repeat("n", 100)},
		{name: "name with inner spaces and unicode", kind: datasource.KindSQLite, dsName: "Données de prod — EU"},
		{name: "database of 1024 bytes", kind: datasource.KindPostgres, settings: edit{"database": strings.Repeat("d", 1024)}},
		{name: "redis db 15", kind: datasource.KindRedis, settings: edit{"db": 15}},
		{name: "http base_url with port", kind: datasource.KindHTTP, settings: edit{"base_url": "http://127.0.0.1:8080"}},
		{name: "64 headers", kind: datasource.KindHTTP, settings: edit{"headers": manyHeaders(64)}},
		{name: "device custody without password", kind: datasource.KindHTTP, secrets: edit{"bearer_token": del}},
		{name: "null secret on create", kind: datasource.KindPostgres, secrets: edit{"password": nil}},
		{name: "path is cleaned", kind: datasource.KindSQLite, settings: edit{"path": "/data/../data/./app.db"}},
	}
	e := MustService(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings, secrets := valid(tt.kind)
			in := datasource.CreateInput{Name: tt.name, Kind: tt.kind, Settings: raw(t, apply(settings, tt.settings)), Secrets: raw(t, apply(secrets, tt.secrets))}
			if tt.dsName != "" {
				in.Name = tt.dsName
			}
			if tt.name == "device custody without password" {
				in.Custody = datasource.CustodyDevice
			}
			d := e.MustCreate(t, in)
			if tt.name == "path is cleaned" && d.Settings["path"] != "/data/app.db" {
				t.Errorf("path = %v, want /data/app.db", d.Settings["path"])
			}
			if tt.name == "null secret on create" && len(d.SecretNames) != 1 {
				t.Errorf("SecretNames = %q, want only client_key", d.SecretNames)
			}
		})
	}
}

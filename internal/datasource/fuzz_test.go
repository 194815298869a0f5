package datasource_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/datasource"
)

// FuzzCreateInput feeds arbitrary JSON objects as settings and secrets to
// Create for every kind. Create must never panic, and must either succeed
// or refuse with an EINVALID error naming a field; a success must keep
// secrets out of the settings. The corpus is seeded from
// testdata/fuzz/FuzzCreateInput and the f.Add calls below.
//
// One service serves every input (opening a store and keys per input would
// make the fuzzer crawl); each datasource created is deleted again.
func FuzzCreateInput(f *testing.F) {
	seeds := []struct {
		name, custody     string
		settings, secrets string
	}{
		{"pg", "", `{"host":"db.example.com","database":"app","user":"app"}`, `{"password":"pw"}`},
		{"pg device", "device", `{"host":"10.0.0.1","port":5433,"database":"app","user":"app","sslmode":"disable"}`, `{"password":"pw"}`},
		{"sqlite", "server", `{"path":"/data/app.db"}`, `{}`},
		{"redis", "", `{"host":"::1","db":15,"tls":"verify-full"}`, `{"password":null}`},
		{"http", "", `{"base_url":"https://api.example.com/v1/","headers":{"Accept":"*/*"},"basic_user":"bob"}`,
			`{"basic_password":"x","secret_headers":{"X-Token":"t"}}`},
		{"bad port", "", `{"host":"db","database":"d","user":"u","port":"5432"}`, `null`},
		{"wrong place", "", `{"password":"x","host":"db"}`, `{"host":"db","headers":{}}`},
		{"", "other", `{}`, `{}`},
		{"nested", "", `{"headers":{"a":{"b":1}},"base_url":["x"]}`, `{"secret_headers":[1,2]}`},
	}
	for _, s := range seeds {
		f.Add(s.name, s.custody, []byte(s.settings), []byte(s.secrets))
	}

	e := MustService(f)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, name, custody string, settingsJSON, secretsJSON []byte) {
		var settings, secrets map[string]json.RawMessage
		if json.Unmarshal(settingsJSON, &settings) != nil || json.Unmarshal(secretsJSON, &secrets) != nil {
			return
		}
		for _, k := range allKinds.All() {
			// A unique prefix keeps names from colliding across inputs
			// while still fuzzing the name's validation.
			in := datasource.CreateInput{Name: fmt.Sprintf("f%d %s", n.Add(1), name), Kind: k.Name, Custody: custody, Settings: settings, Secrets: secrets}
			if name == "" {
				in.Name = ""
			}
			d, err := e.svc.Create(t.Context(), "u1", in)
			if err != nil {
				if d != nil {
					t.Fatalf("Create returned %+v with error %v", d, err)
				}
				var qe *querygate.Error
				if !errors.As(err, &qe) || qe.Code != querygate.EINVALID || qe.Field == "" {
					t.Fatalf("Create(%s): err = %v, want EINVALID with a field", k.Name, err)
				}
				continue
			}
			for name := range d.Settings {
				if fd, ok := k.Field(name); !ok || fd.Secret {
					t.Errorf("Create(%s) kept setting %q, which is not a plain setting of the kind", k.Name, name)
				}
			}
			for _, name := range d.SecretNames {
				if fd, ok := k.Field(name); !ok || !fd.Secret {
					t.Errorf("Create(%s) kept secret %q, which is not a secret of the kind", k.Name, name)
				}
				if _, ok := secrets[name]; !ok {
					t.Errorf("Create(%s) has secret %q that was not given", k.Name, name)
				}
			}
			opened, err := e.svc.OpenSecrets(t.Context(), d.ID)
			if err != nil {
				t.Fatalf("OpenSecrets: %v", err)
			}
			if !slices.Equal(opened.Names(), d.SecretNames) {
				t.Errorf("OpenSecrets names = %q, want %q", opened.Names(), d.SecretNames)
			}
			if err := e.svc.Delete(t.Context(), d.ID); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
	})
}

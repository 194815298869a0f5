package connect_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/build"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/connect/sqlite"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/seal"
)

// TestConnectorsStandAlone: a connector gets its settings decoded and
// typed (connect.Config.Settings), never the catalogue's datasource, so
// that neither it nor package connect imports the domain packages.
func TestConnectorsStandAlone(t *testing.T) {
	forbidden := []string{"internal/datasource", "internal/accounts", "internal/instance", "internal/store"}
	for _, dir := range []string{".", "postgres", "mysql", "sqlite", "redis", "httpapi"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range pkg.Imports {
			for _, f := range forbidden {
				if strings.HasSuffix(imp, "/"+f) {
					t.Errorf("connect/%s imports %s", filepath.Clean(dir), imp)
				}
			}
		}
	}
}

// secrets are test secrets.
type secrets map[string]string

func (s secrets) Get(name string) (seal.Secret, bool) {
	v, ok := s[name]
	return seal.NewSecret(v), ok
}

func (s secrets) Headers(name string) map[string]seal.Secret { return nil }

// TestSettingsRedacted: the typed settings of every kind hold its
// secrets, and print, log and marshal as REDACTED.
func TestSettingsRedacted(t *testing.T) {
	const canary = "CANARY-settings-91c3"
	for _, tt := range []struct {
		k        *kind.Kind
		settings map[string]any
		secret   string
	}{
		{postgres.Kind(), map[string]any{"host": "db.example", "database": "d", "user": "u", "sslmode": "disable"}, "password"},
		{mysql.Kind(), map[string]any{"host": "db.example", "database": "d", "user": "u", "tls": "disable"}, "password"},
		{redis.Kind(), map[string]any{"host": "db.example"}, "password"},
		{httpapi.Kind(), map[string]any{"base_url": "https://api.example/"}, "bearer_token"},
		{sqlite.Kind(), map[string]any{"path": "/data/x.db"}, ""},
	} {
		t.Run(tt.k.Name, func(t *testing.T) {
			s, err := tt.k.Decode(tt.settings, secrets{tt.secret: canary})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var logged bytes.Buffer
			slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "settings", s)
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "settings", s)
			j, _ := json.Marshal(s)
			for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), logged.String(), string(j)} {
				if strings.Contains(out, canary) {
					t.Errorf("settings shown with the secret: %s", out)
				}
			}
		})
	}
}

// TestSettingsOfAnotherKind: a connector refuses settings it did not
// decode (another kind's, or none) with ECONFIG, never a panic.
func TestSettingsOfAnotherKind(t *testing.T) {
	dial := (&net.Dialer{}).DialContext
	other, err := sqlite.Kind().Decode(map[string]any{"path": "/x.db"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := redis.Kind().Decode(map[string]any{"host": "h"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*kind.Kind{postgres.Kind(), mysql.Kind(), redis.Kind(), httpapi.Kind(), sqlite.Kind()} {
		wrong := other
		if k.Name == sqlite.Name {
			wrong = mine
		}
		for _, settings := range []any{nil, wrong, map[string]any{"host": "h"}} {
			_, err := k.Open(connect.Config{Settings: settings, Dial: dial, SQLiteDirs: []string{"/"}})
			if code := querygate.ErrorCode(err); code != connect.ECONFIG {
				t.Errorf("%s: Open(%T) = %v, want %s", k.Name, settings, err, connect.ECONFIG)
			}
		}
	}
}

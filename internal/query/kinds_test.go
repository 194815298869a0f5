package query

import (
	"path/filepath"
	"testing"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/connect/sqlite"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/kind"
	sqlitestore "github.com/querygate/querygate/internal/store/sqlite"
)

// allKinds are the gateway's kinds, as main lists them, for the
// catalogue of the tests.
var allKinds = kind.NewRegistry(postgres.Kind(), mysql.Kind(), sqlite.Kind(), redis.Kind(), httpapi.Kind())

// fakePostgres returns the registry of the query service under test: the
// PostgreSQL kind whose Open is open (a hand-written connector) and whose
// Decode hands open the opened password, so that a test sees which
// secret reached the connector.
func fakePostgres(open func(connect.Config) (connect.Connector, error)) *kind.Registry {
	k := postgres.Kind()
	k.Decode = func(_ map[string]any, secrets connect.Secrets) (any, error) {
		pw, _ := secrets.Get("password")
		return pw, nil
	}
	k.Open = open
	return kind.NewRegistry(k)
}

// mustStore opens a SQLite metadata store and an instance (its key made)
// in a temporary directory, both closed when the test ends.
func mustStore(t *testing.T) (*sqlitestore.DB, *instance.Instance) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(dir, "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	inst, err := instance.Open(t.Context(), st, instance.Options{KeyFile: filepath.Join(dir, "master.key"), CreateKey: true})
	if err != nil {
		t.Fatal(err)
	}
	return st, inst
}

package datasource_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/connect/sqlite"
	"github.com/querygate/querygate/internal/kind"
)

var update = flag.Bool("update", false, "rewrite testdata/kinds.json")

// allKinds are the gateway's kinds, as main lists them.
var allKinds = kind.NewRegistry(postgres.Kind(), mysql.Kind(), sqlite.Kind(), redis.Kind(), httpapi.Kind())

// TestKindsSchema pins the JSON of the kinds (GET /api/kinds, the forms):
// moving each schema into its connector package changed none of it. Run
// with -update to accept a change.
func TestKindsSchema(t *testing.T) {
	got, err := json.MarshalIndent(map[string]any{"kinds": allKinds.All()}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "kinds.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("kinds JSON changed:\ngot  %s\nwant %s", got, want)
	}
}

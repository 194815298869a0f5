package mcp

import (
	"go/build"
	"strings"
	"testing"
)

// TestFrontEndsImportNoStoreNorConnector: the front ends (the MCP
// endpoint, the HTTP API and the pages) reach datasources only through
// the use cases (P14): none imports the store, a connector or the
// connector contract (their domain types live with their domain).
func TestFrontEndsImportNoStoreNorConnector(t *testing.T) {
	for _, dir := range []string{".", "../web/api", "../web/ui", "../web/kit", "../web"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			for _, f := range []string{"/internal/store", "/internal/connect", "/internal/egress"} {
				if strings.Contains(imp, f) {
					t.Errorf("%s imports %s", pkg.ImportPath, imp)
				}
			}
		}
	}
}

package ui

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br", true},
		{"br;q=1.0, GZIP;q=0.5", true},
		{"identity", false},
		{"br", false},
		{"gzip;q=0", false},
		{"gzip;q=0.0, *", false},
		{"*", true},
		{"*;q=0", false},
		{"x-gzip", true},
		{"gzip;q=nonsense", false},
	} {
		if got := acceptsGzip(tc.header); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// A module's hashed name covers the modules it imports: a change in an
// imported file changes the importer's name, and its import names the
// new file. An import cycle keeps plain names and does not loop.
func TestAssetHashesFollowImports(t *testing.T) {
	files := func(app string) fstest.MapFS {
		return fstest.MapFS{
			"js/app.js":   {Data: []byte(app)},
			"js/page.js":  {Data: []byte("import { x } from './app.js';\nimport './side.js';\n// import a JSON file\nimport { V } from '../vendor/v.js';\n")},
			"vendor/v.js": {Data: []byte("export const V = 1;\n")},
			"js/side.js":  {Data: []byte("export const y = 1;\n")},
			"js/a.js":     {Data: []byte("import './b.js';\n")},
			"js/b.js":     {Data: []byte("import './a.js';\n")},
		}
	}
	one, err := loadAssets(files("export const x = 1;\n"))
	if err != nil {
		t.Fatal(err)
	}
	two, err := loadAssets(files("export const x = 2;\n"))
	if err != nil {
		t.Fatal(err)
	}
	if one.byName["js/page.js"].hashed == two.byName["js/page.js"].hashed {
		t.Errorf("page.js kept its name when app.js changed")
	}
	if one.byName["js/side.js"].hashed != two.byName["js/side.js"].hashed {
		t.Errorf("side.js changed its name though it did not change")
	}
	page := string(two.byName["js/page.js"].body)
	if !regexp.MustCompile(`from '\./app\.[0-9a-f]{16}\.js'`).MatchString(page) || !strings.Contains(page, "import './"+strings.TrimPrefix(two.byName["js/side.js"].hashed, "js/")+"'") ||
		!strings.Contains(page, "// import a JSON file") || !strings.Contains(page, "from '../"+two.byName["vendor/v.js"].hashed+"'") {
		t.Errorf("page.js imports:\n%s", page)
	}
	if u, err := two.URL("js/app.js"); err != nil || !strings.HasPrefix(u, "/static/js/app.") {
		t.Errorf("URL = %q, %v", u, err)
	}
	if _, err := two.URL("js/nope.js"); err == nil {
		t.Errorf("URL of a missing file: no error")
	}
	for _, name := range []string{"js/a.js", "js/b.js"} {
		if one.byName[name] == nil {
			t.Errorf("%s on a cycle was not built", name)
		}
	}
}

// Every embedded file is served under its hashed name for a year and
// under its plain name with revalidation.
func TestStaticServed(t *testing.T) {
	for name, x := range staticAssets.byName {
		for path, cache := range map[string]string{"/static/" + x.hashed: assetMaxAge, "/static/" + name: "no-cache"} {
			req := httptest.NewRequest("GET", path, nil)
			w := httptest.NewRecorder()
			staticAssets.ServeHTTP(w, req)
			if w.Code != 200 || w.Header().Get("Cache-Control") != cache || w.Body.Len() != len(x.body) {
				t.Errorf("%s: %d %v", path, w.Code, w.Header())
			}
		}
	}
}

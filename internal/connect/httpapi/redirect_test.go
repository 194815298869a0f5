package httpapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/connect"
)

// TestRedirectOutOfBasePathGetsNoCredentials: base_url is /api/v1/; a
// redirect that stays on its origin but leaves its path is followed
// without the credentials, and so is every later hop.
func TestRedirectOutOfBasePathGetsNoCredentials(t *testing.T) {
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/go" || r.URL.Path == "/other/go" {
			code, _ := strconv.Atoi(r.URL.Query().Get("code"))
			if code == 0 {
				code = http.StatusFound
			}
			w.Header().Set("Location", r.URL.Query().Get("to"))
			w.WriteHeader(code)
			return
		}
		echo(w, r)
	})
	c, _ := MustConnector(t, options{
		settings: map[string]any{"base_url": up.URL + "/api/v1/", "api_key_name": "key", "api_key_in": "query"},
		secrets:  map[string]any{"bearer_token": bearer, "api_key": apiKey, "secret_headers": map[string]string{"X-Secret": secretHeader}},
	})
	back := "/api/v1/home"
	tests := []struct {
		to       string
		code     int
		wantPath string // as the landing server saw it (escaped)
		creds    bool
	}{
		// Under base_url: the credentials follow.
		{"/api/v1/in", 302, "/api/v1/in", true},
		{"sub/x", 302, "/api/v1/sub/x", true},
		{up.URL + "/api/v1/abs", 307, "/api/v1/abs", true},
		{"/api/v1", 308, "/api/v1", true},
		// Out of it, on the same origin: no credentials.
		{"/other/x", 302, "/other/x", false},
		{"/api/v10", 302, "/api/v10", false},
		{"/api/v1x/y", 307, "/api/v1x/y", false},
		{"../../other/x", 302, "/other/x", false},
		{"../v2/x", 308, "/api/v2/x", false},
		{"/api/v1/../admin", 302, "/api/admin", false},
		{"/api/v1/%2e%2e/admin", 307, "/api/v1/%2e%2e/admin", false},
		{"/api/v1/%2E%2E%2fadmin", 302, "/api/v1/%2E%2E%2fadmin", false},
		{"/api/v1/a%2fb", 302, "/api/v1/a%2fb", false},
		{"/api/v1/a%5cb", 302, "/api/v1/a%5cb", false},
		{"/api//v1/x", 302, "/api//v1/x", false},
		{"/API/V1/x", 302, "/API/V1/x", false},
		{"/", 302, "/", false},
		// A chain that leaves the path and comes back: no credentials
		// after it left.
		{"/other/go?code=307&to=" + url.QueryEscape(back), 307, back, false},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "POST"} {
			name := method + " " + strconv.Itoa(tt.code) + " " + tt.to
			n := len(up.requests())
			r := connect.HTTPRequest{Method: method, Path: "go", Query: url.Values{"to": {tt.to}, "code": {strconv.Itoa(tt.code)}},
				Headers: map[string]string{"X-Caller": "kept"}}
			if method == "POST" {
				r.Body = []byte(`{"q":1}`)
			}
			MustDo(t, c, r)
			reqs := up.requests()[n:]
			got := reqs[len(reqs)-1]
			if got.Path != tt.wantPath {
				t.Errorf("%s: landed on %s, want %s", name, got.Path, tt.wantPath)
				continue
			}
			q, _ := url.ParseQuery(got.Query)
			has := got.Header.Get("Authorization") != "" || got.Header.Get("X-Secret") != "" || q.Get("key") != ""
			if has != tt.creds {
				t.Errorf("%s: credentials sent %v, want %v", name, has, tt.creds)
			}
			if !tt.creds {
				for _, h := range got.Header {
					noSecret(t, name+": header", strings.Join(h, ","))
				}
				noSecret(t, name+": query", got.Query)
			}
			if got.Header.Get("X-Caller") != "kept" {
				t.Errorf("%s: the caller's header was lost", name)
			}
			if method == "POST" && (tt.code == 307 || tt.code == 308) && got.Body != `{"q":1}` {
				t.Errorf("%s: body %q not resent", name, got.Body)
			}
		}
	}
}

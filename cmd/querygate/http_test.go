package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// httpUpstream is a loopback HTTP API for HTTP datasources. It echoes every
// request (headers and all, like httpbin's /anything) in its JSON body and
// copies the request's headers into its response headers, so a test can
// prove the gateway passes none of the credentials back. Paths:
//
//	/v1/big?n=N        N bytes of text
//	/v1/status?code=C  an answer with status C
//	/v1/redirect?to=U  a redirect to U
//	anything else      the echo
type httpUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
	// pingStatus is the answer to HEAD (the /test endpoint).
	pingStatus int
}

func newHTTPUpstream(t testing.TB) *httpUpstream {
	t.Helper()
	u := &httpUpstream{pingStatus: http.StatusNotFound}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		ping := u.pingStatus
		u.mu.Unlock()
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodHead:
			w.WriteHeader(ping)
			return
		case r.URL.Path == "/v1/big":
			n, err := strconv.Atoi(q.Get("n"))
			if err != nil {
				http.Error(w, "n: not a number", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			io.Copy(w, io.LimitReader(neverEnding('x'), int64(n)))
			return
		case r.URL.Path == "/v1/status":
			code, err := strconv.Atoi(q.Get("code"))
			if err != nil {
				http.Error(w, "code: not a number", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			w.Write([]byte(`{"error":"upstream says no"}`))
			return
		case r.URL.Path == "/v1/redirect":
			http.Redirect(w, r, q.Get("to"), http.StatusFound)
			return
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				w.Header().Add("X-Echo-"+k, v)
			}
		}
		w.Header().Set("X-Request-Id", r.Header.Get("Authorization"))
		w.Header().Set("Set-Cookie", "upstream=1")
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.Header().Set("Content-Type", "application/json")
		b, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"headers": r.Header, "body": string(b)})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *httpUpstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

func (u *httpUpstream) setPing(status int) {
	u.mu.Lock()
	u.pingStatus = status
	u.mu.Unlock()
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestHTTPDatasourceEndToEnd(t *testing.T) {
	up := newHTTPUpstream(t)
	g := MustRun(t, t.TempDir(), nil, "--http-response-max", "4096")
	rec := &recorder{}
	c := g.MustSetup(rec)
	const token, key, hdr = "CANARY-e2e-bearer-1c7e", "CANARY-e2e-apikey-93d0", "CANARY-e2e-hdr-5a21"
	create := func(name string, readOnly bool) string {
		return c.must(201, "POST", "/api/datasources", map[string]any{"name": name, "kind": "http", "read_only": readOnly,
			"settings": map[string]any{"base_url": up.URL + "/v1/", "api_key_name": "X-Key", "headers": map[string]string{"Accept": "application/json"}},
			"secrets":  map[string]any{"bearer_token": token, "api_key": key, "secret_headers": map[string]string{"X-Secret": hdr}},
		})["id"].(string)
	}
	id, roID := create("api", false), create("api-ro", true)
	query := func(id string, body map[string]any) response {
		return c.do("POST", "/api/datasources/"+id+"/query", body)
	}

	t.Run("query", func(t *testing.T) {
		r := query(id, map[string]any{"method": "POST", "path": "/items/7", "query": map[string]any{"x": 1, "tag": []string{"a", "b"}},
			"headers": map[string]string{"X-Caller": "yes"}, "body": map[string]any{"n": 1}})
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		l := ndjson(t, r.Body)
		if len(l) != 3 || string(l[0]["columns"]) != `[{"name":"status","type":"int"},{"name":"headers","type":"json"},{"name":"content_type","type":"text"},{"name":"body","type":"json"}]` {
			t.Fatalf("got %s", r.Body)
		}
		var row []json.RawMessage
		json.Unmarshal(l[1]["row"], &row)
		var echoed struct {
			Method, Path, Query, Body string
			Headers                   map[string][]string
		}
		if err := json.Unmarshal(row[3], &echoed); err != nil || string(row[0]) != "200" || string(row[2]) != `"application/json"` {
			t.Fatalf("row %s: %v", l[1]["row"], err)
		}
		if echoed.Method != "POST" || echoed.Path != "/v1/items/7" || echoed.Query != "tag=a&tag=b&x=1" || echoed.Body != `{"n":1}` ||
			echoed.Headers["X-Caller"][0] != "yes" || echoed.Headers["Authorization"][0] != "Bearer [REDACTED]" {
			t.Fatalf("upstream saw %+v", echoed)
		}
		var headers map[string]string
		json.Unmarshal(row[1], &headers)
		for name := range headers {
			if strings.HasPrefix(name, "X-Echo-") || name == "Set-Cookie" || name == "Www-Authenticate" || name == "X-Request-Id" {
				t.Errorf("header %s passed", name)
			}
		}
		h := up.lastHeader()
		if h.Get("Authorization") != "Bearer "+token || h.Get("X-Key") != key || h.Get("X-Secret") != hdr || h.Get("Accept") != "application/json" {
			t.Fatalf("credentials not injected: %v", h.Get("Authorization") != "")
		}
		if !strings.Contains(string(l[2]["done"]), `"rows":1`) {
			t.Fatalf("done %s", l[2]["done"])
		}
	})
	t.Run("upstream errors are data", func(t *testing.T) {
		r := query(id, map[string]any{"path": "status", "query": map[string]any{"code": 503}})
		l := ndjson(t, r.Body)
		if r.Status != 200 || len(l) != 3 {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		var row []json.RawMessage
		json.Unmarshal(l[1]["row"], &row)
		if len(row) != 4 || string(row[0]) != "503" || string(row[2]) != `"application/json"` || string(row[3]) != `{"error":"upstream says no"}` {
			t.Fatalf("row %s", l[1]["row"])
		}
	})
	t.Run("csv", func(t *testing.T) {
		r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"path": "status", "query": map[string]any{"code": 404}}, "Accept", "text/csv")
		if r.Status != 200 || !strings.HasPrefix(string(r.Body), "status,headers,content_type,body\n404,") {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("read only", func(t *testing.T) {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			if r := query(roID, map[string]any{"method": m, "path": "items"}); r.Status != 403 || r.errorCode() != "read_only" {
				t.Fatalf("%s: got %d %s", m, r.Status, r.Body)
			}
		}
		if r := query(roID, map[string]any{"method": "GET", "path": "items"}); r.Status != 200 {
			t.Fatalf("GET: got %d %s", r.Status, r.Body)
		}
	})
	t.Run("path escapes", func(t *testing.T) {
		for _, p := range []string{"../admin", "%2e%2e/admin", "%252e%252e/x", "..%2fadmin", "//evil.example/", "http://evil.example/", "a\\..\\..\\b", "..;/x", "a%00"} {
			r := query(id, map[string]any{"path": p})
			if r.Status != 400 || r.errorCode() != "invalid" {
				t.Fatalf("%q: got %d %s", p, r.Status, r.Body)
			}
		}
	})
	t.Run("caller cannot override credentials", func(t *testing.T) {
		for _, h := range []map[string]string{{"authorization": "Bearer mine"}, {"X-KEY": "mine"}, {"x-secret": "mine"}, {"Host": "evil"}, {"Connection": "close"}} {
			if r := query(id, map[string]any{"path": "items", "headers": h}); r.Status != 400 {
				t.Fatalf("%v: got %d %s", h, r.Status, r.Body)
			}
		}
	})
	t.Run("response cap", func(t *testing.T) {
		if r := query(id, map[string]any{"path": "big", "query": map[string]any{"n": 4096}}); r.Status != 200 {
			t.Fatalf("at the cap: got %d %s", r.Status, r.Body)
		}
		if r := query(id, map[string]any{"path": "big", "query": map[string]any{"n": 4097}}); r.Status != 413 || r.errorCode() != "too_large" {
			t.Fatalf("over the cap: got %d %s", r.Status, r.Body)
		}
	})
	t.Run("redirect to the gateway itself is denied", func(t *testing.T) {
		r := query(id, map[string]any{"path": "redirect", "query": map[string]any{"to": g.url + "/api/me"}})
		if r.Status != 403 || r.errorCode() != "egress_denied" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("test endpoint", func(t *testing.T) {
		c.must(200, "POST", "/api/datasources/"+id+"/test", nil)
		up.setPing(http.StatusUnauthorized)
		defer up.setPing(http.StatusNotFound)
		if r := c.do("POST", "/api/datasources/"+id+"/test", nil); r.Status != 502 || r.errorCode() != "auth_failed" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	g.m.Close()
	for where, text := range map[string]string{"responses": rec.String(), "logs": g.logs.String()} {
		for _, s := range []string{token, key, hdr} {
			if strings.Contains(text, s) {
				t.Errorf("%s hold secret %s", where, s)
			}
		}
	}
}

func TestHTTPResponseMaxFlag(t *testing.T) {
	for _, v := range []string{"0", "100", "2000000000", "ten"} {
		if _, err := run(t, t.TempDir(), nil, nil, "--http-response-max", v); err == nil {
			t.Errorf("--http-response-max %s accepted", v)
		}
	}
}

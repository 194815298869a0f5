package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/seal"
)

func TestCredentialsInjectedNeverEchoed(t *testing.T) {
	up := newUpstream(t, false, echo)
	c, dc := MustConnector(t, options{
		settings: map[string]any{"base_url": up.URL + "/v1/", "api_key_name": "X-Key",
			"headers": map[string]string{"Accept": "application/json", "X-Plain": "default"}},
		secrets: allSecrets(),
	})
	a := MustDo(t, c, connect.HTTPRequest{Method: "get", Path: "/users/7", Query: url.Values{"q": {"a b&c"}},
		Headers: map[string]string{"X-Plain": "caller", "Cookie": "mine=1"}})

	got := up.last(t)
	if got.Method != "GET" || got.Path != "/v1/users/7" || got.Query != "q=a+b%26c" {
		t.Fatalf("upstream saw %s %s?%s", got.Method, got.Path, got.Query)
	}
	for name, want := range map[string]string{
		"Authorization": "Bearer " + bearer, "X-Key": apiKey, "X-Secret": secretHeader,
		"Accept": "application/json", "X-Plain": "caller", "Cookie": "mine=1", "User-Agent": "querygate",
	} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("upstream saw %s: %q, want %q", name, v, want)
		}
	}
	if dc.n.Load() != 1 {
		t.Errorf("dials through the egress dialer: %d, want 1", dc.n.Load())
	}

	// Only allow-listed headers come back, and none that holds a secret,
	// although the upstream echoed the credentials into X-Request-Id,
	// Link and ETag.
	if a.Status != 200 || a.ContentType != "application/json" || a.BodyType != "json" {
		t.Fatalf("answer %d %v %s", a.Status, a.ContentType, a.BodyType)
	}
	for name := range a.Headers {
		if strings.HasPrefix(name, "X-Echo-") || name == "Set-Cookie" || name == "Www-Authenticate" || name == "Proxy-Authenticate" {
			t.Errorf("header %s passed", name)
		}
	}
	for _, name := range []string{"X-Request-Id", "Link", "Etag"} {
		if _, ok := a.Headers[name]; ok {
			t.Errorf("header %s holding a secret passed", name)
		}
	}
	for _, name := range []string{"Content-Type", "Ratelimit-Remaining", "X-Ratelimit-Limit", "Cache-Control", "Date", "X-Correlation-Id"} {
		if _, ok := a.Headers[name]; !ok {
			t.Errorf("header %s missing from %v", name, a.Headers)
		}
	}
	hb, _ := json.Marshal(a.Headers)
	noSecret(t, "headers", string(hb))

	// The body echo is cut where it holds a secret.
	body := string(a.Body.(connect.JSON))
	noSecret(t, "body", body)
	if !strings.Contains(body, "[REDACTED]") || !strings.Contains(body, `"X-Plain":["caller"]`) {
		t.Fatalf("body echo %s", body)
	}
}

func TestBasicAuthAndQueryAPIKey(t *testing.T) {
	up := newUpstream(t, false, echo)
	c, _ := MustConnector(t, options{
		settings: map[string]any{"base_url": up.URL, "basic_user": "svc", "api_key_name": "key", "api_key_in": "query"},
		secrets:  map[string]any{"basic_password": basicPW, "api_key": apiKey},
	})
	a := MustDo(t, c, connect.HTTPRequest{Path: "x", Query: url.Values{"page": {"2"}}})
	got := up.last(t)
	user, pw, ok := (&http.Request{Header: got.Header}).BasicAuth()
	if !ok || user != "svc" || pw != basicPW {
		t.Fatalf("upstream saw basic auth %v %q", ok, user)
	}
	q, _ := url.ParseQuery(got.Query)
	if q.Get("key") != apiKey || q.Get("page") != "2" {
		t.Fatalf("upstream saw query %s", got.Query)
	}
	hb, _ := json.Marshal(a.Headers)
	noSecret(t, "headers", string(hb))
	body := string(a.Body.(connect.JSON))
	noSecret(t, "body", body)
	token := base64.StdEncoding.EncodeToString([]byte("svc:" + basicPW))
	if strings.Contains(body, token) || strings.Contains(string(hb), token) {
		t.Fatal("the basic credentials came back")
	}

	// The caller cannot replace the API key parameter, in any case.
	for _, name := range []string{"key", "KEY"} {
		_, err := do(t, c, connect.HTTPRequest{Path: "x", Query: url.Values{name: {"mine"}}}, false)
		mustCode(t, err, querygate.EINVALID)
	}
}

func TestCallerHeaders(t *testing.T) {
	up := newUpstream(t, false, echo)
	c, _ := MustConnector(t, options{
		settings: map[string]any{"base_url": up.URL, "api_key_name": "X-Key"},
		secrets:  allSecrets(),
	})
	n := len(up.requests())
	for _, h := range []map[string]string{
		{"Authorization": "Bearer mine"},
		{"authorization": "Bearer mine"},
		{"AUTHORIZATION": "x"},
		{"x-key": "mine"},
		{"x-secret": "mine"},
		{"X-SECRET": "mine"},
		{"Host": "evil.example"},
		{"Connection": "close"},
		{"Keep-Alive": "timeout=5"},
		{"Proxy-Authorization": "Basic x"},
		{"Proxy-Connection": "keep-alive"},
		{"TE": "trailers"},
		{"Trailer": "X"},
		{"Transfer-Encoding": "chunked"},
		{"Upgrade": "websocket"},
		{"Content-Length": "5"},
		{"Expect": "100-continue"},
		{"X-Ok": "a\r\nX-Injected: 1"},
		{"X-Ok": "a\nb"},
		{"X-Ok": "a\x00b"},
		{"X Bad": "1"},
		{"X-Bad\r\nInjected": "1"},
		{"": "1"},
		{"X-Long": strings.Repeat("a", 9000)},
	} {
		_, err := do(t, c, connect.HTTPRequest{Headers: h}, false)
		mustCode(t, err, querygate.EINVALID)
		for k := range h {
			if len(k) > 4 && strings.Contains(querygate.ErrorMessage(err), k) && !strings.EqualFold(k, "Host") {
				// Reserved names are named in their canonical form only.
				if _, ok := map[string]bool{"Connection": true, "Keep-Alive": true, "Trailer": true, "Transfer-Encoding": true,
					"Upgrade": true, "Content-Length": true, "Expect": true}[k]; !ok {
					t.Errorf("message quotes the caller's header name %q: %s", k, querygate.ErrorMessage(err))
				}
			}
		}
	}
	if len(up.requests()) != n {
		t.Fatal("a refused request reached the upstream")
	}

	// Without a bearer token or basic auth, the caller may send its own
	// Authorization.
	c2, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}})
	MustDo(t, c2, connect.HTTPRequest{Headers: map[string]string{"Authorization": "Bearer caller-own"}})
	if got := up.last(t).Header.Get("Authorization"); got != "Bearer caller-own" {
		t.Fatalf("upstream saw %q", got)
	}
}

func TestPathEscapesRefused(t *testing.T) {
	up := newUpstream(t, false, echo)
	c, dc := MustConnector(t, options{settings: map[string]any{"base_url": up.URL + "/v1"}, secrets: allSecrets()})
	for _, p := range []string{
		"..", "../v10", "../admin", "a/../../x", "%2e%2e/admin", "%2E%2e", "%252e%252e/x", "..%2fadmin", "..%5cadmin",
		"a%2fb", "..\\admin", "//evil.example/x", "http://evil.example/", "@evil.example", "user:pw@evil.example",
		"a%00", "a\r\nb", "..;/admin", "\uff0e\uff0e/x", "%c0%ae%c0%ae/x", "a?x=1", "a#f",
	} {
		_, err := do(t, c, connect.HTTPRequest{Path: p}, false)
		mustCode(t, err, querygate.EINVALID)
	}
	if n := len(up.requests()); n != 0 || dc.n.Load() != 0 {
		t.Fatalf("%d requests and %d dials for refused paths", n, dc.n.Load())
	}
	MustDo(t, c, connect.HTTPRequest{Path: "a/%2e%2e/b"})
	if got := up.last(t).Path; got != "/v1/b" {
		t.Fatalf("upstream saw %s", got)
	}
}

// redirector answers /hop/N with a redirect to /hop/N-1 and /hop/0 with
// the echo.
func redirector(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/v1/hop/"))
	if err != nil || n == 0 {
		echo(w, r)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/v1/hop/%d", n-1), http.StatusFound)
}

func TestRedirectsCapped(t *testing.T) {
	up := newUpstream(t, false, redirector)
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL + "/v1/"}, secrets: allSecrets()})
	a := MustDo(t, c, connect.HTTPRequest{Path: "hop/5"})
	if a.Status != 200 || len(up.requests()) != 6 {
		t.Fatalf("5 redirects: status %d after %d requests", a.Status, len(up.requests()))
	}
	if got := up.last(t).Header.Get("Authorization"); got != "Bearer "+bearer {
		t.Fatal("a same-origin redirect lost the credentials")
	}
	before := len(up.requests())
	_, err := do(t, c, connect.HTTPRequest{Path: "hop/6"}, false)
	mustCode(t, err, connect.EQUERY)
	if n := len(up.requests()) - before; n != 6 {
		t.Fatalf("6 redirects: %d requests, want 6 (the 6th redirect not followed)", n)
	}
}

func TestRedirectToOtherHostGetsNoCredentials(t *testing.T) {
	other := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/back" {
			// and back to the datasource's origin
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusTemporaryRedirect)
			return
		}
		echo(w, r)
	})
	var home *upstream
	home = newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/away":
			// The upstream echoes the query (with the API key) into the
			// redirect, as some do.
			http.Redirect(w, r, other.URL+"/landing?"+r.URL.RawQuery, http.StatusFound)
		case "/v1/roundtrip":
			http.Redirect(w, r, other.URL+"/back?to="+url.QueryEscape(home.URL+"/v1/home"), http.StatusFound)
		default:
			echo(w, r)
		}
	})
	for _, in := range []string{"header", "query"} {
		t.Run(in, func(t *testing.T) {
			c, dc := MustConnector(t, options{
				settings: map[string]any{"base_url": home.URL + "/v1/", "api_key_name": "X-Key", "api_key_in": in},
				secrets:  allSecrets(),
			})
			a := MustDo(t, c, connect.HTTPRequest{Path: "away", Query: url.Values{"page": {"3"}},
				Headers: map[string]string{"Cookie": "mine=1", "X-Caller": "kept"}})
			got := other.last(t)
			if got.Path != "/landing" {
				t.Fatalf("other host saw %s", got.Path)
			}
			for _, name := range []string{"Authorization", "X-Key", "X-Secret", "Cookie", "Referer"} {
				if v := got.Header.Get(name); v != "" {
					t.Errorf("other host got %s", name)
				}
			}
			if got.Header.Get("X-Caller") != "kept" || !strings.Contains(got.Query, "page=3") {
				t.Errorf("other host saw headers %v, query %s", got.Header, got.Query)
			}
			for _, h := range got.Header {
				noSecret(t, "redirected header", strings.Join(h, ","))
			}
			noSecret(t, "redirected query", got.Query)
			if dc.n.Load() != 2 {
				t.Errorf("%d dials, want 2 (each host through the egress dialer)", dc.n.Load())
			}
			// Location of another origin is not passed back.
			if _, ok := a.Headers["Location"]; ok {
				t.Error("Location passed")
			}

			// Once the chain has left base_url's origin, the credentials
			// never come back, not even on a hop back to it.
			MustDo(t, c, connect.HTTPRequest{Path: "roundtrip"})
			last := home.last(t)
			if last.Path != "/v1/home" {
				t.Fatalf("home saw %s", last.Path)
			}
			if last.Header.Get("Authorization") != "" || last.Header.Get("X-Secret") != "" || last.Header.Get("X-Key") != "" {
				t.Error("credentials sent on a hop back from another host")
			}
		})
	}
}

func TestRedirectToDeniedAddress(t *testing.T) {
	denied := newUpstream(t, false, echo)
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, denied.URL+"/x", http.StatusFound)
	})
	rule, err := egress.ParseRule(denied.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	d := egress.NewDialer(egress.Options{Policy: egress.NewPolicy(egress.Rules{Deny: []egress.Rule{rule}})})
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}, secrets: allSecrets(), dial: d.DialContext})
	_, err = do(t, c, connect.HTTPRequest{Path: "go"}, false)
	mustCode(t, err, connect.EEGRESS)
	if n := len(denied.requests()); n != 0 {
		t.Fatalf("the denied server got %d requests", n)
	}
	if len(up.requests()) != 1 {
		t.Fatal("the allowed server was not asked")
	}
}

func caPEM(up *upstream) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}))
}

func TestTLS(t *testing.T) {
	up := newUpstream(t, true, echo)
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL, "ca_cert": caPEM(up)}, secrets: allSecrets()})
	if a := MustDo(t, c, connect.HTTPRequest{Path: "x"}); a.Status != 200 {
		t.Fatalf("status %d", a.Status)
	}
	if got := up.last(t).Header.Get("Authorization"); got != "Bearer "+bearer {
		t.Fatal("credentials not sent over TLS")
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// Without its CA the certificate is refused, before any credential is
	// sent.
	n := len(up.requests())
	c2, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}, secrets: allSecrets()})
	_, err := do(t, c2, connect.HTTPRequest{Path: "x"}, false)
	mustCode(t, err, connect.ETLS)
	mustCode(t, c2.Ping(t.Context()), connect.ETLS)
	if len(up.requests()) != n {
		t.Fatal("a request reached a server whose certificate failed")
	}

	// Only with the explicit insecure setting.
	c3, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL, "insecure_skip_verify": true}})
	MustDo(t, c3, connect.HTTPRequest{Path: "x"})

	// A TLS base_url redirected to plain HTTP is refused.
	plain := newUpstream(t, false, echo)
	down := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/x", http.StatusFound)
	})
	c4, _ := MustConnector(t, options{settings: map[string]any{"base_url": down.URL, "ca_cert": caPEM(down)}, secrets: allSecrets()})
	_, err = do(t, c4, connect.HTTPRequest{Path: "x"}, false)
	mustCode(t, err, querygate.EFORBIDDEN)
	if len(plain.requests()) != 0 {
		t.Fatal("the https to http redirect was followed")
	}

	// A plain HTTP server at an https base_url fails as TLS.
	c5, _ := MustConnector(t, options{settings: map[string]any{"base_url": strings.Replace(plain.URL, "http:", "https:", 1)}})
	_, err = do(t, c5, connect.HTTPRequest{}, false)
	mustCode(t, err, connect.ETLS)
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL, "timeout_ms": 200}, secrets: allSecrets()})
	for _, p := range []string{"slow", "slow-body"} {
		start := time.Now()
		_, err := do(t, c, connect.HTTPRequest{Path: p}, false)
		mustCode(t, err, connect.ETIMEOUT)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s: timed out after %v", p, d)
		}
	}

	// The query's own deadline, when shorter, wins.
	c2, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL, "timeout_ms": 60000}})
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c2.Query(ctx, connect.Request{HTTP: &connect.HTTPRequest{Path: "slow"}}, &sink{})
	mustCode(t, err, connect.ETIMEOUT)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timed out after %v", d)
	}

	// A client that goes away cancels.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = c2.Query(ctx, connect.Request{HTTP: &connect.HTTPRequest{Path: "slow"}}, &sink{})
	mustCode(t, err, connect.ECANCELED)
}

func TestResponseCap(t *testing.T) {
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		for i := 0; i < n; i += 100 {
			w.Write(bytes.Repeat([]byte("x"), min(100, n-i)))
			if f, ok := w.(http.Flusher); ok && r.URL.Query().Get("chunked") != "" {
				f.Flush()
			}
		}
	})
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}, responseMax: 1000})
	for _, chunked := range []string{"", "1"} {
		a := MustDo(t, c, connect.HTTPRequest{Query: url.Values{"n": {"1000"}, "chunked": {chunked}}})
		if s, ok := a.Body.(string); !ok || len(s) != 1000 {
			t.Fatalf("body at the cap: %T %d", a.Body, len(fmt.Sprint(a.Body)))
		}
		for _, n := range []string{"1001", "5000000"} {
			_, err := do(t, c, connect.HTTPRequest{Query: url.Values{"n": {n}, "chunked": {chunked}}}, false)
			mustCode(t, err, querygate.ETOOLARGE)
		}
	}
	// The default cap is 10 MiB.
	c2, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}})
	_, err := do(t, c2, connect.HTTPRequest{Query: url.Values{"n": {strconv.Itoa(10<<20 + 1)}, "chunked": {"1"}}}, false)
	mustCode(t, err, querygate.ETOOLARGE)
}

func TestReadOnly(t *testing.T) {
	up := newUpstream(t, false, echo)
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}, readOnly: true})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "post"} {
		_, err := do(t, c, connect.HTTPRequest{Method: m, Body: json.RawMessage(`{"a":1}`)}, false)
		mustCode(t, err, connect.EREADONLY)
	}
	if len(up.requests()) != 0 {
		t.Fatal("a write reached the upstream")
	}
	for _, m := range []string{"GET", "HEAD", "OPTIONS", ""} {
		MustDo(t, c, connect.HTTPRequest{Method: m})
	}
	// The request's own read-only flag holds on any datasource.
	c2, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}})
	_, err := do(t, c2, connect.HTTPRequest{Method: "DELETE"}, true)
	mustCode(t, err, connect.EREADONLY)
	// Methods outside the list are refused everywhere.
	for _, m := range []string{"TRACE", "CONNECT", "PROPFIND", "GET /x HTTP/1.1\r\n"} {
		_, err := do(t, c2, connect.HTTPRequest{Method: m}, false)
		mustCode(t, err, querygate.EINVALID)
	}
}

func TestRendering(t *testing.T) {
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		ct, body := r.URL.Query().Get("ct"), r.URL.Query().Get("body")
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing
		}
		if loc := r.URL.Query().Get("loc"); loc != "" {
			w.Header().Set("Location", loc)
		}
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		if status == 0 {
			status = 200
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	})
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL + "/v1"}})
	tests := []struct {
		ct, body string
		status   int
		want     any
		typ      string
	}{
		{"application/json", `{"a": [1, 2]}`, 200, connect.JSON(`{"a": [1, 2]}`), "json"},
		{"application/problem+json; charset=utf-8", `{"title":"no"}`, 404, connect.JSON(`{"title":"no"}`), "json"},
		{"application/json", `{not json`, 500, "{not json", "text"},
		{"text/plain; charset=utf-8", "héllo", 200, "héllo", "text"},
		{"text/html", "<b>x</b>", 503, "<b>x</b>", "text"},
		{"application/xml", "<a/>", 200, "<a/>", "text"},
		{"", "plain", 200, "plain", "text"},
		{"application/octet-stream", "abc", 200, []byte("abc"), "bytes"},
		{"text/plain", "\xff\xfe", 200, []byte("\xff\xfe"), "bytes"},
		{"", "\xff", 200, []byte("\xff"), "bytes"},
		{"image/png", "\x89PNG", 200, []byte("\x89PNG"), "bytes"},
		{"text/plain", "", 204, nil, "text"},
	}
	for _, tt := range tests {
		a := MustDo(t, c, connect.HTTPRequest{Query: url.Values{"ct": {tt.ct}, "body": {tt.body}, "status": {strconv.Itoa(tt.status)}}})
		if a.Status != int64(tt.status) || a.BodyType != tt.typ || fmt.Sprintf("%#v", a.Body) != fmt.Sprintf("%#v", tt.want) {
			t.Errorf("%s %q: got %d %s %#v, want %d %s %#v", tt.ct, tt.body, a.Status, a.BodyType, a.Body, tt.status, tt.typ, tt.want)
		}
		if tt.ct == "" && a.ContentType != nil {
			t.Errorf("content_type %v, want null", a.ContentType)
		}
	}
	// Location passes only when it points under base_url.
	for loc, want := range map[string]bool{
		"/v1/items/9": true, up.URL + "/v1/items/9": true, "items/9": false, // relative to /v1: /items/9
		"/v10/x": false, "/admin": false, "https://evil.example/v1/x": false, "/v1/../admin": false,
	} {
		a := MustDo(t, c, connect.HTTPRequest{Query: url.Values{"loc": {loc}, "status": {"201"}}})
		if _, ok := a.Headers["Location"]; ok != want {
			t.Errorf("Location %s passed: %v, want %v", loc, ok, want)
		}
	}
	// HEAD has no body.
	a := MustDo(t, c, connect.HTTPRequest{Method: "HEAD", Query: url.Values{"ct": {"application/json"}, "body": {"{}"}}})
	if a.Body != nil {
		t.Errorf("HEAD body %#v", a.Body)
	}
}

func TestRequestBody(t *testing.T) {
	up := newUpstream(t, false, echo)
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}})
	tests := []struct {
		body    string
		headers map[string]string
		sent    string
		ct      string
	}{
		{`"plain text"`, nil, "plain text", "text/plain; charset=utf-8"},
		{`{"a":1,"b":[true,null]}`, nil, `{"a":1,"b":[true,null]}`, "application/json"},
		{`[1,2]`, nil, `[1,2]`, "application/json"},
		{`42`, nil, `42`, "application/json"},
		{`"a=1&b=2"`, map[string]string{"content-type": "application/x-www-form-urlencoded"}, "a=1&b=2", "application/x-www-form-urlencoded"},
		{`{"q":1}`, map[string]string{"Content-Type": "application/vnd.api+json"}, `{"q":1}`, "application/vnd.api+json"},
		{`null`, nil, "", ""},
		{``, nil, "", ""},
	}
	for _, tt := range tests {
		MustDo(t, c, connect.HTTPRequest{Method: "POST", Body: json.RawMessage(tt.body), Headers: tt.headers})
		got := up.last(t)
		if got.Body != tt.sent || got.Header.Get("Content-Type") != tt.ct {
			t.Errorf("body %s: upstream saw %q as %q, want %q as %q", tt.body, got.Body, got.Header.Get("Content-Type"), tt.sent, tt.ct)
		}
	}
	big, _ := json.Marshal(strings.Repeat("x", 1<<20+1))
	_, err := do(t, c, connect.HTTPRequest{Method: "POST", Body: big}, false)
	mustCode(t, err, querygate.ETOOLARGE)
	_, err = do(t, c, connect.HTTPRequest{Method: "HEAD", Body: json.RawMessage(`{}`)}, false)
	mustCode(t, err, querygate.EINVALID)
	_, err = do(t, c, connect.HTTPRequest{Method: "POST", Body: json.RawMessage(`{bad`)}, false)
	mustCode(t, err, querygate.EINVALID)
}

func TestPing(t *testing.T) {
	status := http.StatusNotFound
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) })
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL + "/v1/", "api_key_name": "X-Key"}, secrets: allSecrets()})
	for _, s := range []int{404, 405, 500, 200} {
		status = s
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("Ping with %d: %v", s, err)
		}
	}
	got := up.last(t)
	if got.Method != "HEAD" || got.Path != "/v1/" || got.Header.Get("Authorization") != "Bearer "+bearer || got.Header.Get("X-Key") != apiKey {
		t.Fatalf("ping sent %s %s without the credentials", got.Method, got.Path)
	}
	for _, s := range []int{401, 403} {
		status = s
		mustCode(t, c.Ping(t.Context()), connect.EAUTH)
	}

	// Nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c2, _ := MustConnector(t, options{settings: map[string]any{"base_url": "http://" + addr}})
	mustCode(t, c2.Ping(t.Context()), connect.EUNREACHABLE)
	_, err = do(t, c2, connect.HTTPRequest{}, false)
	mustCode(t, err, connect.EUNREACHABLE)
}

func TestConfigRefused(t *testing.T) {
	for _, o := range []options{
		// both bearer and basic
		{settings: map[string]any{"base_url": "http://127.0.0.1:1", "basic_user": "u"}, secrets: map[string]any{"bearer_token": bearer}},
		// an API key header that is reserved or collides with a credential
		{settings: map[string]any{"base_url": "http://127.0.0.1:1", "api_key_name": "Host"}, secrets: map[string]any{"api_key": apiKey}},
		{settings: map[string]any{"base_url": "http://127.0.0.1:1", "api_key_name": "authorization"}, secrets: map[string]any{"api_key": apiKey, "bearer_token": bearer}},
		{settings: map[string]any{"base_url": "http://127.0.0.1:1", "api_key_name": "X-Secret"}, secrets: allSecrets()},
		// reserved plain or secret headers
		{settings: map[string]any{"base_url": "http://127.0.0.1:1", "headers": map[string]string{"Transfer-Encoding": "chunked"}}},
		{settings: map[string]any{"base_url": "http://127.0.0.1:1"}, secrets: map[string]any{"secret_headers": map[string]string{"Proxy-Authorization": secretHeader}}},
		{settings: map[string]any{"base_url": "http://127.0.0.1:1/a/..%2f"}},
		{settings: map[string]any{"base_url": "http://127.0.0.1:1", "ca_cert": "-----BEGIN CERTIFICATE-----\nnot\n-----END CERTIFICATE-----\n"}},
	} {
		_, _, err := newConnector(t, o)
		mustCode(t, err, connect.ECONFIG)
	}
}

func TestDeviceCustodyBearer(t *testing.T) {
	// The device-custody bearer token is given per request; it is sent,
	// and a control character in it cannot split a header.
	up := newUpstream(t, false, echo)
	ds, secrets := mustDatasource(t, options{settings: map[string]any{"base_url": up.URL}})
	c, err := open(t, ds, secrets.With("bearer_token", seal.NewSecret(bearer)), connect.Config{Dial: (&dialCounter{}).Dial})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	MustDo(t, c, connect.HTTPRequest{})
	if got := up.last(t).Header.Get("Authorization"); got != "Bearer "+bearer {
		t.Fatal("the device bearer token was not sent")
	}
	_, err = open(t, ds, secrets.With("bearer_token", seal.NewSecret("tok\r\nX-Injected: 1")), connect.Config{Dial: (&dialCounter{}).Dial})
	mustCode(t, err, connect.ECONFIG)
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// Canary secrets: none may ever appear in a result's headers, an error or
// anywhere the gateway adds text of its own.
const (
	bearer       = "CANARY-bearer-4b1d9e"
	apiKey       = "CANARY-apikey-8c2f71"
	secretHeader = "CANARY-secrethdr-53aa0c"
	basicPW      = "CANARY-basicpw-e09b6d"
)

var canaries = []string{bearer, apiKey, secretHeader, basicPW}

// dialCounter is the egress dialer of most tests: a plain net.Dialer that
// counts its calls, so tests can assert every connection went through it.
type dialCounter struct {
	n atomic.Int64
	d net.Dialer
}

func (c *dialCounter) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.n.Add(1)
	return c.d.DialContext(ctx, network, addr)
}

// options describe the datasource a test builds.
type options struct {
	settings    map[string]any // base_url is required
	secrets     map[string]any
	readOnly    bool
	dial        connect.DialFunc
	responseMax int64
}

// MustConnector creates the datasource through a real catalogue (so that
// settings and secrets are validated, sealed, stored and read back as the
// gateway does) and returns a connector for it, closed when the test ends.
func MustConnector(tb testing.TB, o options) (*httpapi.Connector, *dialCounter) {
	tb.Helper()
	c, dc, err := newConnector(tb, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c, dc
}

func newConnector(tb testing.TB, o options) (*httpapi.Connector, *dialCounter, error) {
	tb.Helper()
	ds, secrets := mustDatasource(tb, o)
	dc := &dialCounter{}
	dial := o.dial
	if dial == nil {
		dial = dc.Dial
	}
	c, err := open(tb, ds, secrets, connect.Config{Dial: dial, HTTPResponseMax: o.responseMax})
	if err != nil {
		return nil, nil, err
	}
	return c, dc, nil
}

// open decodes the settings of ds with secrets, as the query service
// does, and returns a connector for them built with cfg, closed when the
// test ends.
func open(tb testing.TB, ds *datasource.Datasource, secrets connect.Secrets, cfg connect.Config) (*httpapi.Connector, error) {
	tb.Helper()
	settings, err := httpapi.DecodeSettings(ds.Settings, secrets)
	if err != nil {
		return nil, err
	}
	cfg.ID, cfg.Settings, cfg.ReadOnly = ds.ID, settings, ds.ReadOnly
	c, err := httpapi.New(cfg)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Close() })
	return c, nil
}

func mustDatasource(tb testing.TB, o options) (*datasource.Datasource, datasource.Secrets) {
	tb.Helper()
	ctx := tb.Context()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "querygate.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	defer db.Close()
	inst, err := instance.Open(ctx, db, instance.Options{KeyFile: filepath.Join(dir, "master.key"), CreateKey: true})
	if err != nil {
		tb.Fatalf("instance.Open: %v", err)
	}
	svc := datasource.NewService(datasource.ServiceOptions{Kinds: kind.NewRegistry(httpapi.Kind()), Store: db, Envelope: inst.Envelope})
	raw := func(v any) json.RawMessage {
		b, _ := json.Marshal(v)
		return b
	}
	in := datasource.CreateInput{Name: "api", Kind: datasource.KindHTTP, ReadOnly: o.readOnly,
		Settings: map[string]json.RawMessage{}, Secrets: map[string]json.RawMessage{}}
	for k, v := range o.settings {
		in.Settings[k] = raw(v)
	}
	if _, ok := o.secrets["api_key"]; ok && o.settings["api_key_name"] == nil {
		in.Settings["api_key_name"] = raw("X-Key")
	}
	for k, v := range o.secrets {
		in.Secrets[k] = raw(v)
	}
	d, err := svc.Create(ctx, "u1", in)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	if d, err = svc.Find(ctx, d.ID); err != nil {
		tb.Fatalf("Find: %v", err)
	}
	s, err := svc.OpenSecrets(ctx, d.ID)
	if err != nil {
		tb.Fatalf("OpenSecrets: %v", err)
	}
	return d, s
}

// allSecrets are the secrets of a datasource that sends every kind of
// credential by header (bearer, API key header, secret headers).
func allSecrets() map[string]any {
	return map[string]any{"bearer_token": bearer, "api_key": apiKey,
		"secret_headers": map[string]string{"X-Secret": secretHeader}}
}

// seen is one request as the upstream received it.
type seen struct {
	Method string
	Path   string // escaped
	Query  string
	Host   string
	Header http.Header
	Body   string
}

// upstream is a test HTTP server that records what it receives.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

// newUpstream starts a loopback server (TLS when tlsServer) that records
// each request and then runs h.
func newUpstream(tb testing.TB, tlsServer bool, h http.HandlerFunc) *upstream {
	tb.Helper()
	u := &upstream{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Host: r.Host,
			Header: r.Header.Clone(), Body: string(b)})
		u.mu.Unlock()
		h(w, r)
	})
	if tlsServer {
		u.Server = httptest.NewTLSServer(handler)
	} else {
		u.Server = httptest.NewServer(handler)
	}
	tb.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

func (u *upstream) last(tb testing.TB) seen {
	tb.Helper()
	r := u.requests()
	if len(r) == 0 {
		tb.Fatal("the upstream received no request")
	}
	return r[len(r)-1]
}

// echo answers with every request header copied into the response headers
// (as X-Echo-Name, and the credentials also into allow-listed headers),
// hostile headers (Set-Cookie, WWW-Authenticate), and a JSON body echoing
// the request, like httpbin's /anything.
func echo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, vs := range r.Header {
		for _, v := range vs {
			h.Add("X-Echo-"+k, v)
		}
	}
	h.Set("X-Request-Id", r.Header.Get("Authorization"))
	h.Set("Link", r.Header.Get("X-Key"))
	h.Set("Etag", `"`+r.Header.Get("X-Secret")+`"`)
	h.Set("X-Correlation-Id", r.URL.RawQuery)
	h.Set("Set-Cookie", "session=abc; HttpOnly")
	h.Set("WWW-Authenticate", `Bearer realm="x"`)
	h.Set("Proxy-Authenticate", `Basic realm="x"`)
	h.Set("RateLimit-Remaining", "9")
	h.Set("X-RateLimit-Limit", "10")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "application/json")
	b, _ := io.ReadAll(r.Body)
	json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery,
		"url": r.URL.String(), "headers": r.Header, "body": string(b)})
}

// sink collects a result.
type sink struct {
	cols []connect.Column
	rows [][]any
}

func (s *sink) Columns(cols []connect.Column) error {
	s.cols = append([]connect.Column(nil), cols...)
	return nil
}

func (s *sink) Row(values []any) error {
	s.rows = append(s.rows, append([]any(nil), values...))
	return nil
}

// answer is the one row of a request.
type answer struct {
	Status      int64
	Headers     map[string]string
	ContentType any
	Body        any
	BodyType    string
}

// do sends one request.
func do(tb testing.TB, c *httpapi.Connector, r connect.HTTPRequest, readOnly bool) (answer, error) {
	tb.Helper()
	var s sink
	res, err := c.Query(tb.Context(), connect.Request{HTTP: &r, ReadOnly: readOnly}, &s)
	if err != nil {
		if len(s.rows) != 0 {
			tb.Fatalf("rows were sent before the error %v", err)
		}
		return answer{}, err
	}
	if !res.HasRows || len(s.rows) != 1 || len(s.cols) != 4 {
		tb.Fatalf("result %+v, %d rows, %d columns; want one row of 4", res, len(s.rows), len(s.cols))
	}
	for i, name := range []string{"status", "headers", "content_type", "body"} {
		if s.cols[i].Name != name {
			tb.Fatalf("column %d is %q, want %q", i, s.cols[i].Name, name)
		}
	}
	row := s.rows[0]
	a := answer{Status: row[0].(int64), ContentType: row[2], Body: row[3], BodyType: s.cols[3].Type}
	if err := json.Unmarshal(row[1].(connect.JSON), &a.Headers); err != nil {
		tb.Fatalf("headers are not a JSON object: %v", err)
	}
	return a, nil
}

// MustDo sends one request that must succeed.
func MustDo(tb testing.TB, c *httpapi.Connector, r connect.HTTPRequest) answer {
	tb.Helper()
	a, err := do(tb, c, r, false)
	if err != nil {
		tb.Fatalf("Query: %v", err)
	}
	return a
}

// mustCode checks that err has the code and that its message holds no
// secret and no address.
func mustCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want %s", code)
	}
	if got := querygate.ErrorCode(err); got != code {
		tb.Fatalf("code %s (%s), want %s", got, querygate.ErrorMessage(err), code)
	}
	msg := querygate.ErrorMessage(err)
	for _, c := range canaries {
		if strings.Contains(msg, c) {
			tb.Fatalf("error message holds a secret: %s", msg)
		}
	}
	if code != connect.EEGRESS && strings.Contains(msg, "127.0.0.1") {
		tb.Fatalf("error message holds an address: %s", msg)
	}
}

// noSecret fails when text holds any canary.
func noSecret(tb testing.TB, where, text string) {
	tb.Helper()
	for _, c := range canaries {
		if strings.Contains(text, c) {
			tb.Fatalf("%s holds secret %s: %s", where, c, text)
		}
	}
}

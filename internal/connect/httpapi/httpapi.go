// Package httpapi provides the HTTP datasource connector: it sends one HTTP
// request, resolved under the datasource's base_url, with the credentials
// the gateway holds (bearer token, basic auth, API key, secret headers),
// and hands the response to a connect.Sink as one row: status, a safe list
// of headers, content type and body.
//
// It must never let a request leave base_url (see resolvePath), never let a
// caller's header replace a credential, a hop-by-hop header or
// Accept-Encoding, never send a credential outside base_url (another
// origin, or a path not under base_url's path; redirects included), never
// pass Set-Cookie or an authentication challenge back, never dial except
// through the egress dialer it is given (no proxy from the environment),
// and never put a URL, a header value or a secret in an error.
//
// No secret of the datasource reaches the caller in any form: every
// answer is first decoded from its content coding (gzip, deflate; any
// other is refused), bounded by the response cap, and then the secrets
// are cut from its body and headers whether echoed as sent, in UTF-16 or
// Latin-1, escaped for JSON, HTML or a URL, or in base64 or hex (see
// redact.go); a body that cannot be decoded or cleaned is refused, never
// passed on. JSON nested deeper than MaxJSONDepth is refused.
package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// Defaults and limits.
const (
	// DefaultResponseMax is the response body cap when the operator sets
	// none (--http-response-max).
	DefaultResponseMax = 10 << 20
	// MaxRequestBody caps a request body (the API already caps the whole
	// query request at 1 MiB).
	MaxRequestBody = 1 << 20
	// MaxRedirects is how many redirects one request follows.
	MaxRedirects = 5
	// MaxJSONDepth is the deepest nesting of arrays and objects that a
	// JSON answer may have (encoding/json allows 10000, too deep for the
	// browser and for recursive code downstream).
	MaxJSONDepth   = 512
	defaultTimeout = 30 * time.Second
	defaultConns   = 4
	defaultIdle    = 5 * time.Minute
	userAgent      = "querygate"
)

// methods are the methods a request may use; safe ones are allowed on a
// read-only datasource.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodOptions: true,
	http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Columns of the one row a request returns.
var columns = []string{"status", "headers", "content_type", "body"}

// Connector sends requests to one HTTP datasource. It is safe for
// concurrent use.
type Connector struct {
	base        *base
	defaults    http.Header
	creds       *credentials
	timeout     time.Duration
	responseMax int64
	readOnly    bool
	transport   *http.Transport
	client      *http.Client
	openAPIPath string
}

var _ connect.Connector = (*Connector)(nil)

// rawSettings are the settings and secrets as stored.
type rawSettings struct {
	baseURL       string
	headers       map[string]string
	timeout       time.Duration
	caPEM         string
	insecure      bool
	basicUser     string
	basicPassword string
	basicSet      bool
	apiKeyName    string
	apiKeyIn      string
	bearer        string
	apiKey        string
	secretHeaders map[string]string
	openAPIPath   string
}

// Settings are an HTTP datasource's settings and secrets, checked and
// ready to use (DecodeSettings). They print and log as REDACTED.
type Settings struct {
	connect.Redacted
	base     *base
	defaults http.Header
	creds    *credentials
	timeout  time.Duration
	roots    *x509.CertPool // nil: the system's
	insecure bool
	// openAPIPath is the path, under base_url, of the OpenAPI document a
	// schema read lists (schema.go); empty for none.
	openAPIPath string
}

// DecodeSettings reads and checks a datasource's settings and secrets.
// Settings it cannot use are reported as connect.ECONFIG, naming the
// setting and never its value.
func DecodeSettings(settings map[string]any, secrets connect.Secrets) (*Settings, error) {
	if secrets == nil {
		secrets = connect.NoSecrets{}
	}
	s, err := readSettings(settings, secrets)
	if err != nil {
		return nil, err
	}
	b, err := parseBase(s.baseURL)
	if err != nil {
		return nil, err
	}
	defaults, err := defaultHeaders(s.headers)
	if err != nil {
		return nil, err
	}
	creds, err := buildCredentials(s)
	if err != nil {
		return nil, err
	}
	if s.openAPIPath != "" {
		// Checked now, so that a path that would leave base_url is told
		// when the datasource is saved, and again at every read.
		if _, err := resolvePath(b, s.openAPIPath); err != nil {
			return nil, configError("The setting openapi_path must be a path under base_url.")
		}
	}
	out := &Settings{base: b, defaults: defaults, creds: creds, timeout: s.timeout, insecure: s.insecure, openAPIPath: s.openAPIPath}
	if s.caPEM != "" {
		// Only this authority is trusted, not the system roots as well:
		// the operator named who signs the server's certificate.
		out.roots = x509.NewCertPool()
		if !out.roots.AppendCertsFromPEM([]byte(s.caPEM)) {
			return nil, configError("The setting ca_cert holds no PEM certificate.")
		}
	}
	return out, nil
}

// New returns a connector for a datasource whose settings DecodeSettings
// returned (in cfg.Settings). It does not connect.
func New(cfg connect.Config) (*Connector, error) {
	if cfg.Dial == nil {
		return nil, configError("No egress dialer was given to the HTTP connector.")
	}
	s, ok := cfg.Settings.(*Settings)
	switch {
	case cfg.Settings == nil:
		return nil, configError("The datasource is missing.")
	case !ok || s == nil:
		return nil, configError("The datasource is not an HTTP datasource.")
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.roots}
	// Only with the explicit setting, which the API and UI flag as
	// insecure.
	tlsConf.InsecureSkipVerify = s.insecure
	maxConns, maxIdle := cfg.MaxConns, cfg.MaxIdle
	if maxConns <= 0 {
		maxConns = defaultConns
	}
	if maxIdle <= 0 {
		maxIdle = defaultIdle
	}
	responseMax := cfg.HTTPResponseMax
	if responseMax <= 0 {
		responseMax = DefaultResponseMax
	}
	tr := &http.Transport{
		// Never a proxy from the environment: the connection the egress
		// policy checks must be the one that reaches the datasource.
		Proxy:                  nil,
		DialContext:            cfg.Dial,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        maxIdle,
		MaxIdleConns:           maxConns,
		MaxIdleConnsPerHost:    maxConns,
		MaxConnsPerHost:        maxConns,
		MaxResponseHeaderBytes: 1 << 20,
		// The gateway sets Accept-Encoding itself and decodes every answer
		// (decodeContent), asked for or not, before it looks for secrets.
		DisableCompression: true,
	}
	c := &Connector{base: s.base, defaults: s.defaults, creds: s.creds, timeout: s.timeout, responseMax: responseMax,
		readOnly: cfg.ReadOnly, transport: tr, openAPIPath: s.openAPIPath}
	// No cookie jar: nothing of a response is kept between requests. No
	// client timeout: the request's context carries the deadline.
	c.client = &http.Client{Transport: tr, CheckRedirect: c.checkRedirect}
	return c, nil
}

// readSettings reads the datasource's settings and secrets.
func readSettings(settings map[string]any, secrets connect.Secrets) (*rawSettings, error) {
	str := func(name string) (string, error) {
		switch v := settings[name].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		}
		return "", configError("The setting %s must be text.", name)
	}
	s := &rawSettings{timeout: defaultTimeout}
	var err error
	for name, dst := range map[string]*string{"base_url": &s.baseURL, "ca_cert": &s.caPEM, "basic_user": &s.basicUser,
		"api_key_name": &s.apiKeyName, "api_key_in": &s.apiKeyIn, "openapi_path": &s.openAPIPath} {
		if *dst, err = str(name); err != nil {
			return nil, err
		}
	}
	if s.baseURL == "" {
		return nil, configError("The setting base_url is required.")
	}
	switch v := settings["timeout_ms"].(type) {
	case nil:
	case int:
		s.timeout = time.Duration(v) * time.Millisecond
	case int64:
		s.timeout = time.Duration(v) * time.Millisecond
	case float64:
		s.timeout = time.Duration(v) * time.Millisecond
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return nil, configError("The setting timeout_ms must be a whole number.")
		}
		s.timeout = time.Duration(n) * time.Millisecond
	default:
		return nil, configError("The setting timeout_ms must be a whole number.")
	}
	if s.timeout <= 0 {
		return nil, configError("The setting timeout_ms must be positive.")
	}
	switch v := settings["insecure_skip_verify"].(type) {
	case nil:
	case bool:
		s.insecure = v
	default:
		return nil, configError("The setting insecure_skip_verify must be true or false.")
	}
	switch v := settings["headers"].(type) {
	case nil:
	case map[string]string:
		s.headers = v
	case map[string]any:
		s.headers = make(map[string]string, len(v))
		for k, hv := range v {
			str, ok := hv.(string)
			if !ok {
				return nil, configError("The setting headers must map header names to text.")
			}
			s.headers[k] = str
		}
	default:
		return nil, configError("The setting headers must map header names to text.")
	}
	if v, ok := secrets.Get("bearer_token"); ok {
		s.bearer = v.Reveal()
	}
	if v, ok := secrets.Get("basic_password"); ok {
		s.basicPassword = v.Reveal()
		if s.basicUser == "" {
			return nil, configError("The setting basic_user is required with a basic auth password.")
		}
	}
	s.basicSet = s.basicUser != ""
	if v, ok := secrets.Get("api_key"); ok {
		s.apiKey = v.Reveal()
	}
	if h := secrets.Headers("secret_headers"); len(h) > 0 {
		s.secretHeaders = make(map[string]string, len(h))
		for k, v := range h {
			s.secretHeaders[k] = v.Reveal()
		}
	}
	return s, nil
}

// Close closes the idle connections; requests still running finish.
func (c *Connector) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// Ping sends HEAD to base_url with the credentials. Any HTTP answer counts
// as reachable (even 404 or 405), except 401 and 403, which mean the
// server refused the credentials.
func (c *Connector) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base.url(nil, false)
	if c.creds.queryName != "" {
		u.RawQuery = url.Values{c.creds.queryName: {c.creds.queryValue}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return configError("The setting base_url cannot be requested.")
	}
	c.setHeaders(req.Header, nil)
	resp, err := c.client.Do(req)
	if err != nil {
		return mapError(ctx, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return connect.Errorf(connect.EAUTH, "The server refused the datasource's credentials (HTTP %d).", resp.StatusCode)
	}
	return nil
}

// setHeaders fills h: the User-Agent and the datasource's plain headers,
// then the caller's (already checked), then the credentials and
// Accept-Encoding, which nothing overrides.
func (c *Connector) setHeaders(h http.Header, caller http.Header) {
	h.Set("User-Agent", userAgent)
	for k, v := range c.defaults {
		h[k] = v
	}
	for k, v := range caller {
		h[k] = v
	}
	for k, v := range c.creds.header {
		h[k] = v
	}
	h.Set("Accept-Encoding", acceptEncoding)
}

// Query sends req.HTTP and streams the answer into sink as one row:
// status (int), headers (a JSON object of the passed headers),
// content_type (text) and body (JSON, text or bytes, by content type).
// Upstream 4xx and 5xx answers are data, not errors.
func (c *Connector) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	// The datasource's timeout, within the query's own deadline.
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hr, err := c.build(ctx, req)
	if err != nil {
		return connect.Result{}, err
	}
	resp, err := c.client.Do(hr)
	if err != nil {
		return connect.Result{}, mapError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := c.readBody(ctx, resp)
	if err != nil {
		return connect.Result{}, err
	}
	body, decoded, err := decodeContent(resp.Header, raw, c.responseMax)
	if err != nil {
		return connect.Result{}, err
	}
	body, ok := c.creds.secrets.Redact(body)
	if !ok {
		return connect.Result{}, connect.Errorf(connect.EQUERY,
			"The server's answer holds a secret of the datasource in a form the gateway cannot cut out, so it is not passed on.")
	}
	// The caller sees the decoded body: the length and coding of what
	// came over the wire (which could tell how much was cut) stay here.
	changed := decoded || len(body) != len(raw)
	ct := resp.Header.Get("Content-Type")
	value, typ, err := render(ct, body)
	if err != nil {
		return connect.Result{}, err
	}
	cols := make([]connect.Column, len(columns))
	for i, name := range columns {
		cols[i] = connect.Column{Name: name}
	}
	cols[0].Type, cols[1].Type, cols[2].Type, cols[3].Type = "int", "json", "text", typ
	res := connect.Result{HasRows: true, RowsAffected: -1}
	if err := sink.Columns(cols); err != nil {
		return res, stopped(err)
	}
	var ctValue any
	if ct != "" && !c.creds.secrets.Contains([]byte(ct)) {
		ctValue = ct
	}
	row := []any{int64(resp.StatusCode), c.responseHeaders(resp, changed), ctValue, value}
	if err := sink.Row(row); err != nil {
		return res, stopped(err)
	}
	return res, nil
}

// build checks req and makes the request to send (with context ctx).
func (c *Connector) build(ctx context.Context, req connect.Request) (*http.Request, error) {
	r := req.HTTP
	if r == nil {
		return nil, querygate.FieldErrorf("path", "path: an HTTP datasource takes a request: method, path, query, headers, body")
	}
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !methods[method] {
		return nil, querygate.FieldErrorf("method", "method: must be one of GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE")
	}
	if (req.ReadOnly || c.readOnly) && !safeMethod(method) {
		return nil, connect.Errorf(connect.EREADONLY, "This datasource is read-only: only GET, HEAD and OPTIONS requests are allowed.")
	}
	u, err := resolvePath(c.base, r.Path)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for k, vs := range r.Query {
		if c.creds.queryName != "" && strings.EqualFold(k, c.creds.queryName) {
			return nil, querygate.FieldErrorf("query", "query: a parameter that carries the datasource's API key cannot be sent by the caller")
		}
		q[k] = append([]string(nil), vs...)
	}
	if c.creds.queryName != "" {
		q.Set(c.creds.queryName, c.creds.queryValue)
	}
	u.RawQuery = q.Encode()
	caller := http.Header{}
	if err := c.creds.callerHeaders(caller, r.Headers); err != nil {
		return nil, err
	}
	body, contentType, err := requestBody(r.Body)
	if err != nil {
		return nil, err
	}
	if body != nil && method == http.MethodHead {
		return nil, querygate.FieldErrorf("body", "body: a HEAD request has no body")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, pathError("cannot be requested")
	}
	c.setHeaders(hr.Header, caller)
	if body != nil && hr.Header.Get("Content-Type") == "" {
		hr.Header.Set("Content-Type", contentType)
	}
	return hr, nil
}

// requestBody reads the caller's JSON body: absent or null sends none, a
// JSON string sends its text (text/plain), any other JSON value is sent as
// is (application/json). The caller's Content-Type, if any, wins.
func requestBody(raw json.RawMessage) ([]byte, string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	if len(raw) > MaxRequestBody+2 {
		return nil, "", querygate.Errorf(querygate.ETOOLARGE, "The request body is larger than 1 MiB.")
	}
	if !json.Valid(raw) {
		return nil, "", querygate.FieldErrorf("body", "body: must be a JSON value")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "", querygate.FieldErrorf("body", "body: must be a JSON value")
		}
		if len(s) > MaxRequestBody {
			return nil, "", querygate.Errorf(querygate.ETOOLARGE, "The request body is larger than 1 MiB.")
		}
		return []byte(s), "text/plain; charset=utf-8", nil
	}
	if len(raw) > MaxRequestBody {
		return nil, "", querygate.Errorf(querygate.ETOOLARGE, "The request body is larger than 1 MiB.")
	}
	return raw, "application/json", nil
}

// checkRedirect follows at most MaxRedirects redirects, never from https
// to http nor to another scheme. Each hop dials through the egress dialer
// (a new connection is checked against the policy). Once the chain has
// left base_url, no hop carries the credentials again: the injected
// headers, Authorization, Cookie and the API key query parameter are
// removed, and no Referer (which could carry the API key of the previous
// URL) is sent unless the caller set one. Leaving base_url means another
// origin (scheme, host or port) or a path that is not base_url's path or
// below it on a segment boundary (base.under: /api/v1 holds /api/v1/x,
// never /api/v10 nor /other; a dot segment, raw or encoded, an encoded
// slash or backslash, or an empty segment counts as leaving).
//
// Such a redirect is followed without credentials rather than refused, as
// for another origin: an API that sends a client to a download or a
// status page elsewhere on its host keeps working, and what must never
// leave base_url (the credentials) does not.
func (c *Connector) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return connect.Errorf(connect.EQUERY, "The server redirected more than %d times; querygate follows at most %d redirects.", MaxRedirects, MaxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return connect.Errorf(connect.EQUERY, "The server redirected to a URL that is not http or https.")
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return querygate.Errorf(querygate.EFORBIDDEN, "The server redirected from HTTPS to plain HTTP; querygate does not follow such redirects.")
	}
	if req.URL.User != nil {
		return connect.Errorf(connect.EQUERY, "The server redirected to a URL with user information; querygate does not follow such redirects.")
	}
	left := !c.base.under(req.URL)
	for _, v := range via {
		left = left || !c.base.under(v.URL)
	}
	if ref := via[0].Header.Values("Referer"); len(ref) > 0 {
		req.Header["Referer"] = ref
	} else {
		req.Header.Del("Referer")
	}
	if left {
		for name := range c.creds.names {
			req.Header.Del(name)
		}
		req.Header.Del("Authorization")
		req.Header.Del("Cookie")
		if c.creds.queryName != "" && req.URL.RawQuery != "" {
			q := req.URL.Query()
			for k, vs := range q {
				if strings.EqualFold(k, c.creds.queryName) {
					delete(q, k)
					continue
				}
				for _, v := range vs {
					if c.creds.secrets.Contains([]byte(v)) {
						delete(q, k)
					}
				}
			}
			req.URL.RawQuery = q.Encode()
		}
	}
	return nil
}

// readBody reads the response body up to the cap. A body over the cap
// fails the request (querygate.ETOOLARGE) rather than being cut: a cut
// JSON document or file would be mistaken for the whole.
func (c *Connector) readBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	tooLarge := errTooLarge(c.responseMax)
	if resp.ContentLength > c.responseMax {
		return nil, tooLarge
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, c.responseMax+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, mapError(ctx, err)
		}
		return nil, connect.Errorf(connect.EUNREACHABLE, "The connection to the server was lost while reading the response.")
	}
	if n > c.responseMax {
		return nil, tooLarge
	}
	return buf.Bytes(), nil
}

// responseHeaders returns the passed headers as a JSON object: only
// allow-listed names, Location only when it points under base_url, and
// never a value that holds one of the datasource's secrets in any form
// (see redact.go). When the body was decoded or redacted (changed),
// Content-Length and Content-Encoding, which describe the body as it came
// over the wire, are not passed.
func (c *Connector) responseHeaders(resp *http.Response, changed bool) connect.JSON {
	out := map[string]string{}
	for name, vs := range resp.Header {
		if !passes(name) || len(vs) == 0 {
			continue
		}
		if changed && (name == "Content-Length" || name == "Content-Encoding") {
			continue
		}
		v := strings.Join(vs, ", ")
		if c.creds.secrets.Contains([]byte(v)) {
			continue
		}
		if name == "Location" {
			loc, err := resp.Request.URL.Parse(vs[0])
			if err != nil || len(vs) != 1 || !c.base.under(loc) {
				continue
			}
		}
		out[name] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		return connect.JSON("{}")
	}
	return connect.JSON(b)
}

// render turns a body into a connect value by its content type: valid JSON
// of a JSON type (application/json, */*+json) is JSON; valid UTF-8 of a
// text type (text/*, JSON, XML, YAML, JavaScript, form data, NDJSON), or of
// a response without a content type, is text; anything else is bytes
// (base64 in the result). An empty body is null. typ is the column type:
// json, text or bytes. JSON that nests deeper than MaxJSONDepth is refused
// (querygate.ETOOLARGE), not passed on as JSON nor as text.
func render(contentType string, body []byte) (value any, typ string, err error) {
	if len(body) == 0 {
		return nil, "text", nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = ""
	}
	if isJSONType(mt) {
		if jsonDepth(body) > MaxJSONDepth {
			return nil, "", querygate.Errorf(querygate.ETOOLARGE,
				"The server's JSON answer nests deeper than %d levels; the gateway does not pass on such documents.", MaxJSONDepth)
		}
		if json.Valid(body) {
			return connect.JSON(body), "json", nil
		}
	}
	if (mt == "" || isTextType(mt)) && utf8.Valid(body) {
		return string(body), "text", nil
	}
	return body, "bytes", nil
}

// jsonDepth returns the deepest nesting of arrays and objects in b, read
// as JSON (strings skipped, escapes honoured); b need not be valid.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	return deepest
}

func isJSONType(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func isTextType(mt string) bool {
	switch mt {
	case "application/xml", "application/javascript", "application/ecmascript", "application/x-www-form-urlencoded",
		"application/yaml", "application/x-yaml", "application/x-ndjson", "application/ndjson", "application/graphql",
		"application/problem+xml", "application/sql", "application/csv":
		return true
	}
	return strings.HasPrefix(mt, "text/") || isJSONType(mt) || strings.HasSuffix(mt, "+xml") || strings.HasSuffix(mt, "+yaml")
}

// stopped turns the sink's connect.ErrStop into the end of the result.
func stopped(err error) error {
	if errors.Is(err, connect.ErrStop) {
		return nil
	}
	return err
}

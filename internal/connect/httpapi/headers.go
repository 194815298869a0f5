package httpapi

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// Limits on the caller's headers.
const (
	maxHeaders     = 100
	maxHeaderName  = 128
	maxHeaderValue = 8 << 10
)

// reserved are headers that only the gateway or its transport may set:
// the hop-by-hop headers of RFC 9110 section 7.6.1 (and every Proxy-*
// header), Host (the request goes to base_url's host), Content-Length (the
// body decides it) and Expect (the transport handles 100-continue).
// Neither the caller nor the datasource's plain or secret headers may name
// them. Cookie is not among them: the gateway keeps no cookie jar, so a
// caller's Cookie header is the caller's own value, like any other header
// (unless the datasource sends a Cookie among its secret headers; then it
// is a credential and the caller cannot override it).
var reserved = map[string]bool{
	"connection": true, "keep-alive": true, "te": true, "trailer": true, "transfer-encoding": true,
	"upgrade": true, "host": true, "content-length": true, "expect": true,
}

// isReserved reports whether a header name (any case) is reserved.
func isReserved(name string) bool {
	l := strings.ToLower(name)
	return reserved[l] || strings.HasPrefix(l, "proxy-")
}

// credentials are what the gateway injects into every request to base_url's
// origin, and only there.
type credentials struct {
	// header holds Authorization (bearer or basic), the API key header and
	// the secret headers, canonical names.
	header http.Header
	// names are the lower-case names of the headers in header: the caller
	// may never send them, and they are removed on a redirect that leaves
	// base_url's origin.
	names map[string]bool
	// queryName and queryValue are the API key sent as a query parameter.
	queryName, queryValue string
	// secrets finds the secret values in every form an upstream might
	// echo them; they are cut from every response body and header (see
	// redact.go).
	secrets connect.Detector
}

// configError is a settings problem; messages name settings, never values.
func configError(format string, args ...any) error {
	return connect.Errorf(connect.ECONFIG, format, args...)
}

// buildCredentials reads the credentials from the settings and secrets and
// checks that they cannot collide: one Authorization at most, an API key
// name and secret header names that are valid, not reserved and distinct.
func buildCredentials(s *rawSettings) (*credentials, error) {
	c := &credentials{header: http.Header{}, names: map[string]bool{}}
	set := func(name, value, what string) error {
		l := strings.ToLower(name)
		if c.names[l] {
			return configError("The %s would set a header that another credential of the datasource already sets.", what)
		}
		if !validValue(value) {
			return configError("The %s must not contain control characters.", what)
		}
		c.names[l] = true
		c.header.Set(name, value)
		return nil
	}
	if s.bearer != "" && s.basicSet {
		return nil, configError("A datasource sends either a bearer token or basic auth credentials, not both.")
	}
	if s.bearer != "" {
		if err := set("Authorization", "Bearer "+s.bearer, "bearer token"); err != nil {
			return nil, err
		}
		c.secrets.Add(s.bearer)
	}
	if s.basicSet {
		if strings.Contains(s.basicUser, ":") {
			return nil, configError("The setting basic_user must not contain a colon.")
		}
		token := base64.StdEncoding.EncodeToString([]byte(s.basicUser + ":" + s.basicPassword))
		if !validValue(s.basicPassword) {
			return nil, configError("The basic auth password must not contain control characters.")
		}
		if err := set("Authorization", "Basic "+token, "basic auth setting"); err != nil {
			return nil, err
		}
		c.secrets.Add(token)
		c.secrets.Add(s.basicPassword)
	}
	if s.apiKey != "" {
		if s.apiKeyName == "" {
			return nil, configError("The setting api_key_name is required with an API key.")
		}
		switch s.apiKeyIn {
		case "", "header":
			if !validName(s.apiKeyName) || isReserved(s.apiKeyName) {
				return nil, configError("The setting api_key_name must be a header name that is not hop-by-hop, Host or Content-Length.")
			}
			if err := set(s.apiKeyName, s.apiKey, "API key"); err != nil {
				return nil, err
			}
		case "query":
			c.queryName, c.queryValue = s.apiKeyName, s.apiKey
		default:
			return nil, configError("The setting api_key_in must be header or query.")
		}
		c.secrets.Add(s.apiKey)
	}
	for name, v := range s.secretHeaders {
		if !validName(name) || isReserved(name) {
			return nil, configError("A secret header has a name that is not a valid header name, or one that is hop-by-hop, Host or Content-Length.")
		}
		if err := set(name, v, "secret header"); err != nil {
			return nil, err
		}
		c.secrets.Add(v)
	}
	return c, nil
}

// defaultHeaders checks the datasource's plain headers.
func defaultHeaders(m map[string]string) (http.Header, error) {
	h := http.Header{}
	for name, v := range m {
		if !validName(name) || isReserved(name) {
			return nil, configError("The setting headers names a header that is not valid, or hop-by-hop, Host or Content-Length.")
		}
		if !validValue(v) {
			return nil, configError("The setting headers holds a value with control characters.")
		}
		h.Set(name, v)
	}
	return h, nil
}

// headerError is the refusal of a caller's header. It names the header
// only when the name is one of the fixed reserved ones.
func headerError(format string, args ...any) error {
	return querygate.FieldErrorf("headers", "headers: "+format, args...)
}

// callerHeaders checks the caller's headers and adds them to h (which holds
// the datasource's plain headers, which the caller may override). The
// caller can never set a reserved header nor one the credentials set.
func (c *credentials) callerHeaders(h http.Header, in map[string]string) error {
	if len(in) > maxHeaders {
		return headerError("at most %d headers", maxHeaders)
	}
	for name, v := range in {
		if !validName(name) {
			return headerError("a header name is not a valid HTTP header name")
		}
		if isReserved(name) {
			return headerError("%s is set by the gateway and cannot be sent (hop-by-hop, Proxy-*, Host, Content-Length and Expect are reserved)", reservedName(name))
		}
		if c.names[strings.ToLower(name)] {
			return headerError("a header that the datasource's credentials set cannot be sent by the caller")
		}
		if len(v) > maxHeaderValue {
			return headerError("a header value is longer than %d bytes", maxHeaderValue)
		}
		if !validValue(v) {
			return headerError("a header value must not contain CR, LF or other control characters")
		}
	}
	for name, v := range in {
		h.Set(name, v)
	}
	return nil
}

// reservedName returns the canonical name of a reserved header, for
// messages (never the caller's spelling of another header).
func reservedName(name string) string {
	l := strings.ToLower(name)
	if strings.HasPrefix(l, "proxy-") {
		return "Proxy-*"
	}
	return http.CanonicalHeaderKey(l)
}

// validName reports whether s is an RFC 9110 token of reasonable length.
func validName(s string) bool {
	if s == "" || len(s) > maxHeaderName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validValue reports whether v is a header value without control
// characters (horizontal tab allowed): no CR or LF can split a header.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// passed are the response headers shown to the caller, besides the
// RateLimit-* and X-RateLimit-* families. Everything else stays in the
// gateway: Set-Cookie, WWW-Authenticate, Proxy-Authenticate, and whatever
// an upstream might echo (Authorization, custom headers).
var passed = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Content-Encoding": true, "Content-Language": true,
	"Content-Range": true, "Accept-Ranges": true, "Allow": true, "Cache-Control": true, "Expires": true,
	"Age": true, "Etag": true, "Last-Modified": true, "Date": true, "Vary": true, "Link": true,
	"Retry-After": true, "X-Request-Id": true, "X-Correlation-Id": true, "X-Total-Count": true,
	"Location": true, // only when it points under base_url; see responseHeaders
}

// passes reports whether a response header (canonical name) is shown.
func passes(name string) bool {
	return passed[name] || name == "Ratelimit" || strings.HasPrefix(name, "Ratelimit-") || strings.HasPrefix(name, "X-Ratelimit-")
}

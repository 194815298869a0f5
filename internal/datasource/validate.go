package datasource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/querygate/querygate"
)

// Limits on input sizes.
const (
	maxString     = 1024
	maxSecret     = 64 << 10
	maxPEM        = 64 << 10
	maxHeaders    = 64
	maxName       = 100
	maxHeaderName = 128
)

// decodeValue validates one raw JSON value against its field and returns the
// normalised Go value (string, int64, bool or map[string]string). The
// prefix ("settings" or "secrets") is used to name the field in errors.
// Messages never echo secret input.
func decodeValue(prefix string, f Field, raw json.RawMessage) (any, error) {
	name := prefix + "." + f.Name
	bad := func(format string, args ...any) error {
		return querygate.FieldErrorf(name, "%s: "+format, append([]any{name}, args...)...)
	}
	switch f.Type {
	case TypeString, TypeHost, TypeEnum, TypeURL, TypePath, TypePEM:
		var s string
		if err := strictUnmarshal(raw, &s); err != nil {
			return nil, bad("must be a string")
		}
		limit := maxString
		if f.Secret {
			limit = maxSecret
		}
		if f.Type == TypePEM {
			limit = maxPEM
		}
		if len(s) > limit {
			return nil, bad("is too long (at most %d bytes)", limit)
		}
		if !utf8.ValidString(s) {
			return nil, bad("must be valid UTF-8")
		}
		if s == "" {
			if f.Secret {
				return nil, bad("must not be empty; send null to clear it")
			}
			return nil, bad("must not be empty")
		}
		if f.Type != TypePEM && hasControl(s) {
			return nil, bad("must not contain control characters")
		}
		switch f.Type {
		case TypeHost:
			if !validHost(s) {
				return nil, bad("must be a host name or an IP address, without spaces, port or scheme")
			}
		case TypeEnum:
			if !contains(f.Enum, s) {
				return nil, bad("must be one of %s", strings.Join(f.Enum, ", "))
			}
		case TypeURL:
			if err := validURL(s); err != "" {
				return nil, bad("%s", err)
			}
		case TypePath:
			if !filepath.IsAbs(s) || strings.ContainsRune(s, 0) {
				return nil, bad("must be an absolute file path")
			}
			s = filepath.Clean(s)
		case TypePEM:
			if !strings.Contains(s, "-----BEGIN ") || strings.ContainsRune(s, 0) {
				return nil, bad("must be PEM text (-----BEGIN ...)")
			}
		}
		return s, nil
	case TypePort, TypeInt:
		var n int64
		if err := strictUnmarshal(raw, &n); err != nil {
			return nil, bad("must be a whole number")
		}
		lo, hi := int64(f.Min), int64(f.Max)
		if f.Type == TypePort {
			lo, hi = 1, 65535
		}
		if n < lo || n > hi {
			return nil, bad("must be between %d and %d", lo, hi)
		}
		return n, nil
	case TypeBool:
		var b bool
		if err := strictUnmarshal(raw, &b); err != nil {
			return nil, bad("must be true or false")
		}
		return b, nil
	case TypeHeaders:
		var m map[string]string
		if err := strictUnmarshal(raw, &m); err != nil {
			return nil, bad("must be an object of header names to string values")
		}
		if len(m) > maxHeaders {
			return nil, bad("has too many headers (at most %d)", maxHeaders)
		}
		for k, v := range m {
			if !validHeaderName(k) {
				return nil, bad("holds an invalid header name")
			}
			if len(v) > maxString || hasControl(v) || !utf8.ValidString(v) {
				return nil, bad("holds an invalid value for header %s (no control characters, at most %d bytes)", k, maxString)
			}
		}
		return m, nil
	}
	return nil, bad("has an unknown type")
}

// strictUnmarshal decodes exactly one JSON value of the target's type.
func strictUnmarshal(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// validHost accepts an IP address or an RFC 1123 host name.
func validHost(s string) bool {
	if len(s) > 253 {
		return false
	}
	if net.ParseIP(s) != nil {
		return true
	}
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validURL returns "" or a sentence saying what is wrong with an HTTP base
// URL. Credentials belong in secrets, never in the URL, which is stored in
// clear.
func validURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "must be a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.User != nil:
		return "must not contain a user name or password; use the secret fields"
	case u.Host == "" || !validHost(u.Hostname()):
		return "must name a valid host"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not contain a fragment (#)"
	case u.RawQuery != "":
		return "must not contain a query string; use the query of each request"
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return "has an invalid port"
		}
	}
	return ""
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > maxHeaderName {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validName checks a datasource name.
func validName(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return querygate.FieldErrorf("name", "name: must not be empty")
	case len(s) > maxName:
		return querygate.FieldErrorf("name", "name: is too long (at most %d bytes)", maxName)
	case !utf8.ValidString(s) || hasControl(s):
		return querygate.FieldErrorf("name", "name: must not contain control characters")
	case s != strings.TrimSpace(s):
		return querygate.FieldErrorf("name", "name: must not start or end with spaces")
	}
	return nil
}

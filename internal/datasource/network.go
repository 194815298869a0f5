package datasource

import (
	"net"
	"net/url"
	"strconv"

	"github.com/querygate/querygate"
)

// Destination returns the host:port a datasource of kind with settings
// connects to, for the egress pre-check; false for kinds without a network
// destination (SQLite) or settings without one.
func Destination(kind string, settings map[string]any) (string, bool) {
	switch kind {
	case KindPostgres, KindMySQL, KindRedis:
		host, _ := settings["host"].(string)
		if host == "" {
			return "", false
		}
		port := 0
		switch p := settings["port"].(type) {
		case float64:
			port = int(p)
		case int:
			port = p
		case int64:
			port = int(p)
		}
		if port == 0 {
			if k, ok := FindKind(kind); ok {
				if f, ok := k.Field("port"); ok {
					if d, ok := f.Default.(int); ok {
						port = d
					}
				}
			}
		}
		return net.JoinHostPort(host, strconv.Itoa(port)), port > 0
	case KindHTTP:
		raw, _ := settings["base_url"].(string)
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return "", false
		}
		port := u.Port()
		if port == "" {
			port = "80"
			if u.Scheme == "https" {
				port = "443"
			}
		}
		return net.JoinHostPort(u.Hostname(), port), true
	}
	return "", false
}

// VerifiedTLS returns nil when a datasource of kind with settings connects
// only over TLS whose certificate (and, where the kind checks it, host
// name) is verified, and otherwise an EINVALID error naming the setting to
// change. SQLite opens local files and always passes.
func VerifiedTLS(kind string, settings map[string]any) error {
	str := func(name string) string { s, _ := settings[name].(string); return s }
	switch kind {
	case KindPostgres:
		if m := str("sslmode"); m != "verify-full" && m != "verify-ca" {
			return tlsRequired("settings.sslmode", "set sslmode to verify-full (or verify-ca)")
		}
	case KindMySQL:
		if m := str("tls"); m != "verify-full" && m != "verify-ca" {
			return tlsRequired("settings.tls", "set tls to verify-full (or verify-ca)")
		}
	case KindRedis:
		if m := str("tls"); m != "verify-full" {
			return tlsRequired("settings.tls", "set tls to verify-full")
		}
	case KindHTTP:
		if u, err := url.Parse(str("base_url")); err != nil || u.Scheme != "https" {
			return tlsRequired("settings.base_url", "use an https base URL")
		}
		if skip, _ := settings["insecure_skip_verify"].(bool); skip {
			return tlsRequired("settings.insecure_skip_verify", "turn insecure_skip_verify off")
		}
	}
	return nil
}

func tlsRequired(field, fix string) error {
	return &querygate.Error{Code: querygate.EINVALID, Field: field,
		Message: field + ": this gateway requires verified TLS for every datasource (--require-datasource-tls): " + fix}
}

package kit

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/querygate/querygate"
)

// Ingress is the operator's client policy.
type Ingress struct {
	// AllowClients, when not empty, lists the only client addresses that
	// may reach the gateway.
	AllowClients []netip.Prefix
	// TrustedProxies lists the peers whose X-Forwarded-For or Forwarded
	// header names the client. From any other peer those headers are
	// ignored, so a client cannot pick its own address.
	TrustedProxies []netip.Prefix
}

type clientKey struct{}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client: the peer, or, when the peer is
// a trusted proxy, the nearest address in its forwarding headers that is
// not itself a trusted proxy (headers are read from the right, the hop
// nearest to us, so entries a client wrote itself at the left are never
// believed).
func (in *Ingress) clientAddr(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := peer.Addr().Unmap()
	if len(in.TrustedProxies) == 0 || !contains(in.TrustedProxies, a) {
		return a
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(hops[i])
		if err != nil {
			return a // a hop we cannot read: stop at the last trusted one
		}
		h = h.Unmap()
		if !contains(in.TrustedProxies, h) {
			return h
		}
		a = h
	}
	return a
}

// forwardedFor lists the client addresses of the Forwarded (RFC 7239)
// header, or else of X-Forwarded-For, left to right.
func forwardedFor(h http.Header) []string {
	var out []string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for _, elem := range strings.Split(line, ",") {
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if !ok || !strings.EqualFold(k, "for") {
						continue
					}
					v = strings.Trim(v, `"`)
					if host, _, err := net.SplitHostPort(v); err == nil {
						v = host
					}
					out = append(out, strings.Trim(v, "[]"))
				}
			}
		}
		return out
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, part := range strings.Split(line, ",") {
			out = append(out, strings.TrimSpace(part))
		}
	}
	return out
}

var errClientNotAllowed = querygate.Errorf(querygate.EFORBIDDEN, "This client address may not reach the gateway.")

// ingress finds the client's address, refuses clients outside
// AllowClients before any handler runs, and keeps the address for the
// logs, the audit trail and login throttling.
func (s *Base) ingress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.ingressPolicy.clientAddr(r)
		if len(s.ingressPolicy.AllowClients) > 0 && (!a.IsValid() || !contains(s.ingressPolicy.AllowClients, a)) {
			s.Adapt(func(http.ResponseWriter, *http.Request) error { return errClientNotAllowed }).ServeHTTP(w, r)
			return
		}
		if a.IsValid() {
			r = r.WithContext(context.WithValue(r.Context(), clientKey{}, a))
		}
		next.ServeHTTP(w, r)
	})
}

// RemoteHost is the client's address (see ingress), without a port.
func RemoteHost(r *http.Request) string {
	if a, ok := r.Context().Value(clientKey{}).(netip.Addr); ok {
		return a.String()
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

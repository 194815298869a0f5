package egress

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Resolver looks host names up. *net.Resolver implements it. Errors are
// returned to the caller wrapped, so a *net.DNSError stays reachable with
// errors.As.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Options configure a Dialer. The zero Options give the default policy, the
// system resolver and a plain TCP connect step.
type Options struct {
	// Policy decides which destinations are allowed; nil means
	// DefaultPolicy().
	Policy *Policy
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver Resolver
	// Connect opens a connection to an IP address and port ("10.0.0.5:5432",
	// "[fd00::5]:5432"); it is never given a host name. nil means a
	// net.Dialer with a 10 s timeout and TCP keep-alive, bound to SourceIP
	// when that is set, which checks the policy once more just before the
	// connect system call. Tests replace it to see where the Dialer would
	// connect without sending a packet.
	Connect func(ctx context.Context, network, address string) (net.Conn, error)
	// SourceIP, when set, is the local address every connection is made
	// from, so that datasource firewalls can allow-list the gateway. Only
	// destinations of its address family are then tried. The default
	// Connect binds to it; a custom Connect must do so itself.
	SourceIP netip.Addr
}

// Dialer is the one dialer every connector uses. Its DialContext has the
// signature of connect.DialFunc and net.Dialer.DialContext. It is safe for
// concurrent use.
type Dialer struct {
	policy   *Policy
	resolver Resolver
	connect  func(ctx context.Context, network, address string) (net.Conn, error)
	source   netip.Addr
}

// Connect-step settings of the default net.Dialer.
const (
	connectTimeout = 10 * time.Second
	keepAlive      = 30 * time.Second
)

// NewDialer returns a Dialer with the given options.
func NewDialer(o Options) *Dialer {
	d := &Dialer{policy: o.Policy, resolver: o.Resolver, connect: o.Connect, source: o.SourceIP.Unmap()}
	if d.policy == nil {
		d.policy = DefaultPolicy()
	}
	if d.resolver == nil {
		d.resolver = net.DefaultResolver
	}
	if d.source.IsUnspecified() {
		d.source = netip.Addr{} // binding to 0.0.0.0 or :: is no binding
	}
	if d.connect == nil {
		nd := &net.Dialer{Timeout: connectTimeout, KeepAlive: keepAlive, Control: d.control}
		if d.source.IsValid() {
			nd.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(d.source, 0))
		}
		d.connect = nd.DialContext
	}
	return d
}

// SourceIP returns the local address connections are made from, or the zero
// Addr when the system chooses it.
func (d *Dialer) SourceIP() netip.Addr { return d.source }

// Policy returns the policy the Dialer enforces.
func (d *Dialer) Policy() *Policy { return d.policy }

// control runs in the default net.Dialer after the socket is made and before
// connect(2). The address is always an IP literal here, so this check is a
// second lock behind the one in Lookup, not the main one.
func (d *Dialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return deniedError(netip.AddrPort{}, reasonInvalid)
	}
	if reason, denied := d.policy.denyVerdict(ap); denied {
		return deniedError(ap, reason)
	}
	return nil
}

// DialContext connects to address ("host:port") over network, which must be
// "tcp", "tcp4" or "tcp6". It resolves the host once with Lookup, which
// checks every address against the policy, then connects to those addresses
// in order, by IP, until one answers. Nothing is sent before the policy has
// allowed every address of the host.
//
// Errors: a refusal by the policy is a *querygate.Error with code EDENIED,
// and an unusable network or address one with code querygate.EINVALID;
// resolver and connection failures are wrapped, so *net.DNSError and
// *net.OpError are reachable with errors.As and a cancelled or expired ctx
// with errors.Is.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	aps, err := d.Lookup(ctx, network, address)
	if err != nil {
		return nil, err
	}
	var first error
	for _, ap := range aps {
		if err := ctx.Err(); err != nil {
			if first == nil {
				first = err
			}
			break
		}
		conn, err := d.connect(ctx, network, ap.String())
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, fmt.Errorf("egress: dial %s: %w", address, first)
}

// Lookup resolves address ("host:port") as DialContext does and checks every
// answer against the policy, without connecting. It returns the addresses
// DialContext would try, in order. Use it to tell an operator that a
// datasource's host is denied before any connection is tried.
//
// An IP address, in any spelling ParseHost accepts, is not looked up. A host
// name is looked up once; when any of its addresses is denied the whole name
// is refused, since a name that mixes allowed and denied answers is an
// attack on the check. Errors are those of DialContext.
func (d *Dialer) Lookup(ctx context.Context, network, address string) ([]netip.AddrPort, error) {
	var family int // 0: both, 4 or 6
	switch network {
	case "tcp":
	case "tcp4":
		family = 4
	case "tcp6":
		family = 6
	default:
		return nil, invalidError("The network %q is not allowed for outbound connections; only TCP is.", safeQuote(network))
	}
	if d.source.IsValid() {
		f := bits(d.source)
		if family != 0 && family != f {
			return nil, invalidError("Connections over %s cannot be made from the source address %s.", network, d.source)
		}
		family = f
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, invalidError("The destination %q is not a host and port.", safeQuote(address))
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return nil, invalidError("The port %q is not a number from 1 to 65535.", safeQuote(portText))
	}
	if host == "" {
		return nil, deniedError(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), reasonUnspecified)
	}
	addr, isAddr, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("egress: dial %s: %w", address, err)
	}

	if isAddr {
		ap := netip.AddrPortFrom(addr, uint16(port))
		if reason, denied := d.policy.verdict(ap); denied {
			if host != addr.String() { // an odd spelling: show what it means
				return nil, nameDeniedError(host, ap, reason)
			}
			return nil, deniedError(ap, reason)
		}
		ap = netip.AddrPortFrom(addr.Unmap(), ap.Port())
		if family != 0 && bits(ap.Addr()) != family {
			return nil, fmt.Errorf("egress: dial %s: %w", address,
				&net.AddrError{Err: "no suitable address for " + network + familyNote(d.source), Addr: host})
		}
		return []netip.AddrPort{ap}, nil
	}

	// Both families are looked up whatever the network, so that a name
	// with a denied answer in the family not dialled is refused too.
	addrs, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("egress: resolve %s: %w", host, err)
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, uint16(port))
		if reason, denied := d.policy.verdictFor(host, ap, true); denied {
			return nil, nameDeniedError(host, ap, reason)
		}
		// Every answer is checked (above); only those of the family
		// dialled are tried.
		if a = a.Unmap(); family == 0 || bits(a) == family {
			out = append(out, netip.AddrPortFrom(a, uint16(port)))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("egress: resolve %s: %w", host,
			&net.DNSError{Err: "no suitable address" + familyNote(d.source), Name: host, IsNotFound: true})
	}
	return out, nil
}

// bits returns 4 or 6, the family of an unmapped address.
func bits(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// familyNote explains a family restriction that comes from the source address.
func familyNote(source netip.Addr) string {
	if source.IsValid() {
		return " from source address " + source.String()
	}
	return ""
}

// HTTPTransport returns a new http.Transport whose every connection goes
// through d, for HTTP datasources. It never uses a proxy (the environment's
// HTTP_PROXY and friends are ignored: a proxy would make the connection the
// policy checks not the one that reaches the datasource), requires TLS 1.2
// or later, and bounds the handshake and idle times. The caller may set
// TLSClientConfig further (a custom CA) before first use.
//
// Redirects: the Dialer checks every new connection, so a redirect to a
// denied address fails when it is dialled. The http.Client using this
// transport must still decide in CheckRedirect whether to follow redirects
// at all (and to which schemes), and must never turn them into a request
// that bypasses this transport.
func (d *Dialer) HTTPTransport() *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  0, // the query's own deadline bounds the wait
		ExpectContinueTimeout:  1 * time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    10,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

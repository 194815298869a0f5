package egress_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/egress"
)

// fakeResolver answers from a table. Successive look-ups of one host get
// successive answers (the last one repeats), to play a DNS server that
// changes its answer between two look-ups.
type fakeResolver struct {
	answers map[string][][]netip.Addr
	err     error
	block   bool // wait for ctx instead of answering

	mu    sync.Mutex
	calls map[string]int
}

var _ egress.Resolver = (*fakeResolver)(nil)

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	n := r.calls[host]
	r.calls[host]++
	r.mu.Unlock()
	if r.block {
		<-ctx.Done()
		return nil, &net.DNSError{Err: ctx.Err().Error(), Name: host, IsTimeout: true}
	}
	if r.err != nil {
		return nil, r.err
	}
	answers, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	a := answers[min(n, len(answers)-1)]
	// Filter like a real resolver does for ip4 / ip6.
	var out []netip.Addr
	for _, x := range a {
		if network == "ip" || (network == "ip4") == x.Unmap().Is4() {
			out = append(out, x)
		}
	}
	return out, nil
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

// fakeConnect records every address it is asked to connect to and fails
// the test when that address is not an IP literal the policy allows. It
// sends traffic only to loopback, and only when loopback is set; any other
// address gets a "connection refused" *net.OpError without a packet sent.
type fakeConnect struct {
	t        testing.TB
	policy   *egress.Policy
	loopback bool // really connect to loopback addresses
	block    bool // wait for ctx instead of answering

	mu    sync.Mutex
	addrs []string
}

func newFakeConnect(t testing.TB, p *egress.Policy) *fakeConnect {
	if p == nil {
		p = egress.DefaultPolicy()
	}
	return &fakeConnect{t: t, policy: p}
}

func (c *fakeConnect) Connect(ctx context.Context, network, address string) (net.Conn, error) {
	c.mu.Lock()
	c.addrs = append(c.addrs, address)
	c.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		c.t.Errorf("connect step given %q, which is not an IP address and port", address)
		return nil, err
	}
	if err := c.policy.Check(ap); err != nil {
		c.t.Errorf("connect step called for denied address %s", address)
		return nil, err
	}
	if c.block {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	if c.loopback && ap.Addr().Unmap().IsLoopback() {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
}

func (c *fakeConnect) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// The resolver answers used by the tests.
func testResolver() *fakeResolver {
	return &fakeResolver{answers: map[string][][]netip.Addr{
		"metadata.google.internal.":  {addrs("169.254.169.254")},
		"metadata.google.internal":   {addrs("169.254.169.254")},
		"imds.example":               {addrs("fd00:ec2::254")},
		"mapped.example":             {addrs("::ffff:169.254.169.254")},
		"nat64.example":              {addrs("64:ff9b::a9fe:a9fe")},
		"alibaba.example":            {addrs("100.100.100.200")},
		"linklocal.example":          {addrs("fe80::1")},
		"mixed.example":              {addrs("10.0.0.5", "169.254.169.254")},
		"mixed-last-v6.example":      {addrs("10.0.0.5", "::1", "fd00:ec2::254")},
		"unspecified.example":        {addrs("0.0.0.0")},
		"private.example":            {addrs("10.0.0.5", "fd00::5")},
		"rebind.example":             {addrs("10.0.0.5"), addrs("169.254.169.254")},
		"rebind-after-deny.example":  {addrs("169.254.169.254"), addrs("10.0.0.5")},
		"loopback.example":           {addrs("::1", "127.0.0.1")},
		"empty.example":              {{}},
		"v6only.example":             {addrs("fd00::5")},
		"db.example":                 {addrs("10.0.0.5", "10.0.0.6", "fd00::5")},
		"multicast.example":          {addrs("239.1.2.3")},
		"broadcast.example":          {addrs("255.255.255.255")},
		"oracle.example":             {addrs("192.0.0.192")},
		"zoned.example":              {addrs("fe80::1%eth0")},
		"rebind-v4-v6.example":       {addrs("127.0.0.1", "::ffff:169.254.169.254")},
		"metadata.trailing.example.": {addrs("169.254.169.254")},
	}}
}

func TestDialDeniedBeforeConnect(t *testing.T) {
	tests := []struct{ address, names string }{
		{"169.254.169.254:80", "169.254.169.254:80"},
		{"169.254.169.254.:80", "169.254.169.254:80"},
		{"[::ffff:169.254.169.254]:80", "[::ffff:169.254.169.254]:80"},
		{"[::ffff:a9fe:a9fe]:80", "[::ffff:169.254.169.254]:80"},
		{"[64:ff9b::a9fe:a9fe]:80", "[64:ff9b::a9fe:a9fe]:80"},
		{"[::169.254.169.254]:80", "169.254.169.254"},
		{"2852039166:80", "169.254.169.254:80"},
		{"0251.0376.0251.0376:80", "169.254.169.254:80"},
		{"0xa9fea9fe:80", "169.254.169.254:80"},
		{"0xa9.0xfe.0xa9.0xfe:80", "169.254.169.254:80"},
		{"169.254.43518:80", "169.254.169.254:80"},
		{"[fd00:ec2::254]:80", "[fd00:ec2::254]:80"},
		{"[fe80::1%eth0]:80", "[fe80::1%eth0]:80"},
		{"100.100.100.200:80", "100.100.100.200:80"},
		{"1684301000:80", "100.100.100.200:80"},
		{"192.0.0.192:80", "192.0.0.192:80"},
		{"0.0.0.0:5432", "0.0.0.0:5432"},
		{"0:5432", "0.0.0.0:5432"},
		{"[::]:5432", "[::]:5432"},
		{":5432", "0.0.0.0:5432"},
		{"224.0.0.1:80", "224.0.0.1:80"},
		{"255.255.255.255:80", "255.255.255.255:80"},
		{"metadata.google.internal:80", "metadata.google.internal: it resolves to 169.254.169.254:80"},
		{"metadata.google.internal.:80", "metadata.google.internal.: it resolves to 169.254.169.254:80"},
		{"metadata.trailing.example.:80", "169.254.169.254:80"},
		{"imds.example:80", "[fd00:ec2::254]:80"},
		{"mapped.example:80", "[::ffff:169.254.169.254]:80"},
		{"nat64.example:80", "[64:ff9b::a9fe:a9fe]:80"},
		{"alibaba.example:80", "100.100.100.200:80"},
		{"oracle.example:80", "192.0.0.192:80"},
		{"linklocal.example:80", "[fe80::1]:80"},
		{"zoned.example:80", "[fe80::1%eth0]:80"},
		{"unspecified.example:5432", "0.0.0.0:5432"},
		{"multicast.example:5432", "239.1.2.3:5432"},
		{"broadcast.example:5432", "255.255.255.255:5432"},
		// A name that mixes allowed and denied answers is refused whole,
		// whatever the order of the answers.
		{"mixed.example:5432", "mixed.example: it resolves to 169.254.169.254:5432"},
		{"mixed-last-v6.example:5432", "[fd00:ec2::254]:5432"},
		{"rebind-v4-v6.example:5432", "[::ffff:169.254.169.254]:5432"},
		{"rebind-after-deny.example:5432", "169.254.169.254:5432"},
	}
	for _, tc := range tests {
		for _, network := range []string{"tcp", "tcp4", "tcp6"} {
			t.Run(network+"/"+tc.address, func(t *testing.T) {
				r, c := testResolver(), newFakeConnect(t, nil)
				d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
				conn, err := d.DialContext(t.Context(), network, tc.address)
				if conn != nil {
					conn.Close()
				}
				mustDenied(t, err, tc.names)
				if got := c.calls(); len(got) != 0 {
					t.Fatalf("connect step called for %v; want no call", got)
				}
				host, _, _ := net.SplitHostPort(tc.address)
				if n := r.count(host); n > 1 {
					t.Fatalf("resolver asked %d times for %s; want at most once", n, host)
				}
				d = egress.NewDialer(egress.Options{Resolver: testResolver(), Connect: c.Connect})
				if _, err := d.Lookup(t.Context(), network, tc.address); querygate.ErrorCode(err) != egress.EDENIED {
					t.Fatalf("Lookup = %v; want code %q", err, egress.EDENIED)
				}
			})
		}
	}
}

// Whatever the network, a denied destination is never connected to.
func TestDialDeniedEveryNetwork(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		for _, address := range []string{"mixed.example:5432", "mixed-last-v6.example:5432", "metadata.google.internal:80", "169.254.169.254:80", "[fd00:ec2::254]:80"} {
			r, c := testResolver(), newFakeConnect(t, nil)
			d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
			if _, err := d.DialContext(t.Context(), network, address); err == nil {
				t.Errorf("%s %s: dial succeeded; want an error", network, address)
			}
			if got := c.calls(); len(got) != 0 {
				t.Errorf("%s %s: connect step called for %v; want no call", network, address, got)
			}
		}
	}
}

// A name is resolved once per dial and the connect step gets the checked
// IP address, so a resolver that changes its answer cannot slip a denied
// address in after the check.
func TestDialResolvesOnce(t *testing.T) {
	r, c := testResolver(), newFakeConnect(t, nil)
	d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})

	_, err := d.DialContext(t.Context(), "tcp", "rebind.example:5432")
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("first dial: err = %v; want the connect step's *net.OpError", err)
	}
	if got, want := c.calls(), []string{"10.0.0.5:5432"}; !equal(got, want) {
		t.Fatalf("connect step called for %v; want %v", got, want)
	}
	if got := r.count("rebind.example"); got != 1 {
		t.Fatalf("resolver asked %d times; want 1", got)
	}

	// The next dial looks up again, gets the metadata address and is refused.
	_, err = d.DialContext(t.Context(), "tcp", "rebind.example:5432")
	mustDenied(t, err, "169.254.169.254:5432")
	if got := len(c.calls()); got != 1 {
		t.Fatalf("connect step called %d times in all; want 1", got)
	}
	if got := r.count("rebind.example"); got != 2 {
		t.Fatalf("resolver asked %d times; want 2", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The addresses of a name are tried in order, by IP, and only those of the
// requested family.
func TestDialTriesInOrder(t *testing.T) {
	tests := []struct {
		network string
		want    []string
	}{
		{"tcp", []string{"10.0.0.5:5432", "10.0.0.6:5432", "[fd00::5]:5432"}},
		{"tcp4", []string{"10.0.0.5:5432", "10.0.0.6:5432"}},
		{"tcp6", []string{"[fd00::5]:5432"}},
	}
	for _, tc := range tests {
		t.Run(tc.network, func(t *testing.T) {
			r, c := testResolver(), newFakeConnect(t, nil)
			d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
			_, err := d.DialContext(t.Context(), tc.network, "db.example:5432")
			var op *net.OpError
			if !errors.As(err, &op) || !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("err = %v; want the first *net.OpError (connection refused)", err)
			}
			if got := c.calls(); !equal(got, tc.want) {
				t.Fatalf("connect step called for %v; want %v", got, tc.want)
			}
			aps, err := d.Lookup(t.Context(), tc.network, "db.example:5432")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ap := range aps {
				got = append(got, ap.String())
			}
			if !equal(got, tc.want) {
				t.Fatalf("Lookup = %v; want %v", got, tc.want)
			}
		})
	}
}

// listen starts an echo server on a loopback port the test owns and
// returns its address and the channel of the peer addresses it saw.
func listen(t *testing.T) (netip.AddrPort, <-chan netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peers := make(chan netip.AddrPort, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			peers <- conn.RemoteAddr().(*net.TCPAddr).AddrPort()
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), peers
}

// echo writes through conn and reads the same bytes back.
func echo(t *testing.T, conn net.Conn) {
	t.Helper()
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v; want ping", buf, err)
	}
}

// Loopback is allowed by default; the real connect step and the real
// resolver reach a listener the test owns.
func TestDialLoopback(t *testing.T) {
	ap, peers := listen(t)
	d := egress.NewDialer(egress.Options{})
	conn, err := d.DialContext(t.Context(), "tcp", ap.String())
	if err != nil {
		t.Fatalf("dial %s: %v", ap, err)
	}
	echo(t, conn)
	<-peers

	// A name whose first answer does not listen: the next one is tried.
	r := testResolver()
	d = egress.NewDialer(egress.Options{Resolver: r})
	conn, err = d.DialContext(t.Context(), "tcp", net.JoinHostPort("loopback.example", itoa(ap.Port())))
	if err != nil {
		t.Fatalf("dial loopback.example: %v", err)
	}
	echo(t, conn)
	if got := <-peers; got.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("peer = %v; want 127.0.0.1", got)
	}
}

func itoa(port uint16) string { return strconv.Itoa(int(port)) }

// The gateway's own listening address is refused, as a literal and behind
// a name, before any connection.
func TestDialSelfDenied(t *testing.T) {
	self, _ := listen(t)
	port := itoa(self.Port())
	for _, listenAddr := range []netip.AddrPort{self, netip.AddrPortFrom(netip.IPv6Unspecified(), self.Port())} {
		p := egress.NewPolicy(egress.Rules{Self: []netip.AddrPort{listenAddr}})
		r, c := testResolver(), newFakeConnect(t, p)
		c.loopback = true
		d := egress.NewDialer(egress.Options{Policy: p, Resolver: r, Connect: c.Connect})
		for _, address := range []string{self.String(), "[::ffff:127.0.0.1]:" + port, "2130706433:" + port, "127.1:" + port, "loopback.example:" + port} {
			_, err := d.DialContext(t.Context(), "tcp", address)
			mustDenied(t, err, "the gateway's own address")
		}
		if got := c.calls(); len(got) != 0 {
			t.Fatalf("listening on %s: connect step called for %v; want no call", listenAddr, got)
		}
	}
}

func TestDialNetworkAndAddressRefused(t *testing.T) {
	tests := []struct{ network, address string }{
		{"udp", "127.0.0.1:53"},
		{"udp4", "127.0.0.1:53"},
		{"ip", "127.0.0.1"},
		{"unix", "/tmp/socket"},
		{"", "127.0.0.1:80"},
		{"TCP", "127.0.0.1:80"},
		{"tcp", "127.0.0.1"},
		{"tcp", "127.0.0.1:0"},
		{"tcp", "127.0.0.1:http"},
		{"tcp", "127.0.0.1:65536"},
		{"tcp", "127.0.0.1:-1"},
		{"tcp", "bad host:80"},
		{"tcp", "host\x00:80"},
		{"tcp", "4294967296:80"},
		{"tcp", "08.0.0.1:80"},
		{"tcp", "1.2.3.4.5:80"},
		{"tcp", "[::1:80"},
	}
	for _, tc := range tests {
		r, c := testResolver(), newFakeConnect(t, nil)
		d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
		_, err := d.DialContext(t.Context(), tc.network, tc.address)
		if got := querygate.ErrorCode(err); got != querygate.EINVALID {
			t.Errorf("dial %q %q: err = %v; want code %q", tc.network, tc.address, err, querygate.EINVALID)
		}
		if len(c.calls()) != 0 || len(r.calls) != 0 {
			t.Errorf("dial %q %q: connect %v, resolver %v; want neither", tc.network, tc.address, c.calls(), r.calls)
		}
	}
	// A literal of the wrong family is refused without a connection.
	for _, tc := range []struct{ network, address string }{{"tcp4", "[::1]:80"}, {"tcp6", "127.0.0.1:80"}, {"tcp6", "v4.example:80"}} {
		r := &fakeResolver{answers: map[string][][]netip.Addr{"v4.example": {addrs("10.0.0.1")}}}
		c := newFakeConnect(t, nil)
		d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
		if _, err := d.DialContext(t.Context(), tc.network, tc.address); err == nil || len(c.calls()) != 0 {
			t.Errorf("dial %s %s: err = %v, connect calls %v; want an error and no call", tc.network, tc.address, err, c.calls())
		}
	}
}

func TestDialErrorsReachable(t *testing.T) {
	// Resolver failure.
	dnsErr := &net.DNSError{Err: "server misbehaving", Name: "db.example", IsTemporary: true}
	c := newFakeConnect(t, nil)
	d := egress.NewDialer(egress.Options{Resolver: &fakeResolver{err: dnsErr}, Connect: c.Connect})
	_, err := d.DialContext(t.Context(), "tcp", "db.example:5432")
	var de *net.DNSError
	if !errors.As(err, &de) || de != dnsErr {
		t.Fatalf("err = %v; want the resolver's *net.DNSError", err)
	}

	// Unknown name and empty answer.
	r := testResolver()
	d = egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
	for _, address := range []string{"unknown.example:80", "empty.example:80"} {
		_, err = d.DialContext(t.Context(), "tcp", address)
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Fatalf("dial %s: err = %v; want a not-found *net.DNSError", address, err)
		}
	}
	// Only IPv6 answers for tcp4.
	_, err = d.DialContext(t.Context(), "tcp4", "v6only.example:80")
	if !errors.As(err, &de) {
		t.Fatalf("tcp4 to an IPv6-only name: err = %v; want a *net.DNSError", err)
	}
	if len(c.calls()) != 0 {
		t.Fatalf("connect step called for %v; want no call", c.calls())
	}

	// Connection refused by a real loopback port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	d = egress.NewDialer(egress.Options{})
	_, err = d.DialContext(t.Context(), "tcp", closed)
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("dial closed port: err = %v; want a *net.OpError", err)
	}
	if code := querygate.ErrorCode(err); code != querygate.EINTERNAL {
		t.Fatalf("dial closed port: code %q; a connection failure must not look like a policy refusal", code)
	}
}

func TestDialContextCancel(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r, c := testResolver(), newFakeConnect(t, nil)
		d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
		for _, address := range []string{"db.example:5432", "127.0.0.1:5432"} {
			if _, err := d.DialContext(ctx, "tcp", address); !errors.Is(err, context.Canceled) {
				t.Fatalf("dial %s: err = %v; want context.Canceled", address, err)
			}
		}
		if len(c.calls()) != 0 || r.count("db.example") != 0 {
			t.Fatalf("connect %v, resolver %d calls; want none", c.calls(), r.count("db.example"))
		}
	})
	t.Run("resolving", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		c := newFakeConnect(t, nil)
		d := egress.NewDialer(egress.Options{Resolver: &fakeResolver{block: true}, Connect: c.Connect})
		_, err := d.DialContext(ctx, "tcp", "db.example:5432")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsTimeout {
			t.Fatalf("err = %v; want the resolver's timeout", err)
		}
		if len(c.calls()) != 0 {
			t.Fatalf("connect step called for %v; want no call", c.calls())
		}
	})
	t.Run("connecting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		r, c := testResolver(), newFakeConnect(t, nil)
		c.block = true
		d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect})
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := d.DialContext(ctx, "tcp", "db.example:5432")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
		// The other two addresses are not tried once ctx is done.
		if got, want := c.calls(), []string{"10.0.0.5:5432"}; !equal(got, want) {
			t.Fatalf("connect step called for %v; want %v", got, want)
		}
	})
}

// A source address restricts the family tried, and the default connect
// step binds to it (the listener sees it as the peer).
func TestDialSourceIP(t *testing.T) {
	r, c := testResolver(), newFakeConnect(t, nil)
	d := egress.NewDialer(egress.Options{Resolver: r, Connect: c.Connect, SourceIP: netip.MustParseAddr("10.0.0.1")})
	d.DialContext(t.Context(), "tcp", "db.example:5432")
	if got, want := c.calls(), []string{"10.0.0.5:5432", "10.0.0.6:5432"}; !equal(got, want) {
		t.Fatalf("connect step called for %v; want %v", got, want)
	}
	if _, err := d.DialContext(t.Context(), "tcp6", "db.example:5432"); querygate.ErrorCode(err) != querygate.EINVALID {
		t.Fatalf("tcp6 from an IPv4 source: err = %v; want code %q", err, querygate.EINVALID)
	}
	if _, err := d.DialContext(t.Context(), "tcp", "[fd00::5]:5432"); err == nil {
		t.Fatal("IPv6 literal from an IPv4 source: want an error")
	}
	if got := len(c.calls()); got != 2 {
		t.Fatalf("connect step called %d times; want 2", got)
	}
	if got := egress.NewDialer(egress.Options{SourceIP: netip.IPv4Unspecified()}).SourceIP(); got.IsValid() {
		t.Fatalf("SourceIP() = %v for an unspecified source; want none", got)
	}

	ap, peers := listen(t)
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		d := egress.NewDialer(egress.Options{SourceIP: netip.MustParseAddr(src)})
		conn, err := d.DialContext(t.Context(), "tcp", ap.String())
		if err != nil {
			if errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Logf("cannot bind to %s on this system: %v", src, err)
				continue
			}
			t.Fatalf("dial from %s: %v", src, err)
		}
		echo(t, conn)
		if got := <-peers; got.Addr().String() != src {
			t.Fatalf("listener saw peer %v; want source %s", got, src)
		}
	}
}

func TestHTTPTransport(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("NO_PROXY", "")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "ok")
		case "/metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/metadata-mapped":
			http.Redirect(w, r, "http://[::ffff:169.254.169.254]/latest/meta-data/", http.StatusFound)
		case "/metadata-decimal":
			http.Redirect(w, r, "http://2852039166/latest/meta-data/", http.StatusFound)
		case "/metadata-name":
			http.Redirect(w, r, "http://metadata.google.internal/computeMetadata/v1/", http.StatusFound)
		}
	}))
	defer srv.Close()

	c := newFakeConnect(t, nil)
	c.loopback = true
	d := egress.NewDialer(egress.Options{Resolver: testResolver(), Connect: c.Connect})
	tr := d.HTTPTransport()
	defer tr.CloseIdleConnections()
	if tr.Proxy != nil {
		t.Fatal("the transport must never use a proxy")
	}
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatalf("GET /ok: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q; want ok", body)
	}

	for _, path := range []string{"/metadata", "/metadata-mapped", "/metadata-decimal", "/metadata-name"} {
		resp, err := client.Get(srv.URL + path)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s followed a redirect to a metadata address", path)
		}
		if got := querygate.ErrorCode(err); got != egress.EDENIED {
			t.Fatalf("GET %s: err = %v; want code %q", path, err, egress.EDENIED)
		}
	}
	for _, a := range c.calls() {
		if ap := netip.MustParseAddrPort(a); !ap.Addr().IsLoopback() {
			t.Fatalf("connect step called for %s", a)
		}
	}
}

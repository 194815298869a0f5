package egress_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/egress"
)

// The code the connectors map must be the one the egress package returns.
func TestCodeMatchesConnect(t *testing.T) {
	if got, want := egress.EDENIED, connect.EEGRESS; got != want {
		t.Fatalf("egress.EDENIED = %q, want connect.EEGRESS %q", got, want)
	}
	var _ connect.DialFunc = egress.NewDialer(egress.Options{}).DialContext
}

// mustDenied fails unless err is an egress refusal whose message names want.
func mustDenied(tb testing.TB, err error, want string) {
	tb.Helper()
	var qe *querygate.Error
	if !errors.As(err, &qe) || qe.Code != egress.EDENIED {
		tb.Fatalf("err = %v, want a *querygate.Error with code %q", err, egress.EDENIED)
	}
	if !strings.Contains(qe.Message, want) {
		tb.Fatalf("message %q does not name %q", qe.Message, want)
	}
}

func TestDefaultPolicyCheck(t *testing.T) {
	p := egress.DefaultPolicy()
	denied := []struct{ addr, reason string }{
		{"0.0.0.0:80", "unspecified"},
		{"0.1.2.3:5432", "unspecified"},
		{"[::]:80", "unspecified"},
		{"169.254.169.254:80", "metadata"},
		{"169.254.170.2:80", "metadata"},
		{"169.254.0.1:5432", "link-local"},
		{"169.254.255.255:5432", "link-local"},
		{"[fe80::1]:80", "link-local"},
		{"[fe80::1%eth0]:80", "link-local"},
		{"[febf:ffff::1]:80", "link-local"},
		{"[fd00:ec2::254]:80", "metadata"},
		{"[fd20:ce::254]:80", "metadata"},
		{"[fd00:c1::a9fe:a9fe]:80", "metadata"},
		{"[fd00:ec2::253]:53", "cloud instance service"},
		{"[fd00:ec2::123]:123", "cloud instance service"},
		{"169.254.169.253:53", "link-local"},
		{"169.254.169.123:123", "link-local"},
		{"100.100.100.200:80", "metadata"},
		{"192.0.0.192:80", "metadata"},
		{"168.63.129.16:80", "metadata"},
		{"224.0.0.1:80", "multicast"},
		{"239.255.255.250:1900", "multicast"},
		{"[ff02::1]:80", "multicast"},
		{"[ff0e::1]:80", "multicast"},
		{"255.255.255.255:80", "broadcast"},
		// IPv6 spellings of denied IPv4 addresses.
		{"[::ffff:169.254.169.254]:80", "metadata"},
		{"[::ffff:a9fe:a9fe]:80", "metadata"},
		{"[::ffff:100.100.100.200]:80", "metadata"},
		{"[::ffff:0.0.0.0]:80", "unspecified"},
		{"[::169.254.169.254]:80", "metadata endpoint, embedded as 169.254.169.254"},         // IPv4-compatible
		{"[::0.0.0.5]:80", "unspecified"},                                                    // IPv4-compatible
		{"[::ffff:0:a9fe:a9fe]:80", "metadata endpoint, embedded as 169.254.169.254"},        // IPv4-translated
		{"[64:ff9b::a9fe:a9fe]:80", "metadata endpoint, embedded as 169.254.169.254"},        // NAT64
		{"[64:ff9b::169.254.169.254]:80", "metadata"},                                        // NAT64, dotted
		{"[64:ff9b::c000:c0]:80", "metadata endpoint, embedded as 192.0.0.192"},              // NAT64
		{"[64:ff9b:1::a9fe:a9fe]:80", "metadata endpoint, embedded as 169.254.169.254"},      // local-use NAT64
		{"[64:ff9b::e000:1]:80", "multicast address, embedded as 224.0.0.1"},                 // NAT64
		{"[2002:a9fe:a9fe::1]:80", "metadata endpoint, embedded as 169.254.169.254"},         // 6to4
		{"[2001:0:a9fe:a9fe::1]:80", "metadata endpoint, embedded as 169.254.169.254"},       // Teredo server
		{"[2001:0:102:304::5601:5601]:80", "metadata endpoint, embedded as 169.254.169.254"}, // Teredo client (bits flipped)
	}
	for _, tc := range denied {
		t.Run(tc.addr, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tc.addr)
			err := p.Check(ap)
			mustDenied(t, err, ap.String())
			mustDenied(t, err, tc.reason)
		})
	}
	allowed := []string{
		"127.0.0.1:5432", "127.1.2.3:80", "[::1]:5432",
		"10.0.0.1:5432", "172.16.0.1:3306", "192.168.1.1:6379", "[fd00::1]:5432",
		"[fd00:ec2::252]:53", "100.64.0.1:80", "100.100.100.201:80", "192.0.0.193:80",
		"169.253.255.255:80", "170.0.0.0:80", "223.255.255.255:80", "255.255.255.254:80",
		"8.8.8.8:53", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:5432",
		"[64:ff9b::a00:1]:5432", "[::ffff:127.0.0.1]:80", "[fec0::1]:80",
	}
	for _, addr := range allowed {
		t.Run(addr, func(t *testing.T) {
			if err := p.Check(netip.MustParseAddrPort(addr)); err != nil {
				t.Fatalf("Check(%s) = %v, want nil", addr, err)
			}
		})
	}
	mustDenied(t, p.Check(netip.AddrPort{}), "not a valid address")
}

func TestPolicyRules(t *testing.T) {
	self := netip.MustParseAddrPort("127.0.0.1:8443")
	p := egress.NewPolicy(egress.Rules{
		Allow: []egress.Rule{
			mustRule(t, "10.0.0.0/8:5432-5440"),
			mustRule(t, "[fd00::/8]:5432"),
			mustRule(t, "127.0.0.0/8"),
			mustRule(t, "169.254.0.0/16"), // cannot override a built-in denial
			mustRule(t, "192.168.0.0/16"),
		},
		Deny: []egress.Rule{
			mustRule(t, "10.9.0.0/16"),
			mustRule(t, "*:22"),
		},
		Self: []netip.AddrPort{self},
	})
	tests := []struct {
		addr   string
		reason string // "" when allowed
	}{
		{"10.1.2.3:5432", ""},
		{"10.1.2.3:5440", ""},
		{"[::ffff:10.1.2.3]:5432", ""},
		{"10.1.2.3:5441", "not in the egress allow list"},
		{"10.1.2.3:22", "denied by an egress rule"},
		{"192.168.1.1:22", "denied by an egress rule"},
		{"[fd00::5]:5432", ""},
		{"[fd00::5]:5433", "not in the egress allow list"},
		{"172.16.0.1:5432", "not in the egress allow list"},
		{"10.9.1.1:5432", "denied by an egress rule"},
		{"[::ffff:10.9.1.1]:5432", "denied by an egress rule"},
		{"[64:ff9b::a09:101]:5432", "denied by an egress rule, embedded as 10.9.1.1"},
		{"169.254.169.254:80", "cloud metadata endpoint"},
		{"169.254.1.1:80", "link-local"},
		{"127.0.0.1:8443", "the gateway's own address"},
		{"[::ffff:127.0.0.1]:8443", "the gateway's own address"},
		{"127.0.0.1:8444", ""},
		{"127.0.0.2:8443", ""},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			err := p.Check(netip.MustParseAddrPort(tc.addr))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			mustDenied(t, err, tc.reason)
		})
	}
}

func TestPolicySelfUnspecified(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8080", "[::]:8080"} {
		p := egress.NewPolicy(egress.Rules{Self: []netip.AddrPort{netip.MustParseAddrPort(listen)}})
		for _, addr := range []string{"127.0.0.1:8080", "127.9.9.9:8080", "[::1]:8080", "[::ffff:127.0.0.1]:8080"} {
			mustDenied(t, p.Check(netip.MustParseAddrPort(addr)), "own address")
		}
		for _, addr := range []string{"127.0.0.1:8081", "[::1]:5432"} {
			if err := p.Check(netip.MustParseAddrPort(addr)); err != nil {
				t.Errorf("listen %s: Check(%s) = %v, want nil", listen, addr, err)
			}
		}
	}
}

// Edge cases that must not widen or void the policy by accident.
func TestPolicyEdges(t *testing.T) {
	// A listening address not bound yet (port 0) denies nothing, rather
	// than every port.
	p := egress.NewPolicy(egress.Rules{Self: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:0")}})
	if err := p.Check(netip.MustParseAddrPort("127.0.0.1:5432")); err != nil {
		t.Fatalf("Self port 0: Check = %v; want nil", err)
	}
	// An invalid prefix in an allow rule matches nothing (it does not
	// stand for every address as the zero prefix does).
	bad := netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), 99)
	p = egress.NewPolicy(egress.Rules{Allow: []egress.Rule{{Prefix: bad}}})
	mustDenied(t, p.Check(netip.MustParseAddrPort("10.0.0.1:5432")), "not in the egress allow list")
	// The zero rule in a deny list denies everything.
	p = egress.NewPolicy(egress.Rules{Deny: []egress.Rule{{}}})
	mustDenied(t, p.Check(netip.MustParseAddrPort("127.0.0.1:5432")), "denied by an egress rule")
}

func mustRule(tb testing.TB, s string) egress.Rule {
	tb.Helper()
	r, err := egress.ParseRule(s)
	if err != nil {
		tb.Fatalf("ParseRule(%q): %v", s, err)
	}
	return r
}

func TestParseRule(t *testing.T) {
	good := []struct{ in, want string }{
		{"*", "*"},
		{"*:22", "*:22"},
		{"*:1-1024", "*:1-1024"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"10.0.0.5", "10.0.0.5"},
		{"10.0.0.5/32", "10.0.0.5"},
		{"10.0.0.0/8:5432", "10.0.0.0/8:5432"},
		{"10.0.0.0/8:5432-5440", "10.0.0.0/8:5432-5440"},
		{"fd00::/8", "fd00::/8"},
		{"::1", "::1"},
		{"[::1]", "::1"},
		{"[::1]:6379", "[::1]:6379"},
		{"[fd00::/8]:5432-5433", "[fd00::/8]:5432-5433"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80"},
		{"10.0.0.1:0080", "10.0.0.1:80"},
		{"db.example.com", "db.example.com"},
		{"DB.Example.com.:5432", "db.example.com:5432"},
		{"*.corp.example.com", "*.corp.example.com"},
		{"*.corp.example.com:5432-5440", "*.corp.example.com:5432-5440"},
		{"localhost:6379", "localhost:6379"},
	}
	for _, tc := range good {
		r, err := egress.ParseRule(tc.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tc.in, err)
			continue
		}
		if got := r.String(); got != tc.want {
			t.Errorf("ParseRule(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
	bad := []string{
		"", "10.0.0.0/33", "10.0.0.0/8:", "10.0.0.0/8:0", "10.0.0.0/8:65536", "10.0.0.0/8:10-5",
		"10.0.0.0/8:-5", "10.0.0.0/8:5-", "10.0.0.0/8:http", "fd00::/8:5432", "[fd00::/8]5432",
		"[10.0.0.1]:80", "[::1", "[::1]:", "fe80::1%eth0", "010.0.0.1", "db", "db:5432",
		"*:", "10.0.0.1:+5", "*.*.example.com", "db.*.example.com", "under_score..com", "0x7f.1",
		"*.", "-bad.example.com", "db.example.com/8",
	}
	for _, in := range bad {
		if r, err := egress.ParseRule(in); err == nil {
			t.Errorf("ParseRule(%q) = %v, want an error", in, r)
		}
	}
}

func TestPortRange(t *testing.T) {
	if !(egress.PortRange{}).Contains(0) || !(egress.PortRange{}).Contains(65535) {
		t.Error("the zero PortRange must hold every port")
	}
	r := egress.PortRange{First: 10, Last: 20}
	for port, want := range map[uint16]bool{9: false, 10: true, 15: true, 20: true, 21: false} {
		if got := r.Contains(port); got != want {
			t.Errorf("%v.Contains(%d) = %v, want %v", r, port, got, want)
		}
	}
}

func TestParseHost(t *testing.T) {
	addrs := []struct{ in, want string }{
		{"169.254.169.254", "169.254.169.254"},
		{"169.254.169.254.", "169.254.169.254"},
		{"2852039166", "169.254.169.254"},
		{"2852039166.", "169.254.169.254"},
		{"0251.0376.0251.0376", "169.254.169.254"},
		{"0xa9fea9fe", "169.254.169.254"},
		{"0XA9FEA9FE", "169.254.169.254"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"0251.0xfe.169.0376", "169.254.169.254"},
		{"169.254.43518", "169.254.169.254"},
		{"169.16689662", "169.254.169.254"},
		{"00000000251.254.169.254", "169.254.169.254"},
		{"0x00000000a9.254.169.254", "169.254.169.254"},
		{"1684301000", "100.100.100.200"},
		{"0x646464c8", "100.100.100.200"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"127.1", "127.0.0.1"},
		{"010.0.0.1", "8.0.0.1"},
		{"4294967295", "255.255.255.255"},
		{"::ffff:169.254.169.254", "::ffff:169.254.169.254"},
		{"fd00:ec2::254", "fd00:ec2::254"},
		{"fe80::1%eth0", "fe80::1%eth0"},
	}
	for _, tc := range addrs {
		a, isAddr, err := egress.ParseHost(tc.in)
		if err != nil || !isAddr || a.String() != tc.want {
			t.Errorf("ParseHost(%q) = %v, %v, %v; want %s, true, nil", tc.in, a, isAddr, err, tc.want)
		}
	}
	names := []string{
		"localhost", "db.example.com", "metadata.google.internal.", "DB-1.Example.COM", "_srv.example",
		"0x.example", "1e5", "0xdeadbeef.com", "a9fea9fe", "123.example", "1.2.3.4.nip.io", "x",
	}
	for _, in := range names {
		a, isAddr, err := egress.ParseHost(in)
		if err != nil || isAddr {
			t.Errorf("ParseHost(%q) = %v, %v, %v; want a name", in, a, isAddr, err)
		}
	}
	invalid := []string{
		"", ".", "4294967296", "08.0.0.1", "0x100.0.0.1", "256.0.0.1", "1.2.3.4.5", "1.2.3.256",
		"1.65536.1", "1.2.3.4 extra", "169.254.169.254 ", " 169.254.169.254", "exa mple.com",
		"a..b", "host/x", "host\x00", "user@host", "-lead.example", "trail-.example",
		"a.b..", "[::1]", "1.2.3.4:80", "fe80::1%a b", "::1%\n", "fe80::1%" + strings.Repeat("z", 65), "0xa9fea9fe0", "99999999999999999999",
		strings.Repeat("a", 64) + ".example", strings.Repeat("a.", 127) + "aa",
	}
	for _, in := range invalid {
		a, isAddr, err := egress.ParseHost(in)
		if err == nil {
			t.Errorf("ParseHost(%q) = %v, %v, nil; want an error", in, a, isAddr)
			continue
		}
		if got := querygate.ErrorCode(err); got != querygate.EINVALID {
			t.Errorf("ParseHost(%q) error code = %q, want %q", in, got, querygate.EINVALID)
		}
	}
}

func TestHostRulesAndProfiles(t *testing.T) {
	rule := func(s string) egress.Rule {
		r, err := egress.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ctx := t.Context()
	r := &fakeResolver{answers: map[string][][]netip.Addr{
		"db.corp.example":   {addrs("10.0.0.5")},
		"other.example":     {addrs("10.0.0.6")},
		"meta.corp.example": {addrs("169.254.169.254")},
		"evil.corp.example": {addrs("10.9.9.9")},
		"public.example":    {addrs("203.0.113.7")},
		"corp.example":      {addrs("10.0.0.7")},
		"DB.corp.example.":  {addrs("10.0.0.5")},
	}}
	lookup := func(p *egress.Policy, addr string) error {
		_, err := egress.NewDialer(egress.Options{Policy: p, Resolver: r}).Lookup(ctx, "tcp", addr)
		return err
	}
	// Only hosts under *.corp.example on 5432, and never evil.corp.example.
	p := egress.NewPolicy(egress.Rules{AllowNone: true, Allow: []egress.Rule{rule("*.corp.example:5432")},
		Deny: []egress.Rule{rule("evil.corp.example")}})
	for addr, want := range map[string]string{
		"db.corp.example:5432":   "",
		"DB.corp.example.:5432":  "",
		"db.corp.example:5433":   egress.EDENIED, // port not allowed
		"corp.example:5432":      egress.EDENIED, // the suffix rule covers names under it only
		"other.example:5432":     egress.EDENIED,
		"meta.corp.example:5432": egress.EDENIED, // allowed by name, denied by address
		"evil.corp.example:5432": egress.EDENIED, // denied by name
		"10.0.0.5:5432":          egress.EDENIED, // a literal address matches no host rule
	} {
		if got := querygate.ErrorCode(lookup(p, addr)); got != want {
			t.Errorf("allowlist %s: got %q, want %q", addr, got, want)
		}
	}
	// The allowlist profile with no rule allows nothing.
	if got := querygate.ErrorCode(lookup(egress.NewPolicy(egress.Rules{AllowNone: true}), "db.corp.example:5432")); got != egress.EDENIED {
		t.Errorf("empty allowlist: %q", got)
	}
	// The private profile.
	private, err := egress.ProfileRules(egress.ProfilePrivate)
	if err != nil {
		t.Fatal(err)
	}
	pp := egress.NewPolicy(egress.Rules{Allow: private})
	if err := lookup(pp, "db.corp.example:5432"); err != nil {
		t.Errorf("private profile, private host: %v", err)
	}
	if got := querygate.ErrorCode(lookup(pp, "public.example:443")); got != egress.EDENIED {
		t.Errorf("private profile, public host: %q", got)
	}
	if _, err := egress.ProfileRules("everything"); err == nil {
		t.Error("an unknown profile was accepted")
	}
	d := p.Describe()
	if d.AllowAll || len(d.Allow) != 1 || d.Allow[0] != "*.corp.example:5432" || len(d.Deny) < 10 {
		t.Errorf("Describe = %+v", d)
	}
}

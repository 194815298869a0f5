package egress_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/querygate/querygate/internal/egress"
)

// TestPolicySelfEveryListener checks the denial of the gateway's own
// listening addresses with several listeners (main and metrics): each is
// denied at its port, whatever the operator allows, even an allow rule
// naming exactly that address; a listener on 0.0.0.0 is denied at the
// address of every network interface of this host. Only Check is called:
// no packet leaves.
func TestPolicySelfEveryListener(t *testing.T) {
	main, metrics := netip.MustParseAddrPort("127.0.0.1:8443"), netip.MustParseAddrPort("0.0.0.0:9090")
	p := egress.NewPolicy(egress.Rules{
		Allow:     []egress.Rule{mustRule(t, "127.0.0.1:8443"), mustRule(t, "127.0.0.0/8"), mustRule(t, "*:9090")},
		AllowNone: true,
		Self:      []netip.AddrPort{main, metrics},
	})
	for _, addr := range []string{"127.0.0.1:8443", "127.0.0.1:9090", "127.0.0.2:9090", "[::1]:9090", "[::ffff:127.0.0.1]:9090", "[64:ff9b::7f00:1]:8443"} {
		mustDenied(t, p.Check(netip.MustParseAddrPort(addr)), "the gateway's own address")
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ia := range addrs {
		n, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		a, _ := netip.AddrFromSlice(n.IP)
		want := "the gateway's own address"
		if a.IsLinkLocalUnicast() {
			want = "link-local" // the built-in denial comes first
		}
		mustDenied(t, p.Check(netip.AddrPortFrom(a.Unmap(), 9090)), want)
	}
	for _, addr := range []string{"127.0.0.1:8444", "127.0.0.2:8443"} {
		if err := p.Check(netip.MustParseAddrPort(addr)); err != nil {
			t.Errorf("Check(%s) = %v, want nil", addr, err)
		}
	}
	// The effective policy shows the denials, so an operator sees why.
	var self int
	for _, d := range p.Describe().Deny {
		if d.Reason == "the gateway's own address" {
			self++
		}
	}
	if self < 3 {
		t.Fatalf("Describe lists %d own-address denials, want at least 3 (main, and loopback of both families at 0.0.0.0)", self)
	}
}

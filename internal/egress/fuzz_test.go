package egress_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/egress"
)

// FuzzCheck feeds arbitrary host strings and resolver answers through
// ParseHost, Policy.Check and the Dialer. It must never panic, whatever
// ParseHost accepts as an address must be checked like that address in
// every IPv6 spelling, and the connect step must never be asked for an
// address the policy denies. Seeds are in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add("169.254.169.254", []byte{}, uint16(80))
	f.Add("db.example", []byte{10, 0, 0, 5, 169, 254, 169, 254}, uint16(5432))
	p := egress.DefaultPolicy()
	f.Fuzz(func(t *testing.T, host string, answer []byte, port uint16) {
		addr, isAddr, err := egress.ParseHost(host)
		if err != nil && (isAddr || addr.IsValid()) {
			t.Fatalf("ParseHost(%q) = %v, %v, %v; an error must come alone", host, addr, isAddr, err)
		}
		if err != nil && querygate.ErrorCode(err) != querygate.EINVALID {
			t.Fatalf("ParseHost(%q) error %v; want code %q", host, err, querygate.EINVALID)
		}
		if std, stdErr := netip.ParseAddr(host); stdErr == nil && err == nil && addr != std {
			t.Fatalf("ParseHost(%q) = %v; netip.ParseAddr says %v", host, addr, std)
		}
		if isAddr {
			checkForms(t, p, netip.AddrPortFrom(addr, port))
		}

		// Resolver answers from the fuzzer: 4 bytes for an IPv4 address,
		// 16 for an IPv6 one, as the first byte says.
		var answers []netip.Addr
		for len(answer) > 0 {
			n := 4
			if answer[0]&1 == 1 {
				n = 16
			}
			answer = answer[1:]
			if len(answer) < n {
				break
			}
			a, _ := netip.AddrFromSlice(answer[:n])
			answers = append(answers, a)
			answer = answer[n:]
		}
		for _, a := range answers {
			checkForms(t, p, netip.AddrPortFrom(a, port))
		}
		r := &fakeResolver{answers: map[string][][]netip.Addr{host: {answers}}}
		c := newFakeConnect(t, p) // fails the test on a denied address
		d := egress.NewDialer(egress.Options{Policy: p, Resolver: r, Connect: c.Connect})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		address := net.JoinHostPort(host, strconv.Itoa(int(port)))
		conn, err := d.DialContext(ctx, "tcp", address)
		if conn != nil || err == nil {
			t.Fatalf("dial %q succeeded through a connect step that always fails", address)
		}
		if n := r.count(host); n > 1 {
			t.Fatalf("resolver asked %d times; want at most once", n)
		}
		var denied bool
		for _, a := range answers {
			denied = denied || p.Check(netip.AddrPortFrom(a, port)) != nil
		}
		if denied && !isAddr && len(c.calls()) != 0 {
			t.Fatalf("dial %q connected although an answer was denied", address)
		}
	})
}

// checkForms checks that ap and its IPv4-mapped and NAT64 forms get the
// same answer from the policy.
func checkForms(t *testing.T, p *egress.Policy, ap netip.AddrPort) {
	t.Helper()
	denied := p.Check(ap) != nil
	if err := p.Check(ap); err != nil && querygate.ErrorCode(err) != egress.EDENIED {
		t.Fatalf("Check(%v) = %v; want code %q", ap, err, egress.EDENIED)
	}
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return
	}
	b := a.As4()
	mapped := netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
	nat64 := netip.AddrFrom16([16]byte{1: 0x64, 2: 0xff, 3: 0x9b, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
	if got := p.Check(netip.AddrPortFrom(mapped, ap.Port())) != nil; got != denied {
		t.Fatalf("Check(%v) denied = %v, but Check(%v) denied = %v", mapped, got, a, denied)
	}
	if denied && p.Check(netip.AddrPortFrom(nat64, ap.Port())) == nil {
		t.Fatalf("%v is denied but its NAT64 form %v is allowed", a, nat64)
	}
}

// FuzzParseRule checks that a parsed rule prints in a form that parses back
// to the same rule. Seeds are in testdata/fuzz/FuzzParseRule.
func FuzzParseRule(f *testing.F) {
	f.Add("10.0.0.0/8:5432-5440")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := egress.ParseRule(s)
		if err != nil {
			return
		}
		again, err := egress.ParseRule(r.String())
		if err != nil {
			t.Fatalf("ParseRule(%q).String() = %q, which does not parse: %v", s, r.String(), err)
		}
		if again != r {
			t.Fatalf("ParseRule(%q) = %#v; ParseRule(%q) = %#v", s, r, r.String(), again)
		}
	})
}

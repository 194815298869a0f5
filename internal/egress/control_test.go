package egress

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/querygate/querygate"
)

// The default connect step checks the policy again just before connect(2),
// so that even an address that skipped Lookup is refused without a packet.
// Only the control function is called for non-loopback addresses; the one
// real connection attempt goes to a loopback listener the test owns.
func TestDefaultConnectChecksAgain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	self := ln.Addr().(*net.TCPAddr).AddrPort()

	d := NewDialer(Options{Policy: NewPolicy(Rules{Self: []netip.AddrPort{self}})})
	for _, address := range []string{"169.254.169.254:80", "[::ffff:169.254.169.254]:80", "[fd00:ec2::254]:80", self.String(), "not an address"} {
		if got := querygate.ErrorCode(d.control("tcp4", address, nil)); got != EDENIED {
			t.Errorf("control(%q) code = %q; want %q", address, got, EDENIED)
		}
	}
	if err := d.control("tcp4", "10.0.0.5:5432", nil); err != nil {
		t.Errorf("control(10.0.0.5:5432) = %v; want nil", err)
	}

	// Bypass Lookup and hand the denied own address to the connect step.
	conn, err := d.connect(t.Context(), "tcp", self.String())
	if err == nil {
		conn.Close()
		t.Fatal("the default connect step connected to a denied address")
	}
	var qe *querygate.Error
	var op *net.OpError
	if !errors.As(err, &qe) || qe.Code != EDENIED || !errors.As(err, &op) {
		t.Fatalf("err = %v; want an *net.OpError holding the egress refusal", err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("the listener got a connection the policy denied")
	}
}

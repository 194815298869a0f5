package egress

import (
	"net/netip"
	"testing"

	"github.com/querygate/querygate"
)

// TestCheckNamed checks a destination as named, without resolving it:
// what a tunnel asks before the bastion opens a channel.
func TestCheckNamed(t *testing.T) {
	mr := func(s string) Rule {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	open := NewPolicy(Rules{Deny: []Rule{mr("db.secret.example:5432"), mr("10.9.0.0/16")},
		Self: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080")}})
	allow := NewPolicy(Rules{Allow: []Rule{mr("*.corp.example:5432"), mr("10.0.0.0/8")}})
	for _, tc := range []struct {
		p    *Policy
		host string
		port uint16
		want string // "" allowed
	}{
		{open, "db.internal", 5432, ""},
		{open, "10.1.2.3", 5432, ""},
		{open, "169.254.169.254", 80, EDENIED},
		{open, "0xa9fea9fe", 80, EDENIED}, // an odd spelling of the metadata address
		{open, "::ffff:169.254.169.254", 80, EDENIED},
		{open, "127.0.0.1", 8080, EDENIED}, // the gateway itself
		{open, "10.9.1.1", 5432, EDENIED},
		{open, "db.secret.example", 5432, EDENIED},
		{open, "DB.Secret.Example.", 5432, EDENIED},
		{open, "", 5432, EDENIED},
		{open, "bad host", 5432, querygate.EINVALID},
		{allow, "pg.corp.example", 5432, ""},
		{allow, "pg.corp.example", 22, EDENIED},
		{allow, "db.internal", 5432, EDENIED}, // names must be allowed by name
		{allow, "10.1.2.3", 5432, ""},
		{allow, "192.168.1.1", 5432, EDENIED},
	} {
		err := tc.p.CheckNamed(tc.host, tc.port)
		if got := querygate.ErrorCode(err); got != tc.want {
			t.Errorf("CheckNamed(%q, %d) = %v; want code %q", tc.host, tc.port, err, tc.want)
		}
	}
}

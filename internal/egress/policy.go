package egress

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Policy decides which destinations the gateway may connect to. A Policy is
// immutable once made and safe for concurrent use.
//
// The built-in denials always apply and cannot be allowed back: deny wins
// over allow. Operator deny rules and the gateway's own addresses are added
// to them; when there are operator allow rules, a destination must also match
// one of them.
type Policy struct {
	deny  []denial
	allow []Rule
	// allowNone makes an empty allow list allow nothing (the allowlist
	// profile) instead of everything.
	allowNone bool
}

// denial is a deny rule with the reason shown when it matches.
type denial struct {
	rule   Rule
	reason string
}

// Reasons shown in refusals.
const (
	reasonMetadata    = "cloud metadata endpoint"
	reasonCloud       = "cloud instance service"
	reasonUnspecified = "unspecified address"
	reasonLinkLocal   = "link-local address"
	reasonMulticast   = "multicast address"
	reasonBroadcast   = "broadcast address"
	reasonSelf        = "the gateway's own address"
	reasonDenyRule    = "denied by an egress rule"
	reasonNotAllowed  = "not in the egress allow list"
	reasonInvalid     = "not a valid address"
)

// builtin lists the denials every policy has, most specific first so that
// the reason names the endpoint rather than the range it sits in.
var builtin = []denial{
	// Cloud metadata services. Reaching one from the gateway would hand
	// instance credentials to whoever can create a datasource.
	{mustRule("169.254.169.254"), reasonMetadata},    // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
	{mustRule("169.254.170.2"), reasonMetadata},      // AWS ECS task metadata and credentials
	{mustRule("fd00:ec2::254"), reasonMetadata},      // AWS IMDS over IPv6 (Nitro)
	{mustRule("fd20:ce::254"), reasonMetadata},       // Google Cloud metadata server over IPv6
	{mustRule("fd00:c1::a9fe:a9fe"), reasonMetadata}, // Oracle Cloud IMDS over IPv6
	{mustRule("100.100.100.200"), reasonMetadata},    // Alibaba Cloud
	{mustRule("192.0.0.192"), reasonMetadata},        // Oracle Cloud
	{mustRule("168.63.129.16"), reasonMetadata},      // Azure WireServer (platform agent, serves extension settings)
	// The IPv6 forms of AWS's other link-local instance services (their
	// IPv4 forms, 169.254.169.253 and .123, are link-local below): the VPC
	// DNS resolver and the time service.
	{mustRule("fd00:ec2::253"), reasonCloud},
	{mustRule("fd00:ec2::123"), reasonCloud},

	// Addresses that are never a datasource. The unspecified address
	// reaches the gateway's own host; link-local holds the metadata
	// services of every cloud.
	{mustRule("0.0.0.0/8"), reasonUnspecified},
	{mustRule("::"), reasonUnspecified},
	{mustRule("169.254.0.0/16"), reasonLinkLocal},
	{mustRule("fe80::/10"), reasonLinkLocal},
	{mustRule("224.0.0.0/4"), reasonMulticast},
	{mustRule("ff00::/8"), reasonMulticast},
	{mustRule("255.255.255.255"), reasonBroadcast},
}

// Rules is the operator's part of a policy.
type Rules struct {
	// Allow, when not empty, lists the only destinations that may be
	// reached (the built-in and operator denials still apply).
	Allow []Rule
	// Deny lists destinations that may never be reached.
	Deny []Rule
	// AllowNone makes an empty Allow allow nothing (the allowlist
	// profile), rather than everything.
	AllowNone bool
	// Self lists the gateway's own listening addresses (as bound, so with
	// their real port, not 0), which are denied so that a datasource cannot
	// point the gateway at itself. An
	// unspecified address (0.0.0.0:8080, [::]:8080) stands for every local
	// address at that port: loopback and the addresses of every network
	// interface.
	Self []netip.AddrPort
}

// DefaultPolicy returns the policy with only the built-in denials: every
// destination is allowed (loopback and private ranges included, since
// datasources often live there) except the unspecified addresses, link-local
// addresses, the cloud metadata endpoints, multicast and broadcast.
func DefaultPolicy() *Policy {
	return NewPolicy(Rules{})
}

// NewPolicy returns the built-in denials plus the operator's rules.
func NewPolicy(r Rules) *Policy {
	p := &Policy{deny: append([]denial(nil), builtin...)}
	for _, ap := range r.Self {
		for _, rule := range selfRules(ap) {
			p.deny = append(p.deny, denial{rule, reasonSelf})
		}
	}
	for _, rule := range r.Deny {
		p.deny = append(p.deny, denial{rule.normal(), reasonDenyRule})
	}
	for _, rule := range r.Allow {
		p.allow = append(p.allow, rule.normal())
	}
	p.allowNone = r.AllowNone
	return p
}

// selfRules returns the rules that deny the gateway's own listening address.
func selfRules(ap netip.AddrPort) []Rule {
	a, port := ap.Addr().Unmap().WithZone(""), PortRange{ap.Port(), ap.Port()}
	if !a.IsValid() || ap.Port() == 0 {
		return nil // not listening yet: nothing to deny (port 0 would mean every port)
	}
	if !a.IsUnspecified() {
		return []Rule{{Prefix: netip.PrefixFrom(a, a.BitLen()), Ports: port}}
	}
	// Listening on every address: a dual-stack socket answers on both
	// families, so deny loopback of both and every interface address.
	rules := []Rule{
		{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Ports: port},
		{Prefix: netip.MustParsePrefix("::1/128"), Ports: port},
	}
	addrs, _ := net.InterfaceAddrs() // best effort: loopback is covered above
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if a, ok := netip.AddrFromSlice(n.IP); ok {
				a = a.Unmap()
				rules = append(rules, Rule{Prefix: netip.PrefixFrom(a, a.BitLen()), Ports: port})
			}
		}
	}
	return rules
}

// Check returns nil when the policy allows a connection to ap, or a
// *querygate.Error with code EDENIED whose message names ap.
//
// IPv4-mapped IPv6 addresses are checked as the IPv4 address they are, and
// every deny rule is also checked against the IPv4 address embedded in
// IPv4-compatible, IPv4-translated, NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
// 6to4 and Teredo addresses, so that no IPv6 spelling reaches a denied IPv4
// address. A zone (fe80::1%eth0) is ignored for the check.
func (p *Policy) Check(ap netip.AddrPort) error {
	if reason, denied := p.verdict(ap); denied {
		return deniedError(ap, reason)
	}
	return nil
}

// CheckNamed returns nil when the policy allows a connection to host at
// port as named, without resolving the name: what is checked before a
// destination is reached through an SSH bastion, which resolves and
// connects itself. An IP address (in any spelling ParseHost accepts) is
// checked as Check does, so the built-in denials, the gateway's own
// addresses and the operator's address rules keep their meaning. A name
// is checked against the host-name rules; when there are allow rules, it
// must match a host-name rule, since the addresses it has behind the
// bastion are unknown here. Errors are a *querygate.Error with code
// EDENIED or querygate.EINVALID.
func (p *Policy) CheckNamed(host string, port uint16) error {
	if port == 0 {
		return invalidError("The port %q is not a number from 1 to 65535.", "0")
	}
	if host == "" {
		return deniedError(netip.AddrPortFrom(netip.IPv4Unspecified(), port), reasonUnspecified)
	}
	addr, isAddr, err := ParseHost(host)
	if err != nil {
		return err
	}
	if isAddr {
		ap := netip.AddrPortFrom(addr, port)
		if reason, denied := p.verdict(ap); denied {
			if host != addr.String() {
				return nameDeniedError(host, ap, reason)
			}
			return deniedError(ap, reason)
		}
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range p.deny {
		if d.rule.matchHost(name, port) {
			return namedDeniedError(host, port, d.reason)
		}
	}
	if len(p.allow) == 0 && !p.allowNone {
		return nil
	}
	for _, r := range p.allow {
		if r.matchHost(name, port) {
			return nil
		}
	}
	return namedDeniedError(host, port, reasonNotAllowed+" by name")
}

// verdict returns the reason ap is denied, if it is.
func (p *Policy) verdict(ap netip.AddrPort) (reason string, denied bool) {
	return p.verdictFor("", ap, true)
}

// denyVerdict applies only the deny rules (the second check at connect
// time: the allow list, which may name hosts, was applied at look-up).
func (p *Policy) denyVerdict(ap netip.AddrPort) (reason string, denied bool) {
	return p.verdictFor("", ap, false)
}

// verdictFor returns the reason a connection to host (a name, or "" for a
// literal address) resolved to ap is denied, if it is.
func (p *Policy) verdictFor(host string, ap netip.AddrPort, withAllow bool) (reason string, denied bool) {
	a, port := ap.Addr().WithZone("").Unmap(), ap.Port()
	if !a.IsValid() {
		return reasonInvalid, true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range p.deny {
		if d.rule.match(a, port) || d.rule.matchHost(host, port) {
			return d.reason, true
		}
	}
	emb, n := embedded(a)
	for _, e := range emb[:n] {
		for _, d := range p.deny {
			if d.rule.match(e, port) {
				return d.reason + ", embedded as " + e.String(), true
			}
		}
	}
	if !withAllow || len(p.allow) == 0 && !p.allowNone {
		return "", false
	}
	for _, r := range p.allow {
		if r.match(a, port) || r.matchHost(host, port) {
			return "", false
		}
	}
	return reasonNotAllowed, true
}

// IPv6 ranges whose addresses carry an IPv4 address.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215, assumed /96 embedding
	v4Compatible   = netip.MustParsePrefix("::/96")           // RFC 4291, deprecated
	v4Translated   = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 (SIIT)
	sixToFour      = netip.MustParsePrefix("2002::/16")       // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")       // RFC 4380
)

// embedded returns the IPv4 addresses that an IPv6 address a carries, in
// ranges where a packet to a may end up at that IPv4 address.
func embedded(a netip.Addr) (out [2]netip.Addr, n int) {
	if !a.Is6() {
		return out, 0
	}
	b := a.As16()
	v4 := func(x []byte) netip.Addr { return netip.AddrFrom4([4]byte(x)) }
	switch {
	case nat64WellKnown.Contains(a), nat64Local.Contains(a), v4Translated.Contains(a):
		out[0], n = v4(b[12:16]), 1
	case v4Compatible.Contains(a):
		// :: and ::1 are the IPv6 unspecified and loopback addresses, not
		// 0.0.0.0 and 0.0.0.1.
		if a != netip.IPv6Unspecified() && a != netip.IPv6Loopback() {
			out[0], n = v4(b[12:16]), 1
		}
	case sixToFour.Contains(a):
		out[0], n = v4(b[2:6]), 1
	case teredo.Contains(a):
		// Server address in clear, client address with every bit flipped.
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		out[0], out[1], n = v4(b[4:8]), netip.AddrFrom4(client), 2
	}
	return out, n
}

// Rule matches destinations by address prefix and port range. The zero Rule
// matches every destination.
type Rule struct {
	// Prefix is the addresses matched; the zero Prefix matches every
	// address of both families, an invalid one matches none. IPv4
	// prefixes match IPv4-mapped IPv6 addresses too.
	Prefix netip.Prefix
	// Ports is the ports matched; the zero PortRange matches every port.
	Ports PortRange
	// Host, when set, makes this a host-name rule: it matches connections
	// made to that name ("db.example.com") or to any name under a suffix
	// ("*.example.com"), lower case, whatever addresses the name has. The
	// addresses are still checked against every deny rule. A connection
	// to a literal IP address never matches a host-name rule.
	Host string
}

// normal returns r with its prefix masked and unmapped.
func (r Rule) normal() Rule {
	if r.Prefix.IsValid() {
		r.Prefix = r.Prefix.Masked()
		if a := r.Prefix.Addr(); a.Is4In6() && r.Prefix.Bits() >= 96 {
			r.Prefix = netip.PrefixFrom(a.Unmap(), r.Prefix.Bits()-96)
		}
	}
	return r
}

// match reports whether an address rule r matches address a (unmapped,
// without zone) at port. Host-name rules never match an address.
func (r Rule) match(a netip.Addr, port uint16) bool {
	return r.Host == "" && r.Ports.Contains(port) && (r.Prefix == netip.Prefix{} || r.Prefix.Contains(a))
}

// matchHost reports whether a host-name rule matches the name host (lower
// case, no trailing dot) at port.
func (r Rule) matchHost(host string, port uint16) bool {
	if r.Host == "" || host == "" || !r.Ports.Contains(port) {
		return false
	}
	if suffix, ok := strings.CutPrefix(r.Host, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return host == r.Host
}

// String returns r in the form ParseRule reads.
func (r Rule) String() string {
	var addr string
	switch p := r.Prefix; {
	case r.Host != "":
		addr = r.Host
	case p == netip.Prefix{}:
		addr = "*"
	case p.IsSingleIP():
		addr = p.Addr().String()
	default:
		addr = p.String()
	}
	if r.Ports == (PortRange{}) {
		return addr
	}
	if r.Prefix.IsValid() && r.Prefix.Addr().Is6() {
		addr = "[" + addr + "]"
	}
	return addr + ":" + r.Ports.String()
}

// ParseRule parses an operator's egress rule: an address or CIDR prefix,
// optionally followed by a port or port range, with IPv6 in brackets when a
// port follows; "*" stands for every address.
//
//	10.0.0.0/8   192.168.1.5:5432   10.0.0.0/8:5432-5440
//	fd00::/8     [fd00::/8]:5432    [::1]:6379   *:22   *
//
// A host name, or "*." and a domain for every name under it, makes a
// host-name rule:
//
//	db.example.com:5432   *.corp.example.com   api.example.com:443
//
// Addresses must be written plainly (no zones, no odd IPv4 spellings).
func ParseRule(s string) (Rule, error) {
	var r Rule
	addr, ports := s, ""
	if rest, ok := strings.CutPrefix(s, "["); ok {
		inner, after, ok := strings.Cut(rest, "]")
		if !ok {
			return Rule{}, errors.New("egress: rule: missing ]")
		}
		if after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok || p == "" {
				return Rule{}, errors.New("egress: rule: expected :port after ]")
			}
			ports = p
		}
		addr = inner
		if !strings.Contains(addr, ":") {
			return Rule{}, errors.New("egress: rule: brackets are for IPv6 only")
		}
	} else if strings.Count(s, ":") == 1 {
		addr, ports, _ = strings.Cut(s, ":")
		if ports == "" {
			return Rule{}, errors.New("egress: rule: empty port")
		}
	}
	if addr != "*" && isHostPattern(addr) {
		r.Host = strings.ToLower(strings.TrimSuffix(addr, "."))
	} else if addr != "*" {
		var err error
		if strings.Contains(addr, "/") {
			r.Prefix, err = netip.ParsePrefix(addr)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(addr); err == nil {
				if a.Zone() != "" {
					return Rule{}, errors.New("egress: rule: zones are not allowed")
				}
				r.Prefix = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return Rule{}, errors.New("egress: rule: " + strconv.Quote(addr) + " is not an IP address, CIDR prefix or host name")
		}
	}
	if ports != "" {
		pr, err := ParsePortRange(ports)
		if err != nil {
			return Rule{}, err
		}
		r.Ports = pr
	}
	return r.normal(), nil
}

// PortRange is an inclusive range of ports. The zero PortRange holds every
// port.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether port is in r.
func (r PortRange) Contains(port uint16) bool {
	return r == PortRange{} || (r.First <= port && port <= r.Last)
}

// String returns r as "5432" or "5432-5440", or "" for every port.
func (r PortRange) String() string {
	switch {
	case r == PortRange{}:
		return ""
	case r.First == r.Last:
		return strconv.Itoa(int(r.First))
	default:
		return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
	}
}

// ParsePortRange parses "5432" or "5432-5440" (ports 1 to 65535).
func ParsePortRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	if !isRange {
		last = first
	}
	f, err1 := strconv.ParseUint(first, 10, 16)
	l, err2 := strconv.ParseUint(last, 10, 16)
	if err1 != nil || err2 != nil || f == 0 || l < f {
		return PortRange{}, errors.New("egress: rule: " + strconv.Quote(s) + " is not a port or port range (1-65535)")
	}
	return PortRange{uint16(f), uint16(l)}, nil
}

// mustRule parses a built-in rule.
func mustRule(s string) Rule {
	r, err := ParseRule(s)
	if err != nil {
		panic(err)
	}
	return r
}

// isHostPattern reports whether s is a host name or "*." and a host name,
// and not something that parses as an address.
func isHostPattern(s string) bool {
	if strings.Contains(s, "/") {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	name := strings.TrimPrefix(strings.TrimSuffix(s, "."), "*.")
	if !strings.Contains(name, ".") && !strings.HasPrefix(s, "*.") && name != "localhost" {
		// A single label (such as "db") is allowed only as localhost: it
		// is too easily a typo for an address.
		return false
	}
	if _, isAddr, err := ParseHost(name); err != nil || isAddr {
		return false
	}
	return validName(name) && !strings.Contains(name, "*")
}

// Profiles name common policies.
const (
	ProfileOpen      = "open"      // everything but the built-in and operator denials
	ProfilePrivate   = "private"   // only private networks and loopback (plus --egress-allow)
	ProfileAllowlist = "allowlist" // only what --egress-allow lists
)

// privateNetworks are the destinations of the private profile.
var privateNetworks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "127.0.0.0/8", "::1"}

// ProfileRules returns the allow rules a profile adds to the operator's,
// or an error for an unknown profile. The allowlist profile with no allow
// rule allows nothing.
func ProfileRules(profile string) ([]Rule, error) {
	switch profile {
	case "", ProfileOpen, ProfileAllowlist:
		return nil, nil
	case ProfilePrivate:
		out := make([]Rule, 0, len(privateNetworks))
		for _, p := range privateNetworks {
			out = append(out, mustRule(p))
		}
		return out, nil
	}
	return nil, errors.New("egress: unknown profile " + strconv.Quote(profile) + " (open, private or allowlist)")
}

// Description is a policy as shown to an operator.
type Description struct {
	Allow    []string          `json:"allow"`     // empty: everything not denied
	AllowAll bool              `json:"allow_all"` // true when there is no allow list
	Deny     []DescribedDenial `json:"deny"`
}

// DescribedDenial is one deny rule and why it exists.
type DescribedDenial struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Describe returns the effective rules.
func (p *Policy) Describe() Description {
	d := Description{Allow: []string{}, AllowAll: len(p.allow) == 0 && !p.allowNone}
	for _, r := range p.allow {
		d.Allow = append(d.Allow, r.String())
	}
	for _, x := range p.deny {
		d.Deny = append(d.Deny, DescribedDenial{Rule: x.rule.String(), Reason: x.reason})
	}
	return d
}

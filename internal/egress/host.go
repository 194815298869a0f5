package egress

import (
	"net/netip"
	"strings"
)

// ParseHost reports what host (a host without port or brackets) means to a
// resolver. When host is an IP address, in standard form or in any of the
// spellings that inet_aton and the C library resolver accept ("2852039166",
// "0251.0376.0251.0376", "0xa9fea9fe", "169.254.43518", with or without a
// trailing dot), ParseHost returns that address and isAddr true. When host is
// a valid DNS name that must be resolved, it returns isAddr false.
//
// Any other string is an error: one with characters a host name cannot hold
// (spaces, slashes, control characters, ...), and one made only of numbers
// that is not a valid address ("4294967296", "08.1.2.3", "1.2.3.4.5"), which
// resolvers disagree about and so must never be handed to one.
func ParseHost(host string) (addr netip.Addr, isAddr bool, err error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if z := a.Zone(); z != "" && (len(z) > 64 || !validName(z)) {
			return netip.Addr{}, false, invalidError("The host %q has an invalid IPv6 zone.", safeQuote(host))
		}
		return a, true, nil
	}
	if len(host) > 254 {
		return netip.Addr{}, false, invalidError("The host name is too long.")
	}
	s := strings.TrimSuffix(host, ".")
	if a, numeric, ok := parseNumericIPv4(s); numeric {
		if !ok {
			return netip.Addr{}, false, invalidError("The host %q is neither a valid IP address nor a host name.", safeQuote(host))
		}
		return a, true, nil
	}
	if !validName(s) {
		return netip.Addr{}, false, invalidError("The host %q is not a valid host name.", safeQuote(host))
	}
	return netip.Addr{}, false, nil
}

// parseNumericIPv4 parses s with the rules of inet_aton: one to four parts
// separated by dots, each decimal, octal (leading 0) or hexadecimal (leading
// 0x, possibly with no digits, meaning 0); the last part fills the bytes that
// are left. numeric is true when every part looks like a number, whether or
// not the whole is a valid address; ok is true when it is a valid address.
func parseNumericIPv4(s string) (a netip.Addr, numeric, ok bool) {
	parts := strings.Split(s, ".")
	vals := make([]uint64, len(parts))
	valid := true
	for i, p := range parts {
		v, isNum, good := parseNumber(p)
		if !isNum {
			return netip.Addr{}, false, false
		}
		vals[i], valid = v, valid && good
	}
	n := len(parts)
	if !valid || n > 4 {
		return netip.Addr{}, true, false
	}
	var x uint64
	for i, v := range vals[:n-1] {
		if v > 0xff {
			return netip.Addr{}, true, false
		}
		x |= v << (24 - 8*i)
	}
	if last := vals[n-1]; last <= 0xffffffff>>(8*(n-1)) {
		x |= last
	} else {
		return netip.Addr{}, true, false
	}
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), true, true
}

// parseNumber parses one inet_aton part. isNum is true when p looks like a
// number: decimal or octal digits, or 0x followed by hex digits. valid is
// true when it is a number that fits in 32 bits (an octal part with an 8 or
// a 9 looks like a number but is not one).
func parseNumber(p string) (v uint64, isNum, valid bool) {
	base, digits := uint64(10), p
	switch {
	case p == "":
		return 0, false, false
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, digits = 16, p[2:]
	case p[0] == '0':
		base = 8
	}
	valid = true
	for i := 0; i < len(digits); i++ {
		d, ok := digitValue(digits[i])
		if !ok || (base != 16 && d > 9) {
			return 0, false, false
		}
		if d >= base {
			valid = false
		} else if v = v*base + d; v > 0xffffffff {
			valid, v = false, 0
		}
	}
	return v, true, valid
}

// digitValue returns the value of a hex digit.
func digitValue(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

// validName reports whether s (without its trailing dot) is a DNS name made
// of labels of letters, digits, hyphens and underscores.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// safeQuote shortens s for an error message.
func safeQuote(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Package egress is the single choke point for every outbound connection of
// the gateway. It provides the egress Policy (which destination addresses and
// ports may be reached), ParseHost (what a host string means to a resolver,
// including odd IPv4 spellings such as "2852039166" or "0xa9fea9fe"), and the
// Dialer that every connector dials through, plus an http.Transport built on
// it for HTTP datasources.
//
// The Dialer resolves a host name once, checks every address the resolver
// returned against the policy, and then connects by IP address only, so a
// second look-up can never change the answer (DNS rebinding) and a name that
// mixes allowed and denied answers is refused as a whole. The default policy
// denies the unspecified addresses, link-local addresses (which hold the cloud
// metadata services), the other known cloud metadata endpoints, multicast and
// broadcast, in every IPv6 form that embeds an IPv4 address.
//
// This package must never connect anywhere before the policy has allowed the
// exact address it connects to, must never hand a host name to a step that
// resolves it again, must never use proxies from the environment, and must
// never put a secret in an error: its messages name only the destination
// host and address, which are plain datasource settings.
package egress

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/querygate/querygate"
)

// EDENIED is the code of the *querygate.Error returned when the policy
// refuses a destination. It equals connect.EEGRESS.
const EDENIED = "egress_denied"

// deniedError is the refusal of one address.
func deniedError(ap netip.AddrPort, reason string) error {
	return querygate.Errorf(EDENIED,
		"The egress policy does not allow connections to %s (%s).", ap, reason)
}

// nameDeniedError is the refusal of a host name because one of the
// addresses it resolves to is denied.
func nameDeniedError(host string, ap netip.AddrPort, reason string) error {
	return querygate.Errorf(EDENIED,
		"The egress policy does not allow connections to %s: it resolves to %s (%s).", host, ap, reason)
}

// namedDeniedError is the refusal of a host name at a port, as named
// (not resolved).
func namedDeniedError(host string, port uint16, reason string) error {
	return querygate.Errorf(EDENIED,
		"The egress policy does not allow connections to %s (%s).", net.JoinHostPort(host, strconv.Itoa(int(port))), reason)
}

// invalidError reports a destination that cannot be dialled at all.
func invalidError(format string, args ...any) error {
	return querygate.Errorf(querygate.EINVALID, "%s", fmt.Sprintf(format, args...))
}

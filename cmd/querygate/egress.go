package main

import (
	"net"
	"net/netip"
	"slices"

	"github.com/querygate/querygate/internal/egress"
)

// newDialer returns the one dialer every outbound connection goes
// through (connectors, the identity provider): the built-in denials, the
// gateway's own listening addresses (every listener, as bound, so that no
// datasource can point the gateway at itself; a denial no allow rule
// lifts), and the operator's profile, allow and deny rules and source
// address (all parsed by ParseFlags).
func newDialer(c *Config, listeners ...net.Listener) *egress.Dialer {
	var self []netip.AddrPort
	for _, ln := range listeners {
		if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
			self = append(self, tcp.AddrPort())
		}
	}
	rules := egress.Rules{
		Self:      self,
		AllowNone: c.EgressProfile == egress.ProfileAllowlist,
		Allow:     slices.Concat(c.EgressProfileRules, c.EgressAllow),
		Deny:      slices.Clone(c.EgressDeny),
	}
	return egress.NewDialer(egress.Options{Policy: egress.NewPolicy(rules), SourceIP: c.EgressSourceIP})
}

// describeEgress is what GET /api/egress shows.
func describeEgress(d *egress.Dialer, c *Config) func() any {
	return func() any {
		source := "chosen by the system for each connection"
		if a := d.SourceIP(); a.IsValid() {
			source = a.String()
		}
		return map[string]any{"profile": c.EgressProfile, "policy": d.Policy().Describe(), "source_ip": source,
			"require_datasource_tls": c.RequireDatasourceTLS}
	}
}

package main

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/connect/sqlite"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/metrics"
	"github.com/querygate/querygate/internal/query"
)

// openers maps each datasource kind to its connector.
func openers() map[string]query.Opener {
	return map[string]query.Opener{
		datasource.KindPostgres: opener(postgres.New),
		datasource.KindMySQL:    opener(mysql.New),
		datasource.KindSQLite:   opener(sqlite.New),
		datasource.KindRedis:    opener(redis.New),
		datasource.KindHTTP:     opener(httpapi.New),
	}
}

// opener adapts a connector constructor to a query.Opener (so that a nil
// *T never becomes a non-nil interface).
func opener[T connect.Connector](newFn func(connect.Config) (T, error)) query.Opener {
	return func(cfg connect.Config) (connect.Connector, error) {
		c, err := newFn(cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// newDialer returns the one dialer every outbound connection goes
// through (connectors, the identity provider): the built-in denials, the
// gateway's own listening addresses (every listener, as bound, so that no
// datasource can point the gateway at itself; a denial no allow rule
// lifts), and the operator's profile, allow and deny rules and source
// address (all validated in Config.validate).
func newDialer(c *Config, listeners ...net.Listener) *egress.Dialer {
	var self []netip.AddrPort
	for _, ln := range listeners {
		if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
			self = append(self, tcp.AddrPort())
		}
	}
	rules := egress.Rules{Self: self, AllowNone: c.EgressProfile == egress.ProfileAllowlist}
	rules.Allow, _ = egress.ProfileRules(c.EgressProfile)
	for _, s := range c.EgressAllow {
		r, _ := egress.ParseRule(s)
		rules.Allow = append(rules.Allow, r)
	}
	for _, s := range c.EgressDeny {
		r, _ := egress.ParseRule(s)
		rules.Deny = append(rules.Deny, r)
	}
	var source netip.Addr
	if c.EgressSourceIP != "" {
		source, _ = netip.ParseAddr(c.EgressSourceIP)
	}
	return egress.NewDialer(egress.Options{Policy: egress.NewPolicy(rules), SourceIP: source})
}

// describeEgress is what GET /api/egress shows.
func describeEgress(d *egress.Dialer, c *Config) func() any {
	return func() any {
		source := "chosen by the system for each connection"
		if a := d.SourceIP(); a.IsValid() {
			source = a.String()
		}
		profile := c.EgressProfile
		if profile == "" {
			profile = egress.ProfileOpen
		}
		return map[string]any{"profile": profile, "policy": d.Policy().Describe(), "source_ip": source,
			"require_datasource_tls": c.RequireDatasourceTLS}
	}
}

// preflight checks a datasource's settings before they are stored: the
// TLS rule, then whether the egress policy lets the gateway reach its
// destination (a name that does not resolve yet is let through; the check
// runs again at every connection).
func preflight(d *egress.Dialer, requireTLS bool) func(ctx context.Context, kind string, settings map[string]any) error {
	return func(ctx context.Context, kind string, settings map[string]any) error {
		if requireTLS {
			if err := datasource.VerifiedTLS(kind, settings); err != nil {
				return err
			}
		}
		addr, ok := datasource.Destination(kind, settings)
		if !ok {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := d.Lookup(ctx, "tcp", addr); querygate.ErrorCode(err) == egress.EDENIED {
			field := "settings.host"
			if kind == datasource.KindHTTP {
				field = "settings.base_url"
			}
			return &querygate.Error{Code: egress.EDENIED, Field: field, Message: querygate.ErrorMessage(err)}
		}
		return nil
	}
}

// ownFiles lists what no SQLite datasource may ever open: the gateway's own
// data directory, store and key file.
func (m *Main) ownFiles() []string {
	db := filepath.Join(m.Config.DataDir, "querygate.db")
	out := []string{m.Config.DataDir, db, db + "-wal", db + "-shm", m.Config.MasterKeyFile}
	for i, p := range out {
		if abs, err := filepath.Abs(p); err == nil {
			out[i] = abs
		}
	}
	return out
}

// countDenials counts the egress policy's refusals in the metrics.
func countDenials(dial connect.DialFunc, met *metrics.Metrics) connect.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if querygate.ErrorCode(err) == connect.EEGRESS {
			met.EgressDenied()
		}
		return c, err
	}
}

// prefixes reads a validated list of addresses and CIDR prefixes.
func prefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

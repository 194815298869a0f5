package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/connect/sqlite"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/metrics"
)

// kinds lists the datasource kinds this gateway serves: the one list, in
// the order the API and the pages show them. Each connector package
// describes its own kind (schema, decoding, opening, destination, TLS).
// Without a --sqlite-dir no SQLite file may be opened, so the SQLite kind
// is off: none can be created, and the refusal names the flag.
func kinds(sqliteDirs []string) *kind.Registry {
	lite := sqlite.Kind()
	if len(sqliteDirs) == 0 {
		lite.Off = "SQLite datasources are off on this gateway: the operator turns them on with --sqlite-dir DIR (the directories their files may be in)."
	}
	return kind.NewRegistry(postgres.Kind(), mysql.Kind(), lite, redis.Kind(), httpapi.Kind())
}

// preflight checks a datasource's settings before they are stored: the
// TLS rule, then whether the egress policy lets the gateway reach its
// destination (a name that does not resolve yet is let through; the check
// runs again at every connection).
func preflight(reg *kind.Registry, d *egress.Dialer, requireTLS bool) func(ctx context.Context, kind string, settings map[string]any) error {
	return func(ctx context.Context, name string, settings map[string]any) error {
		k, ok := reg.Find(name)
		if !ok {
			return nil
		}
		if requireTLS && k.VerifiedTLS != nil {
			if err := k.VerifiedTLS(settings); err != nil {
				return err
			}
		}
		if k.Destination == nil {
			return nil
		}
		dest, ok := k.Destination(settings)
		if !ok {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, tunnels := k.Field(egress.SSHHost); tunnels {
			if bastion, ok := kind.Bastion(settings); ok {
				return preflightTunnel(ctx, d, settings, bastion, dest)
			}
		}
		if _, err := d.Lookup(ctx, "tcp", dest.Addr); querygate.ErrorCode(err) == egress.EDENIED {
			return &querygate.Error{Code: egress.EDENIED, Field: "settings." + dest.Setting, Message: querygate.ErrorMessage(err)}
		}
		return nil
	}
}

// preflightTunnel checks a datasource reached through an SSH bastion: its
// user and confirmed host key are set and readable, the egress policy
// lets the gateway reach the bastion, and the destination as named.
func preflightTunnel(ctx context.Context, d *egress.Dialer, settings map[string]any, bastion, dest kind.Destination) error {
	if u, _ := settings[egress.SSHUser].(string); u == "" {
		return querygate.FieldErrorf("settings."+egress.SSHUser, "settings.%s is required with settings.%s.", egress.SSHUser, egress.SSHHost)
	}
	key, _ := settings[egress.SSHHostKey].(string)
	if key == "" {
		return querygate.FieldErrorf("settings."+egress.SSHHostKey, "settings.%s is required with settings.%s: the bastion's host key is never trusted on first use.", egress.SSHHostKey, egress.SSHHost)
	}
	if _, err := egress.ParseHostKey(key); err != nil {
		return querygate.FieldErrorf("settings."+egress.SSHHostKey, "%s", querygate.ErrorMessage(err))
	}
	if _, err := d.Lookup(ctx, "tcp", bastion.Addr); querygate.ErrorCode(err) == egress.EDENIED {
		return &querygate.Error{Code: egress.EDENIED, Field: "settings." + bastion.Setting, Message: querygate.ErrorMessage(err)}
	}
	host, portText, err := net.SplitHostPort(dest.Addr)
	if err != nil {
		return nil
	}
	port, _ := strconv.ParseUint(portText, 10, 16)
	if err := d.Policy().CheckNamed(host, uint16(port)); querygate.ErrorCode(err) == egress.EDENIED {
		return &querygate.Error{Code: egress.EDENIED, Field: "settings." + dest.Setting, Message: querygate.ErrorMessage(err)}
	}
	return nil
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

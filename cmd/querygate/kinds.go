package main

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/connect/postgres"
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

// newDialer returns the one dialer every connector uses: the default
// egress policy, which also denies the gateway's own listening address.
func newDialer(ln net.Listener) *egress.Dialer {
	var self []netip.AddrPort
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		self = append(self, tcp.AddrPort())
	}
	return egress.NewDialer(egress.Options{Policy: egress.NewPolicy(egress.Rules{Self: self})})
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

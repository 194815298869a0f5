package query

import (
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/connect/sqlite"
	"github.com/querygate/querygate/internal/kind"
)

// allKinds are the gateway's kinds, as main lists them, for the
// catalogue of the tests.
var allKinds = kind.NewRegistry(postgres.Kind(), mysql.Kind(), sqlite.Kind(), redis.Kind(), httpapi.Kind())

// fakePostgres returns the registry of the query service under test: the
// PostgreSQL kind whose Open is open (a hand-written connector) and whose
// Decode hands open the opened password, so that a test sees which
// secret reached the connector.
func fakePostgres(open func(connect.Config) (connect.Connector, error)) *kind.Registry {
	k := postgres.Kind()
	k.Decode = func(_ map[string]any, secrets connect.Secrets) (any, error) {
		pw, _ := secrets.Get("password")
		return pw, nil
	}
	k.Open = open
	return kind.NewRegistry(k)
}

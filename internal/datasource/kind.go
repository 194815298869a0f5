package datasource

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/querygate/querygate/internal/kind"
)

// The schema types are the kind registry's (package kind): each connector
// package describes its own kind, and main lists them once.
type (
	// FieldType is the type of one settings or secrets field.
	FieldType = kind.FieldType
	// Field describes one field of a kind's settings or secrets.
	Field = kind.Field
	// Kind is a datasource kind and its settings schema.
	Kind = kind.Kind
)

// Field types. Each has one validator in validate.go.
const (
	TypeString  = kind.TypeString
	TypeHost    = kind.TypeHost
	TypePort    = kind.TypePort
	TypeInt     = kind.TypeInt
	TypeBool    = kind.TypeBool
	TypeEnum    = kind.TypeEnum
	TypeURL     = kind.TypeURL
	TypePath    = kind.TypePath
	TypePEM     = kind.TypePEM
	TypeHeaders = kind.TypeHeaders
)

// Kind names, as stored. Each connector package names its own kind
// (postgres.Name, ...); these are for the code that cannot import the
// connectors.
const (
	KindPostgres = "postgres"
	KindMySQL    = "mysql"
	KindSQLite   = "sqlite"
	KindRedis    = "redis"
	KindHTTP     = "http"
)

var (
	// registry holds the kinds main installed (UseKinds).
	registry atomic.Pointer[kind.Registry]
	useOnce  sync.Once
	// kinds is registry's list, set once with it.
	kinds []*Kind
)

// UseKinds installs the gateway's kinds, the one list main makes, for the
// catalogue (Service, FindKind, Kinds, Destination, VerifiedTLS). The
// first call wins: a later one must list the same kinds, in the same
// order, or it panics (two lists would be two truths).
func UseKinds(r *kind.Registry) {
	useOnce.Do(func() {
		kinds = r.All()
		registry.Store(r)
	})
	if !slices.Equal(names(registry.Load().All()), names(r.All())) {
		panic("datasource: UseKinds called with another list of kinds")
	}
}

func names(ks []*Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

// Kinds returns every kind, in a stable order (none before UseKinds).
func Kinds() []*Kind { return registry.Load().All() }

// FindKind returns the kind with that name.
func FindKind(name string) (*Kind, bool) { return registry.Load().Find(name) }

package datasource

import (
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

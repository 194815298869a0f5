package sqlite

import (
	"github.com/querygate/querygate/internal/kind"
)

// Name is the kind name of SQLite datasources.
const Name = "sqlite"

// Kind returns the SQLite datasource kind: its settings schema and how
// its settings are decoded and a connector opened. It opens local files:
// no network destination, no TLS.
func Kind() *kind.Kind {
	return &kind.Kind{
		Name: Name, Label: "SQLite",
		Fields: []kind.Field{
			{Name: "path", Label: "Database file", Type: kind.TypePath, Required: true,
				Help: "Absolute path of the database file on the gateway's host, inside a directory the operator allows."},
		},
		Shape:   kind.SQL,
		Dialect: "sqlite",
		Decode:  kind.Decoder(DecodeSettings),
		Open:    kind.Opener(New),
	}
}

package postgres

import (
	dskind "github.com/querygate/querygate/internal/kind"
)

// Name is the kind name of PostgreSQL datasources.
const Name = "postgres"

// Kind returns the PostgreSQL datasource kind: its settings schema, how
// its settings are decoded and a connector opened, where it connects and
// whether its TLS is verified.
func Kind() *dskind.Kind {
	return &dskind.Kind{
		Name: Name, Label: "PostgreSQL", DevicePassword: "password",
		Fields:      append(dskind.ServerFields(5432, "sslmode", tlsModes), dskind.SSHFields()...),
		Shape:       dskind.SQL,
		Dialect:     "postgres",
		Decode:      dskind.Decoder(DecodeSettings),
		Open:        dskind.Opener(New),
		Destination: dskind.Reaches(5432),
		VerifiedTLS: dskind.VerifiedModes("sslmode", "verify-full", "verify-ca"),
		TLSSetting:  "sslmode",
	}
}

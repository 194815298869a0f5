package mysql

import (
	dskind "github.com/querygate/querygate/internal/kind"
)

// Name is the kind name of MySQL and MariaDB datasources.
const Name = "mysql"

// Kind returns the MySQL / MariaDB datasource kind: its settings schema,
// how its settings are decoded and a connector opened, where it connects
// and whether its TLS is verified.
func Kind() *dskind.Kind {
	return &dskind.Kind{
		Name: Name, Label: "MySQL / MariaDB", DevicePassword: "password",
		Fields:      append(dskind.ServerFields(3306, "tls", tlsModes), dskind.SSHFields()...),
		Shape:       dskind.SQL,
		Dialect:     "mysql",
		Decode:      dskind.Decoder(DecodeSettings),
		Open:        dskind.Opener(New),
		Destination: dskind.Reaches(3306),
		VerifiedTLS: dskind.VerifiedModes("tls", "verify-full", "verify-ca"),
		TLSSetting:  "tls",
	}
}

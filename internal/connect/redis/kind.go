package redis

import (
	"slices"

	dskind "github.com/querygate/querygate/internal/kind"
)

// Name is the kind name of Redis datasources.
const Name = "redis"

// Kind returns the Redis datasource kind: its settings schema, how its
// settings are decoded and a connector opened, where it connects and
// whether its TLS is verified.
func Kind() *dskind.Kind {
	return &dskind.Kind{
		Name: Name, Label: "Redis", DevicePassword: "password",
		Fields: append([]dskind.Field{
			{Name: "host", Label: "Host", Type: dskind.TypeHost, Required: true, Guards: true, Help: "Host name or IP address of the server."},
			{Name: "port", Label: "Port", Type: dskind.TypePort, Guards: true, Default: 6379},
			{Name: "db", Label: "Database number", Type: dskind.TypeInt, Default: 0, Min: 0, Max: 15},
			{Name: "username", Label: "User", Type: dskind.TypeString, Help: "ACL user name (Redis 6 and later); leave empty for the default user."},
			{Name: "tls", Label: "TLS", Type: dskind.TypeEnum, Guards: true, Default: "disable",
				Enum: slices.Clone(tlsModes)},
			dskind.CACert, dskind.ClientCert,
			{Name: "allow_admin", Label: "Allow administrative commands", Type: dskind.TypeBool, Default: false, Insecure: true, Guards: true,
				Help: "Insecure: lets queries run administrative and dangerous commands (CONFIG, FLUSHALL, SHUTDOWN, scripts, ACL, ...). Commands that change a pooled connection (AUTH, SELECT, MULTI, SUBSCRIBE, ...) stay refused."},
			{Name: "schema_scan", Label: "Show key patterns in the schema", Type: dskind.TypeBool, Default: false,
				Help: "Lets the schema browser summarise keys into patterns (user:*) with their types: a bounded SCAN of at most 1,000 keys per read."},
			{Name: "password", Label: "Password", Type: dskind.TypeString, Secret: true},
			dskind.ClientKey,
		}, dskind.SSHFields()...),
		Shape:       dskind.Command,
		Decode:      dskind.Decoder(DecodeSettings),
		Open:        dskind.Opener(New),
		Destination: dskind.Reaches(6379),
		VerifiedTLS: dskind.VerifiedModes("tls", "verify-full"),
		TLSSetting:  "tls",
	}
}

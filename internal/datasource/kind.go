package datasource

// FieldType is the type of one settings or secrets field.
type FieldType string

// Field types. Each has one validator in validate.go.
const (
	TypeString  FieldType = "string"  // one line of text
	TypeHost    FieldType = "host"    // a host name or IP address
	TypePort    FieldType = "port"    // 1-65535
	TypeInt     FieldType = "int"     // an integer within Min..Max
	TypeBool    FieldType = "bool"    // true or false
	TypeEnum    FieldType = "enum"    // one of Enum
	TypeURL     FieldType = "url"     // an http or https URL without credentials
	TypePath    FieldType = "path"    // an absolute file path
	TypePEM     FieldType = "pem"     // a PEM block (certificate or key)
	TypeHeaders FieldType = "headers" // an object of HTTP header names to values
)

// Field describes one field of a kind's settings or secrets.
type Field struct {
	Name     string    `json:"name"`
	Label    string    `json:"label"`
	Help     string    `json:"help,omitempty"`
	Type     FieldType `json:"type"`
	Required bool      `json:"required,omitempty"`
	// Secret fields are sealed at rest and never sent back.
	Secret  bool     `json:"secret,omitempty"`
	Default any      `json:"default,omitempty"`
	Enum    []string `json:"enum,omitempty"`
	Min     int      `json:"min,omitempty"`
	Max     int      `json:"max,omitempty"`
	// Insecure marks a setting that weakens security when turned on; the
	// API and UI flag it.
	Insecure bool `json:"insecure,omitempty"`
	// Guards marks a setting that decides where and how the secrets are
	// sent (host, port, base URL, TLS). Changing it on a datasource with
	// stored secrets requires sending those secrets again, so that nobody
	// who may edit settings can redirect credentials they never saw.
	Guards bool `json:"guards_secrets,omitempty"`
}

// Kind is a datasource kind and its settings schema.
type Kind struct {
	Name   string  `json:"name"`
	Label  string  `json:"label"`
	Fields []Field `json:"fields"`
	// DevicePassword names the secret that device custody keeps on the
	// user's devices instead of the server.
	DevicePassword string `json:"device_password,omitempty"`
}

// Field returns the field with that name.
func (k *Kind) Field(name string) (Field, bool) {
	for _, f := range k.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Kind names.
const (
	KindPostgres = "postgres"
	KindMySQL    = "mysql"
	KindSQLite   = "sqlite"
	KindRedis    = "redis"
	KindHTTP     = "http"
)

var tlsCA = Field{Name: "ca_cert", Label: "CA certificate", Type: TypePEM, Guards: true,
	Help: "PEM certificate of the authority that signed the server's certificate, when it is not publicly trusted."}
var clientCert = Field{Name: "client_cert", Label: "Client certificate", Type: TypePEM,
	Help: "PEM client certificate, for servers that require one."}
var clientKey = Field{Name: "client_key", Label: "Client key", Type: TypePEM, Secret: true,
	Help: "PEM private key of the client certificate."}

// allowPrivilegedRole lets an operator keep a read-only datasource whose
// database role could escape read-only (connect.AllowPrivilegedRole).
var allowPrivilegedRole = Field{Name: "allow_privileged_role", Label: "Allow a privileged role on a read-only datasource",
	Type: TypeBool, Insecure: true,
	Help: "Insecure: a read-only datasource is refused when its database role can get around read-only " +
		"(superuser, server files and programs, extensions with connections of their own, server-wide settings). " +
		"Turn this on only to accept that risk knowingly; use a role without those privileges instead."}

var kinds = []*Kind{
	{
		Name: KindPostgres, Label: "PostgreSQL", DevicePassword: "password",
		Fields: []Field{
			{Name: "host", Label: "Host", Type: TypeHost, Required: true, Guards: true, Help: "Host name or IP address of the server."},
			{Name: "port", Label: "Port", Type: TypePort, Guards: true, Default: 5432},
			{Name: "database", Label: "Database", Type: TypeString, Required: true},
			{Name: "user", Label: "User", Type: TypeString, Required: true},
			{Name: "sslmode", Label: "TLS mode", Type: TypeEnum, Guards: true, Default: "verify-full",
				Enum: []string{"disable", "require", "verify-ca", "verify-full"},
				Help: "verify-full checks the certificate and the host name; disable sends everything in clear and is only for local servers."},
			tlsCA, clientCert, allowPrivilegedRole,
			{Name: "password", Label: "Password", Type: TypeString, Secret: true},
			clientKey,
		},
	},
	{
		Name: KindMySQL, Label: "MySQL / MariaDB", DevicePassword: "password",
		Fields: []Field{
			{Name: "host", Label: "Host", Type: TypeHost, Required: true, Guards: true, Help: "Host name or IP address of the server."},
			{Name: "port", Label: "Port", Type: TypePort, Guards: true, Default: 3306},
			{Name: "database", Label: "Database", Type: TypeString, Required: true},
			{Name: "user", Label: "User", Type: TypeString, Required: true},
			{Name: "tls", Label: "TLS mode", Type: TypeEnum, Guards: true, Default: "verify-full",
				Enum: []string{"disable", "require", "verify-ca", "verify-full"},
				Help: "verify-full checks the certificate and the host name; disable sends everything in clear and is only for local servers."},
			tlsCA, clientCert, allowPrivilegedRole,
			{Name: "password", Label: "Password", Type: TypeString, Secret: true},
			clientKey,
		},
	},
	{
		Name: KindSQLite, Label: "SQLite",
		Fields: []Field{
			{Name: "path", Label: "Database file", Type: TypePath, Required: true,
				Help: "Absolute path of the database file on the gateway's host, inside a directory the operator allows."},
		},
	},
	{
		Name: KindRedis, Label: "Redis", DevicePassword: "password",
		Fields: []Field{
			{Name: "host", Label: "Host", Type: TypeHost, Required: true, Guards: true, Help: "Host name or IP address of the server."},
			{Name: "port", Label: "Port", Type: TypePort, Guards: true, Default: 6379},
			{Name: "db", Label: "Database number", Type: TypeInt, Default: 0, Min: 0, Max: 15},
			{Name: "username", Label: "User", Type: TypeString, Help: "ACL user name (Redis 6 and later); leave empty for the default user."},
			{Name: "tls", Label: "TLS", Type: TypeEnum, Guards: true, Default: "disable",
				Enum: []string{"disable", "require", "verify-full"}},
			tlsCA, clientCert,
			{Name: "allow_admin", Label: "Allow administrative commands", Type: TypeBool, Default: false, Insecure: true, Guards: true,
				Help: "Insecure: lets queries run administrative and dangerous commands (CONFIG, FLUSHALL, SHUTDOWN, scripts, ACL, ...). Commands that change a pooled connection (AUTH, SELECT, MULTI, SUBSCRIBE, ...) stay refused."},
			{Name: "password", Label: "Password", Type: TypeString, Secret: true},
			clientKey,
		},
	},
	{
		Name: KindHTTP, Label: "HTTP API", DevicePassword: "bearer_token",
		Fields: []Field{
			{Name: "base_url", Label: "Base URL", Type: TypeURL, Required: true, Guards: true,
				Help: "Every request goes under this URL, for example https://api.example.com/v1/. Put credentials in the secret fields, not in the URL."},
			{Name: "headers", Label: "Headers", Type: TypeHeaders, Help: "Plain headers sent with every request. Put tokens in Secret headers."},
			{Name: "timeout_ms", Label: "Timeout (ms)", Type: TypeInt, Default: 30000, Min: 100, Max: 600000},
			tlsCA,
			{Name: "insecure_skip_verify", Label: "Skip TLS verification", Type: TypeBool, Default: false, Insecure: true, Guards: true,
				Help: "Insecure: accepts any certificate, so anyone on the path can read and change the traffic. Only for testing."},
			{Name: "basic_user", Label: "Basic auth user", Type: TypeString},
			{Name: "api_key_name", Label: "API key name", Type: TypeString, Guards: true, Help: "Header or query parameter that carries the API key."},
			{Name: "api_key_in", Label: "API key sent in", Type: TypeEnum, Guards: true, Default: "header", Enum: []string{"header", "query"}},
			{Name: "bearer_token", Label: "Bearer token", Type: TypeString, Secret: true},
			{Name: "basic_password", Label: "Basic auth password", Type: TypeString, Secret: true},
			{Name: "api_key", Label: "API key", Type: TypeString, Secret: true},
			{Name: "secret_headers", Label: "Secret headers", Type: TypeHeaders, Secret: true,
				Help: "Headers whose values are secret, such as X-Api-Token."},
		},
	},
}

// Kinds returns every kind, in a stable order.
func Kinds() []*Kind { return kinds }

// FindKind returns the kind with that name.
func FindKind(name string) (*Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

// Package kind provides the registry of datasource kinds: for each kind,
// its settings schema, how its settings and secrets are decoded into the
// connector's typed settings, how a connector is opened, where it
// connects to (for the egress pre-check), whether it verifies TLS, the
// shape of its requests and its SQL dialect.
//
// Each connector package (connect/postgres, connect/mysql, ...) exports
// its Kind; main lists them once in a Registry and hands it to the
// datasource catalogue and the query service. This package knows no kind
// by name and must never import a connector.
package kind

import (
	"strings"

	"github.com/querygate/querygate/internal/connect"
)

// FieldType is the type of one settings or secrets field.
type FieldType string

// Field types. Each has one validator in datasource/validate.go.
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

// Shape is the shape of the requests a kind runs.
type Shape int

// Request shapes.
const (
	// SQL kinds run a statement text with positional parameters
	// (connect.Request Query and Params).
	SQL Shape = iota
	// Command kinds (Redis) run a command and its arguments
	// (connect.Request Command).
	Command
	// HTTP kinds run an HTTP request under their base URL
	// (connect.Request HTTP).
	HTTP
)

// Destination is where a datasource connects to.
type Destination struct {
	// Addr is the host:port dialled.
	Addr string
	// Setting names the setting that decides it (host, base_url), for
	// the field of an error.
	Setting string
}

// Kind is a datasource kind: its settings schema and, apart from the JSON
// form the API shows, what the gateway needs to use it.
type Kind struct {
	Name   string  `json:"name"`
	Label  string  `json:"label"`
	Fields []Field `json:"fields"`
	// DevicePassword names the secret that device custody keeps on the
	// user's devices instead of the server.
	DevicePassword string `json:"device_password,omitempty"`

	// Shape is the shape of the kind's requests.
	Shape Shape `json:"-"`
	// Dialect names the SQL dialect of a SQL kind (the savedquery
	// dialects); empty for the other shapes.
	Dialect string `json:"-"`
	// Decode reads a datasource's settings (as the catalogue validated
	// them) and opened secrets into the connector's typed settings, which
	// Open then finds in connect.Config.Settings. Its errors are
	// connect.ECONFIG, naming settings, never their values.
	Decode func(settings map[string]any, secrets connect.Secrets) (any, error) `json:"-"`
	// Open returns a connector for cfg, whose Settings Decode returned.
	// It does not connect.
	Open func(cfg connect.Config) (connect.Connector, error) `json:"-"`
	// Destination, when set, returns where a datasource with these
	// settings connects, for the egress pre-check; false when the settings
	// name none. Nil for kinds without a network destination (SQLite).
	Destination func(settings map[string]any) (Destination, bool) `json:"-"`
	// VerifiedTLS, when set, returns nil when a datasource with these
	// settings connects only over TLS whose certificate is verified, and
	// otherwise an EINVALID error naming the setting to change (see
	// TLSRequired). Nil for kinds that open local files.
	VerifiedTLS func(settings map[string]any) error `json:"-"`
	// TLSSetting names the setting that chooses the kind's TLS mode
	// (sslmode, tls), whose value "disable" sends everything in clear;
	// empty for kinds without one.
	TLSSetting string `json:"-"`
	// Off, when set, says why datasources of this kind cannot be created
	// on this gateway, naming the operator setting that turns the kind on
	// (SQLite without --sqlite-dir). The catalogue refuses to create one,
	// the API and the form leave the kind out; existing datasources of
	// the kind are still listed.
	Off string `json:"-"`
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

// Insecure returns the names of the settings of the kind that weaken
// security in settings, for a datasource whose configured secrets are
// named by secrets: an insecure option turned on, the TLS mode set to
// disable (everything in clear), and a URL over plain http while a
// credential is configured (the credential crosses the network in clear).
func (k *Kind) Insecure(settings map[string]any, secrets []string) []string {
	var out []string
	for _, f := range k.Fields {
		switch {
		case f.Insecure && settings[f.Name] == true:
			out = append(out, f.Name)
		case f.Name == k.TLSSetting && settings[f.Name] == "disable":
			out = append(out, f.Name)
		case f.Type == TypeURL && len(secrets) > 0 && plainHTTP(settings[f.Name]):
			out = append(out, f.Name)
		}
	}
	return out
}

// plainHTTP reports whether v is an http:// URL.
func plainHTTP(v any) bool {
	s, _ := v.(string)
	return len(s) >= len("http://") && strings.EqualFold(s[:len("http://")], "http://")
}

// Creatable returns the kinds a datasource can be created of: those not
// turned off, in the registry's order.
func (r *Registry) Creatable() []*Kind {
	var out []*Kind
	for _, k := range r.All() {
		if k.Off == "" {
			out = append(out, k)
		}
	}
	return out
}

// Registry is the list of the kinds a gateway serves, in a stable order.
// It is built once (in main) and never changes.
type Registry struct {
	kinds []*Kind
}

// NewRegistry returns a registry of kinds, in that order. It panics on a
// kind without a name or listed twice: the list is written in main.
func NewRegistry(kinds ...*Kind) *Registry {
	seen := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		if k == nil || k.Name == "" || seen[k.Name] {
			panic("kind: a kind without a name or listed twice")
		}
		seen[k.Name] = true
	}
	return &Registry{kinds: kinds}
}

// All returns every kind, in the registry's order. The caller must not
// change the slice.
func (r *Registry) All() []*Kind {
	if r == nil {
		return nil
	}
	return r.kinds
}

// Find returns the kind with that name.
func (r *Registry) Find(name string) (*Kind, bool) {
	for _, k := range r.All() {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

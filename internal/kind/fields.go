package kind

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/egress"
)

// Fields several kinds share.
var (
	// CACert is the authority a server's certificate is checked against.
	CACert = Field{Name: "ca_cert", Label: "CA certificate", Type: TypePEM, Guards: true,
		Help: "PEM certificate of the authority that signed the server's certificate, when it is not publicly trusted."}
	// ClientCert is a client certificate sent to the server.
	ClientCert = Field{Name: "client_cert", Label: "Client certificate", Type: TypePEM,
		Help: "PEM client certificate, for servers that require one."}
	// ClientKey is the secret key of ClientCert.
	ClientKey = Field{Name: "client_key", Label: "Client key", Type: TypePEM, Secret: true,
		Help: "PEM private key of the client certificate."}
	// AllowPrivilegedRole lets an operator keep a read-only datasource
	// whose database role could escape read-only
	// (connect.AllowPrivilegedRole).
	AllowPrivilegedRole = Field{Name: connect.AllowPrivilegedRole, Label: "Allow a privileged role on a read-only datasource",
		Type: TypeBool, Insecure: true,
		Help: "Insecure: a read-only datasource is refused when its database role can get around read-only " +
			"(superuser, server files and programs, extensions with connections of their own, server-wide settings). " +
			"Turn this on only to accept that risk knowingly; use a role without those privileges instead."}
)

// HostPort returns the destination of a kind whose settings hold a host
// and a port (defaultPort when the port is not set); false without a
// host.
func HostPort(settings map[string]any, defaultPort int) (Destination, bool) {
	host, _ := settings["host"].(string)
	if host == "" {
		return Destination{}, false
	}
	port := 0
	switch p := settings["port"].(type) {
	case float64:
		port = int(p)
	case int:
		port = p
	case int64:
		port = int(p)
	}
	if port == 0 {
		port = defaultPort
	}
	return Destination{Addr: net.JoinHostPort(host, strconv.Itoa(port)), Setting: "host"}, port > 0
}

// TLSRequired is the error of a VerifiedTLS function: the setting field
// (such as "settings.sslmode") does not give verified TLS, and fix says
// how to change it.
func TLSRequired(field, fix string) error {
	return &querygate.Error{Code: querygate.EINVALID, Field: field,
		Message: field + ": this gateway requires verified TLS for every datasource (--require-datasource-tls): " + fix}
}

// Opener adapts a connector package's constructor to Kind.Open, so that a
// failed constructor never puts a typed nil in the interface.
func Opener[C connect.Connector](open func(connect.Config) (C, error)) func(connect.Config) (connect.Connector, error) {
	return func(cfg connect.Config) (connect.Connector, error) {
		c, err := open(cfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// Decoder adapts a connector package's settings decoder to Kind.Decode.
func Decoder[S any](decode func(map[string]any, connect.Secrets) (S, error)) func(map[string]any, connect.Secrets) (any, error) {
	return func(settings map[string]any, secrets connect.Secrets) (any, error) {
		return decode(settings, secrets)
	}
}

// VerifiedModes is Kind.VerifiedTLS for a kind whose TLS setting (such as
// sslmode or tls) verifies the server only in the modes named.
func VerifiedModes(setting string, modes ...string) func(map[string]any) error {
	fix := "set " + setting + " to " + modes[0]
	if len(modes) > 1 {
		fix += " (or " + strings.Join(modes[1:], ", ") + ")"
	}
	return func(settings map[string]any) error {
		if m, _ := settings[setting].(string); !slices.Contains(modes, m) {
			return TLSRequired("settings."+setting, fix)
		}
		return nil
	}
}

// Reaches is Kind.Destination for a kind that connects to its host and
// port settings, with defaultPort when the port is not set.
func Reaches(defaultPort int) func(map[string]any) (Destination, bool) {
	return func(settings map[string]any) (Destination, bool) { return HostPort(settings, defaultPort) }
}

// ServerFields are the settings and secrets of a database server reached
// by host and port as a user with a password, whose TLS mode is the
// setting tlsSetting (one of modes, verify-full by default): host, port,
// database, user, the TLS mode, the CA and client certificate,
// allow_privileged_role, the password and the client key.
func ServerFields(defaultPort int, tlsSetting string, modes []string) []Field {
	return []Field{
		{Name: "host", Label: "Host", Type: TypeHost, Required: true, Guards: true, Help: "Host name or IP address of the server."},
		{Name: "port", Label: "Port", Type: TypePort, Guards: true, Default: defaultPort},
		{Name: "database", Label: "Database", Type: TypeString, Required: true},
		{Name: "user", Label: "User", Type: TypeString, Required: true},
		{Name: tlsSetting, Label: "TLS mode", Type: TypeEnum, Guards: true, Default: "verify-full",
			Enum: slices.Clone(modes),
			Help: "verify-full (the default) checks the certificate and the host name, so the server must offer TLS with a certificate for this host. " +
				"A database on this machine (localhost) or a private test server often has no TLS: choose disable there, which sends everything in clear and is only for local servers."},
		CACert, ClientCert, AllowPrivilegedRole,
		{Name: "password", Label: "Password", Type: TypeString, Secret: true},
		ClientKey,
	}
}

// SSHFields are the settings and secrets of an optional SSH tunnel (see
// egress.DecodeSSH): the bastion's host, port, user and confirmed host
// key, and its private key (with its passphrase) or password. The
// bastion's settings guard the secrets, like the datasource's host.
func SSHFields() []Field {
	return []Field{
		{Name: egress.SSHHost, Label: "SSH bastion host", Type: TypeHost, Guards: true,
			Help: "Host name or IP address of an SSH bastion to reach the datasource through; leave empty to connect directly. " +
				"The datasource's host is then as the bastion names it, and the egress policy checks it as named."},
		{Name: egress.SSHPort, Label: "SSH port", Type: TypePort, Guards: true, Help: "22 when not set."},
		{Name: egress.SSHUser, Label: "SSH user", Type: TypeString, Guards: true},
		{Name: egress.SSHHostKey, Label: "SSH host key", Type: TypeString, Guards: true,
			Help: "Required with an SSH bastion: its host key as a known_hosts line (ssh-keyscan), a public key line, or its SHA256 fingerprint. " +
				"The key is never trusted on first use: check it with the bastion's administrator."},
		{Name: egress.SSHPrivateKey, Label: "SSH private key", Type: TypePEM, Secret: true,
			Help: "PEM or OpenSSH private key the gateway authenticates to the bastion with."},
		{Name: egress.SSHPassphrase, Label: "SSH key passphrase", Type: TypeString, Secret: true},
		{Name: egress.SSHPassword, Label: "SSH password", Type: TypeString, Secret: true,
			Help: "Password for the bastion, when it takes no key."},
	}
}

// Bastion returns the SSH bastion of settings (ssh_host and ssh_port,
// 22 by default); false when the datasource connects directly.
func Bastion(settings map[string]any) (Destination, bool) {
	host, _ := settings[egress.SSHHost].(string)
	if host == "" {
		return Destination{}, false
	}
	port := 22
	switch p := settings[egress.SSHPort].(type) {
	case float64:
		port = int(p)
	case int:
		port = p
	case int64:
		port = int(p)
	}
	return Destination{Addr: net.JoinHostPort(host, strconv.Itoa(port)), Setting: egress.SSHHost}, true
}

package httpapi

import (
	"net"
	"net/url"

	"github.com/querygate/querygate/internal/kind"
)

// Name is the kind name of HTTP datasources.
const Name = "http"

// Kind returns the HTTP API datasource kind: its settings schema, how its
// settings are decoded and a connector opened, where it connects and
// whether its TLS is verified.
func Kind() *kind.Kind {
	return &kind.Kind{
		Name: Name, Label: "HTTP API", DevicePassword: "bearer_token",
		Fields: append([]kind.Field{
			{Name: "base_url", Label: "Base URL", Type: kind.TypeURL, Required: true, Guards: true,
				Help: "Every request goes under this URL, for example https://api.example.com/v1/. Put credentials in the secret fields, not in the URL."},
			{Name: "headers", Label: "Headers", Type: kind.TypeHeaders, Help: "Plain headers sent with every request. Put tokens in Secret headers."},
			{Name: "openapi_path", Label: "OpenAPI document path", Type: kind.TypeString,
				Help: "Path under the base URL of the API's OpenAPI document in JSON, for example openapi.json: the schema browser lists its paths."},
			{Name: "timeout_ms", Label: "Timeout (ms)", Type: kind.TypeInt, Default: 30000, Min: 100, Max: 600000},
			kind.CACert,
			{Name: "insecure_skip_verify", Label: "Skip TLS verification", Type: kind.TypeBool, Default: false, Insecure: true, Guards: true,
				Help: "Insecure: accepts any certificate, so anyone on the path can read and change the traffic. Only for testing."},
			{Name: "basic_user", Label: "Basic auth user", Type: kind.TypeString},
			{Name: "api_key_name", Label: "API key name", Type: kind.TypeString, Guards: true, Help: "Header or query parameter that carries the API key."},
			{Name: "api_key_in", Label: "API key sent in", Type: kind.TypeEnum, Guards: true, Default: "header", Enum: []string{"header", "query"}},
			{Name: "bearer_token", Label: "Bearer token", Type: kind.TypeString, Secret: true},
			{Name: "basic_password", Label: "Basic auth password", Type: kind.TypeString, Secret: true},
			{Name: "api_key", Label: "API key", Type: kind.TypeString, Secret: true},
			{Name: "secret_headers", Label: "Secret headers", Type: kind.TypeHeaders, Secret: true,
				Help: "Headers whose values are secret, such as X-Api-Token."},
		}, kind.SSHFields()...),
		Shape:       kind.HTTP,
		Decode:      kind.Decoder(DecodeSettings),
		Open:        kind.Opener(New),
		Destination: destination,
		VerifiedTLS: func(settings map[string]any) error {
			if u, err := url.Parse(str(settings, "base_url")); err != nil || u.Scheme != "https" {
				return kind.TLSRequired("settings.base_url", "use an https base URL")
			}
			if skip, _ := settings["insecure_skip_verify"].(bool); skip {
				return kind.TLSRequired("settings.insecure_skip_verify", "turn insecure_skip_verify off")
			}
			return nil
		},
	}
}

// destination is the host and port of base_url.
func destination(settings map[string]any) (kind.Destination, bool) {
	u, err := url.Parse(str(settings, "base_url"))
	if err != nil || u.Hostname() == "" {
		return kind.Destination{}, false
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return kind.Destination{Addr: net.JoinHostPort(u.Hostname(), port), Setting: "base_url"}, true
}

func str(settings map[string]any, name string) string {
	s, _ := settings[name].(string)
	return s
}

// Package datasource provides the Datasource type and the catalogue
// service that creates, reads, updates and deletes datasources with their
// secrets sealed, validating settings against the kinds it is given (the
// registry main makes from the connector packages, see package kind).
//
// It must never return a secret value to a caller other than a connector:
// Datasource carries only the names of configured secrets; values come only
// from OpenSecrets, as redacting seal.Secret values.
package datasource

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/querygate/querygate/internal/seal"
)

// Custody models.
const (
	// CustodyServer: secrets sealed under the instance's master key.
	CustodyServer = "server"
	// CustodyDevice: the password is sealed with a key that lives only in
	// the user's device cookie (see DESIGN section 3).
	CustodyDevice = "device"
)

// Datasource is a datasource as the catalogue shows it: plain settings and
// the names of configured secrets, never their values.
type Datasource struct {
	ID          string
	Name        string
	Kind        string
	Custody     string
	ReadOnly    bool
	Settings    map[string]any
	SecretNames []string
	OwnerID     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Secrets holds the opened secret values of one datasource: strings as
// seal.Secret, header maps as map[string]seal.Secret. It prints and logs as
// REDACTED.
type Secrets struct {
	m map[string]any
}

// Get returns a string secret.
func (s Secrets) Get(name string) (seal.Secret, bool) {
	v, ok := s.m[name].(seal.Secret)
	return v, ok
}

// Headers returns a header-map secret.
func (s Secrets) Headers(name string) map[string]seal.Secret {
	v, _ := s.m[name].(map[string]seal.Secret)
	return v
}

// With returns a copy of s with one more string secret (a device-custody
// password opened for one request).
func (s Secrets) With(name string, v seal.Secret) Secrets {
	m := make(map[string]any, len(s.m)+1)
	maps.Copy(m, s.m)
	m[name] = v
	return Secrets{m: m}
}

// Values returns every secret value held, the values of header maps
// included, so that what an upstream sends back can be checked for them.
func (s Secrets) Values() []seal.Secret {
	var out []seal.Secret
	for _, name := range s.Names() {
		switch v := s.m[name].(type) {
		case seal.Secret:
			out = append(out, v)
		case map[string]seal.Secret:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				out = append(out, v[k])
			}
		}
	}
	return out
}

// Names returns the names of the secrets held, sorted.
func (s Secrets) Names() []string { return slices.Sorted(maps.Keys(s.m)) }

// String implements fmt.Stringer without revealing the values.
func (Secrets) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer without revealing the values.
func (Secrets) GoString() string { return "REDACTED" }

// LogValue implements slog.LogValuer without revealing the values.
func (Secrets) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON refuses to reveal the values.
func (Secrets) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// plaintext returns the JSON form that is sealed. Only the service calls it,
// right before sealing.
func (s Secrets) plaintext() []byte {
	out := make(map[string]any, len(s.m))
	for k, v := range s.m {
		switch v := v.(type) {
		case seal.Secret:
			out[k] = v.Reveal()
		case map[string]seal.Secret:
			h := make(map[string]string, len(v))
			for hk, hv := range v {
				h[hk] = hv.Reveal()
			}
			out[k] = h
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// parseSecrets is the inverse of plaintext.
func parseSecrets(b []byte) (Secrets, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return Secrets{}, err
	}
	s := Secrets{m: make(map[string]any, len(raw))}
	for k, v := range raw {
		var str string
		if json.Unmarshal(v, &str) == nil {
			s.m[k] = seal.NewSecret(str)
			continue
		}
		var h map[string]string
		if err := json.Unmarshal(v, &h); err != nil {
			return Secrets{}, err
		}
		hs := make(map[string]seal.Secret, len(h))
		for hk, hv := range h {
			hs[hk] = seal.NewSecret(hv)
		}
		s.m[k] = hs
	}
	return s, nil
}

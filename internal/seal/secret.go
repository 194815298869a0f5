package seal

import "log/slog"

// Secret holds a secret string (a password, token, API key). It prints,
// logs and marshals as REDACTED; only Reveal returns the value, and only the
// code that hands it to a datasource driver should call it.
//
// The value sits behind a pointer, as Key's does: fmt only calls String
// for some verbs (not %d, %t, ...) and never for a value reached through an
// unexported struct field or map, and then it prints the fields it finds.
// Through the pointer it finds an address, never the text.
type Secret struct{ p *string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{p: &s} }

// Reveal returns the secret value.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil || *s.p == "" }

// String implements fmt.Stringer without revealing the secret.
func (Secret) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer without revealing the secret.
func (Secret) GoString() string { return "REDACTED" }

// LogValue implements slog.LogValuer without revealing the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON refuses to reveal the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// MarshalText refuses to reveal the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

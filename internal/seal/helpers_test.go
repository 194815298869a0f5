package seal

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey returns a fixed key whose bytes count up from start.
func testKey(start byte) Key {
	b := make([]byte, KeySize)
	for i := range b {
		b[i] = start + byte(i)
	}
	return keyFromBytes(b)
}

// testSalt returns a fixed 32-byte salt whose bytes count up from start.
func testSalt(start byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// MustKeyRing returns a ring of the given ids and keys (id, key, id, key,
// ...); the last id is primary.
func MustKeyRing(tb testing.TB, idKeys ...any) *KeyRing {
	tb.Helper()
	if len(idKeys) == 0 || len(idKeys)%2 != 0 {
		tb.Fatalf("MustKeyRing: want id, key pairs, got %d arguments", len(idKeys))
	}
	r, err := NewKeyRing(idKeys[0].(string), idKeys[1].(Key))
	if err != nil {
		tb.Fatalf("NewKeyRing: %v", err)
	}
	for i := 2; i < len(idKeys); i += 2 {
		if r, err = r.With(idKeys[i].(string), idKeys[i+1].(Key)); err != nil {
			tb.Fatalf("With: %v", err)
		}
	}
	return r
}

// MustEnvelope returns an envelope for ring and salt, with reload if non-nil.
func MustEnvelope(tb testing.TB, ring *KeyRing, salt []byte, reload func() (*KeyRing, error)) *Envelope {
	tb.Helper()
	e, err := NewEnvelope(EnvelopeOptions{Ring: ring, Salt: salt, Reload: reload})
	if err != nil {
		tb.Fatalf("NewEnvelope: %v", err)
	}
	return e
}

// MustSeal seals plaintext for aad under kekID ("" for primary).
func MustSeal(tb testing.TB, e *Envelope, kekID string, plaintext, aad []byte) []byte {
	tb.Helper()
	b, err := e.Seal(kekID, plaintext, aad)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return b
}

// vector is one known-answer vector file from testdata/kat: "name = value"
// lines, with blank lines and # comments ignored.
type vector map[string]string

// MustReadVector reads testdata/kat/<name>.
func MustReadVector(tb testing.TB, name string) vector {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "kat", name))
	if err != nil {
		tb.Fatalf("read vector: %v", err)
	}
	v := vector{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, val, ok := strings.Cut(l, " = ")
		if !ok {
			tb.Fatalf("vector %s: bad line %q", name, l)
		}
		v[k] = val
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("vector %s: %v", name, err)
	}
	return v
}

func (v vector) str(tb testing.TB, k string) string {
	tb.Helper()
	s, ok := v[k]
	if !ok {
		tb.Fatalf("vector: no %q", k)
	}
	return s
}

func (v vector) hex(tb testing.TB, k string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(v.str(tb, k))
	if err != nil {
		tb.Fatalf("vector %s: %v", k, err)
	}
	return b
}

func (v vector) key(tb testing.TB, k string) Key {
	tb.Helper()
	key, err := ParseKey(v.str(tb, k))
	if err != nil {
		tb.Fatalf("vector %s: %v", k, err)
	}
	return key
}

// isOpenError reports whether err is one of the errors Open may return.
func isOpenError(err error) bool {
	var uk *UnknownKeyError
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrOpen) || errors.As(err, &uk)
}

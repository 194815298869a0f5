package seal

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// KeySize is the size in bytes of every key this package makes.
const KeySize = 32

// Key is an opaque 256-bit key. It prints as REDACTED whatever code touches it.
type Key struct {
	// The material is a string behind a pointer, not an array: when fmt
	// prints a Key without calling its methods (reached through an
	// unexported field, or given a verb such as %s or %t that it does not
	// expect for the field), it shows a pointer to a string as an address,
	// but a pointer to an array as its bytes.
	p *string
}

// GenerateKey returns a fresh random key read from crypto/rand (getrandom(2)
// on Linux).
func GenerateKey() Key {
	var b [KeySize]byte
	// crypto/rand.Read never returns an error on supported platforms (Go 1.24+);
	// it panics rather than hand back weak bytes.
	rand.Read(b[:])
	k := keyFromBytes(b[:])
	clear(b[:])
	return k
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not)
// encoding of exactly 32 bytes. Its errors never echo the input.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			if len(b) != KeySize {
				return Key{}, fmt.Errorf("seal: key must be %d bytes, got %d", KeySize, len(b))
			}
			return keyFromBytes(b), nil
		}
	}
	return Key{}, errors.New("seal: key is not valid base64")
}

// keyFromBytes returns a key holding a copy of b, which must be KeySize
// bytes long.
func keyFromBytes(b []byte) Key {
	s := string(b)
	return Key{p: &s}
}

// bytes returns a copy of the key material.
func (k Key) bytes() []byte { return []byte(*k.p) }

// Valid reports whether k holds key material.
func (k Key) Valid() bool { return k.p != nil }

// Encode returns the base64 encoding of the key. It is meant only for writing
// a key file or showing a freshly generated key to the operator once.
func (k Key) Encode() string { return base64.StdEncoding.EncodeToString(k.bytes()) }

// Equal reports whether two keys hold the same material.
func (k Key) Equal(o Key) bool {
	return k.p != nil && o.p != nil && *k.p == *o.p
}

// String implements fmt.Stringer without revealing the key.
func (Key) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer without revealing the key.
func (Key) GoString() string { return "REDACTED" }

// LogValue implements slog.LogValuer without revealing the key.
func (Key) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON refuses to reveal the key.
func (Key) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// derive returns HKDF-SHA256(k, salt, label) as a new key. Each purpose has
// its own label so that no two purposes ever share a key.
func (k Key) derive(salt []byte, label string) Key {
	b, err := hkdf.Key(sha256.New, k.bytes(), salt, label, KeySize)
	if err != nil {
		// Only possible for an output length over 255*32 bytes.
		panic("seal: hkdf: " + err.Error())
	}
	return keyFromBytes(b)
}

// KeyIDFor returns the id used for a bare key that came without one (from
// QUERYGATE_MASTER_KEY). It is derived one-way from the key, so it reveals
// nothing about it.
func KeyIDFor(k Key) string {
	d := k.derive(nil, "querygate/key-id/v1")
	return "k" + hex.EncodeToString(d.bytes()[:5])
}

// validKeyID reports whether id may name a key: 1 to 32 characters of
// lowercase letters, digits and dashes. The id is written into every sealed
// blob, so it must stay short and unambiguous.
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// KeyRing is a set of master keys, each with an id, one of them primary. New
// seals use the primary; opening uses whichever key a blob names. Holding
// several keys is what lets rotation run online.
type KeyRing struct {
	primary string
	keys    map[string]Key
	order   []string
}

// NewKeyRing returns a ring holding one key, which is primary.
func NewKeyRing(id string, k Key) (*KeyRing, error) {
	if !validKeyID(id) {
		return nil, errors.New("seal: key id must be 1-32 characters of a-z, 0-9 and -")
	}
	if !k.Valid() {
		return nil, errors.New("seal: empty key")
	}
	return &KeyRing{primary: id, keys: map[string]Key{id: k}, order: []string{id}}, nil
}

// GenerateKeyID returns a fresh random key id.
func GenerateKeyID() string {
	var b [4]byte
	rand.Read(b[:])
	return "k" + hex.EncodeToString(b[:])
}

// Primary returns the id of the primary key.
func (r *KeyRing) Primary() string { return r.primary }

// IDs returns the ids of every key in the ring, in file order.
func (r *KeyRing) IDs() []string { return slices.Clone(r.order) }

// Has reports whether the ring holds a key with that id.
func (r *KeyRing) Has(id string) bool { _, ok := r.keys[id]; return ok }

// With returns a copy of the ring with k added under id and made primary.
func (r *KeyRing) With(id string, k Key) (*KeyRing, error) {
	if !validKeyID(id) {
		return nil, errors.New("seal: key id must be 1-32 characters of a-z, 0-9 and -")
	}
	if !k.Valid() {
		// An empty key would panic later, when a KEK is derived from it
		// or the ring is written to the key file.
		return nil, errors.New("seal: empty key")
	}
	if r.Has(id) {
		return nil, fmt.Errorf("seal: key id %q already in the ring", id)
	}
	n := r.clone()
	n.keys[id] = k
	n.order = append(n.order, id)
	n.primary = id
	return n, nil
}

// Without returns a copy of the ring with the key id removed. The primary key
// cannot be removed.
func (r *KeyRing) Without(id string) (*KeyRing, error) {
	if id == r.primary {
		return nil, errors.New("seal: cannot remove the primary key")
	}
	if !r.Has(id) {
		return nil, fmt.Errorf("seal: key id %q not in the ring", id)
	}
	n := r.clone()
	delete(n.keys, id)
	n.order = slices.DeleteFunc(n.order, func(s string) bool { return s == id })
	return n, nil
}

func (r *KeyRing) clone() *KeyRing {
	n := &KeyRing{primary: r.primary, keys: make(map[string]Key, len(r.keys)), order: slices.Clone(r.order)}
	for id, k := range r.keys {
		n.keys[id] = k
	}
	return n
}

const ringHeader = "querygate-keyring v1"

// Marshal returns the key file form of the ring. The text holds every key in
// clear, so it must only ever be written to a file of mode 0600.
func (r *KeyRing) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# querygate master keys. Back this file up and keep it apart from the\n")
	b.WriteString("# store: without it no sealed secret can be opened. Never share it.\n")
	b.WriteString(ringHeader + "\n")
	fmt.Fprintf(&b, "primary %s\n", r.primary)
	for _, id := range r.order {
		fmt.Fprintf(&b, "key %s %s\n", id, r.keys[id].Encode())
	}
	return b.Bytes()
}

// String implements fmt.Stringer without revealing any key.
func (r *KeyRing) String() string {
	return fmt.Sprintf("KeyRing(primary=%s, keys=%d)", r.primary, len(r.keys))
}

// LogValue implements slog.LogValuer without revealing any key.
func (r *KeyRing) LogValue() slog.Value { return slog.StringValue(r.String()) }

// ParseKeyRing parses the key file format written by Marshal. As a
// convenience, a text that is a single base64 key is accepted as a ring of
// one key whose id is KeyIDFor(key). Errors name the line, never its content.
func ParseKeyRing(data []byte) (*KeyRing, error) {
	text := strings.TrimSpace(string(data))
	if !strings.Contains(text, "\n") && !strings.HasPrefix(text, "querygate-") && !strings.HasPrefix(text, "#") {
		k, err := ParseKey(text)
		if err != nil {
			return nil, err
		}
		return NewKeyRing(KeyIDFor(k), k)
	}
	r := &KeyRing{keys: map[string]Key{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line, sawHeader := 0, false
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !sawHeader {
			if l != ringHeader {
				return nil, fmt.Errorf("seal: key file line %d: expected %q", line, ringHeader)
			}
			sawHeader = true
			continue
		}
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "primary":
			if r.primary != "" {
				return nil, fmt.Errorf("seal: key file line %d: primary given twice", line)
			}
			if !validKeyID(f[1]) {
				return nil, fmt.Errorf("seal: key file line %d: bad key id", line)
			}
			r.primary = f[1]
		case len(f) == 3 && f[0] == "key":
			if !validKeyID(f[1]) {
				return nil, fmt.Errorf("seal: key file line %d: bad key id", line)
			}
			if r.Has(f[1]) {
				return nil, fmt.Errorf("seal: key file line %d: key id %s given twice", line, f[1])
			}
			k, err := ParseKey(f[2])
			if err != nil {
				return nil, fmt.Errorf("seal: key file line %d: %w", line, err)
			}
			r.keys[f[1]] = k
			r.order = append(r.order, f[1])
		default:
			return nil, fmt.Errorf("seal: key file line %d: expected \"primary ID\" or \"key ID BASE64\"", line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if !sawHeader {
		return nil, errors.New("seal: key file is empty")
	}
	if len(r.keys) == 0 {
		return nil, errors.New("seal: key file holds no key")
	}
	if r.primary == "" {
		return nil, errors.New("seal: key file names no primary key")
	}
	if !r.Has(r.primary) {
		return nil, fmt.Errorf("seal: key file: primary key %s is not in the file", r.primary)
	}
	return r, nil
}

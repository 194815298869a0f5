package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
)

// Blob format, version 1 (all lengths in bytes):
//
//	version (1) | kek id length n (1) | kek id (n) | DEK nonce (12) | sealed DEK (32+16) | data nonce (12) | ciphertext + tag (16+)
//
// The DEK is sealed with the KEK under associated data that names the format
// version, the KEK id and the caller's place, so a blob moved to another
// place, another key id or another instance fails to open. The data is
// sealed with the DEK under associated data naming the version and the place.
// Rewrapping (rotation) replaces only the KEK id and the sealed DEK.
const (
	blobVersion1 = 0x01
	nonceSize    = 12
	tagSize      = 16
	sealedDEK    = KeySize + tagSize
)

// Errors returned by Open. They never carry key material or plaintext.
var (
	// ErrMalformed means the blob is truncated or not in a known format.
	ErrMalformed = errors.New("seal: sealed value is malformed or truncated")
	// ErrOpen means authentication failed: the blob was altered, moved to
	// another place, or sealed by another key or instance salt.
	ErrOpen = errors.New("seal: sealed value cannot be opened (altered, moved, or sealed under another key or salt)")
)

// UnknownKeyError means the blob names a key that the ring does not hold,
// even after re-reading it.
type UnknownKeyError struct{ ID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("seal: sealed value names master key %s, which the key ring does not hold", e.ID)
}

// Envelope seals and opens secrets with envelope encryption: a fresh data key
// (DEK) per value, itself sealed with a key-encryption key (KEK) derived from
// a master key and the instance salt. It is safe for concurrent use.
type Envelope struct {
	salt   []byte
	reload func() (*KeyRing, error)

	mu   sync.RWMutex
	ring *KeyRing
	keks map[string]cipher.AEAD
}

// EnvelopeOptions configures NewEnvelope.
type EnvelopeOptions struct {
	// Ring holds the master keys. Required.
	Ring *KeyRing
	// Salt is the per-instance salt (P4). Required, at least 16 bytes.
	Salt []byte
	// Reload, if set, re-reads the key ring. Open calls it when a blob
	// names a key the ring does not hold, which is how a running gateway
	// follows a rotation made by another process.
	Reload func() (*KeyRing, error)
}

// NewEnvelope returns an Envelope for the given ring and salt.
func NewEnvelope(o EnvelopeOptions) (*Envelope, error) {
	if o.Ring == nil {
		return nil, errors.New("seal: no key ring")
	}
	if len(o.Salt) < 16 {
		return nil, errors.New("seal: instance salt must be at least 16 bytes")
	}
	e := &Envelope{salt: append([]byte(nil), o.Salt...), reload: o.Reload}
	e.setRing(o.Ring)
	return e, nil
}

func (e *Envelope) setRing(r *KeyRing) {
	keks := make(map[string]cipher.AEAD, len(r.keys))
	for id, k := range r.keys {
		keks[id] = newGCM(k.derive(e.salt, "querygate/kek/v1"))
	}
	e.mu.Lock()
	e.ring, e.keks = r, keks
	e.mu.Unlock()
}

// Ring returns the key ring in use.
func (e *Envelope) Ring() *KeyRing {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.ring
}

// Reload re-reads the key ring through EnvelopeOptions.Reload.
func (e *Envelope) Reload() error {
	if e.reload == nil {
		return errors.New("seal: key ring cannot be re-read")
	}
	r, err := e.reload()
	if err != nil {
		return err
	}
	e.setRing(r)
	return nil
}

// kek returns the AEAD for a key id, re-reading the ring once if it is
// missing.
func (e *Envelope) kek(id string) (cipher.AEAD, error) {
	e.mu.RLock()
	a, ok := e.keks[id]
	e.mu.RUnlock()
	if ok {
		return a, nil
	}
	if e.reload != nil {
		if err := e.Reload(); err != nil {
			return nil, fmt.Errorf("seal: re-read key ring: %w", err)
		}
		e.mu.RLock()
		a, ok = e.keks[id]
		e.mu.RUnlock()
		if ok {
			return a, nil
		}
	}
	return nil, &UnknownKeyError{ID: id}
}

func newGCM(k Key) cipher.AEAD {
	b, err := aes.NewCipher(k.bytes())
	if err != nil {
		panic("seal: aes: " + err.Error()) // only for a bad key size
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic("seal: gcm: " + err.Error())
	}
	return a
}

func dekAD(kekID string, aad []byte) []byte {
	// kek ids cannot hold NUL, so the split is unambiguous.
	return append([]byte("querygate/dek/v1\x00"+kekID+"\x00"), aad...)
}

func dataAD(aad []byte) []byte {
	return append([]byte("querygate/data/v1\x00"), aad...)
}

// Seal encrypts plaintext for the place named by aad under the master key
// kekID ("" means the ring's primary key).
func (e *Envelope) Seal(kekID string, plaintext, aad []byte) ([]byte, error) {
	if kekID == "" {
		kekID = e.Ring().Primary()
	}
	kek, err := e.kek(kekID)
	if err != nil {
		return nil, err
	}
	dek := GenerateKey()
	out := make([]byte, 0, 2+len(kekID)+nonceSize+sealedDEK+nonceSize+len(plaintext)+tagSize)
	out = append(out, blobVersion1, byte(len(kekID)))
	out = append(out, kekID...)
	out = appendSealed(out, kek, dek.bytes(), dekAD(kekID, aad))
	out = appendSealed(out, newGCM(dek), plaintext, dataAD(aad))
	return out, nil
}

// appendSealed appends a random nonce and the AEAD sealing of pt to out. The
// nonce is random (96 bits): each key here seals at most a handful of values,
// far below the 2^32 bound for random GCM nonces.
func appendSealed(out []byte, a cipher.AEAD, pt, ad []byte) []byte {
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	out = append(out, nonce[:]...)
	return a.Seal(out, nonce[:], pt, ad)
}

type blob struct {
	kekID string
	dek   []byte // nonce + sealed DEK
	data  []byte // nonce + ciphertext + tag
}

func parseBlob(b []byte) (blob, error) {
	if len(b) < 2 || b[0] != blobVersion1 {
		return blob{}, ErrMalformed
	}
	n := int(b[1])
	if n == 0 || len(b) < 2+n+nonceSize+sealedDEK+nonceSize+tagSize {
		return blob{}, ErrMalformed
	}
	id := string(b[2 : 2+n])
	if !validKeyID(id) {
		return blob{}, ErrMalformed
	}
	rest := b[2+n:]
	return blob{kekID: id, dek: rest[:nonceSize+sealedDEK], data: rest[nonceSize+sealedDEK:]}, nil
}

// BlobKeyID returns the id of the master key a blob is sealed under.
func BlobKeyID(b []byte) (string, error) {
	p, err := parseBlob(b)
	if err != nil {
		return "", err
	}
	return p.kekID, nil
}

func openSealed(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	pt, err := a.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func (e *Envelope) openDEK(p blob, aad []byte) (cipher.AEAD, error) {
	kek, err := e.kek(p.kekID)
	if err != nil {
		return nil, err
	}
	dek, err := openSealed(kek, p.dek, dekAD(p.kekID, aad))
	if err != nil {
		return nil, err
	}
	return newGCM(keyFromBytes(dek)), nil
}

// Open decrypts a blob made by Seal for the same place (aad). It fails with
// ErrMalformed, ErrOpen or *UnknownKeyError; it never returns partial data.
func (e *Envelope) Open(b, aad []byte) ([]byte, error) {
	p, err := parseBlob(b)
	if err != nil {
		return nil, err
	}
	dek, err := e.openDEK(p, aad)
	if err != nil {
		return nil, err
	}
	return openSealed(dek, p.data, dataAD(aad))
}

// Rewrap re-seals the blob's data key under the master key kekID ("" means
// primary) without re-encrypting the data. The data is authenticated first,
// so a damaged blob is never rewrapped.
func (e *Envelope) Rewrap(b, aad []byte, kekID string) ([]byte, error) {
	if kekID == "" {
		kekID = e.Ring().Primary()
	}
	p, err := parseBlob(b)
	if err != nil {
		return nil, err
	}
	kek, err := e.kek(p.kekID)
	if err != nil {
		return nil, err
	}
	dekBytes, err := openSealed(kek, p.dek, dekAD(p.kekID, aad))
	if err != nil {
		return nil, err
	}
	if _, err := openSealed(newGCM(keyFromBytes(dekBytes)), p.data, dataAD(aad)); err != nil {
		return nil, err
	}
	newKEK, err := e.kek(kekID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(kekID))
	out = append(out, blobVersion1, byte(len(kekID)))
	out = append(out, kekID...)
	out = appendSealed(out, newKEK, dekBytes, dekAD(kekID, aad))
	out = append(out, p.data...)
	return out, nil
}

// SealKey seals a key for the place named by aad (for instance keys kept in
// the store).
func (e *Envelope) SealKey(kekID string, k Key, aad []byte) ([]byte, error) {
	return e.Seal(kekID, k.bytes(), aad)
}

// OpenKey opens a key sealed by SealKey.
func (e *Envelope) OpenKey(b, aad []byte) (Key, error) {
	pt, err := e.Open(b, aad)
	if err != nil {
		return Key{}, err
	}
	if len(pt) != KeySize {
		return Key{}, ErrMalformed
	}
	return keyFromBytes(pt), nil
}

// DeriveKey returns the key for one purpose, HKDF-SHA256(root, salt, label).
// Labels look like "querygate/cookie/v1"; each purpose has its own.
func DeriveKey(root Key, salt []byte, label string) Key {
	return root.derive(salt, label)
}

// MAC returns HMAC-SHA256(k, msg).
func MAC(k Key, msg []byte) []byte {
	m := hmac.New(sha256.New, k.bytes())
	m.Write(msg)
	return m.Sum(nil)
}

// SealWithKey encrypts plaintext under a caller-held key (a device key) for
// the place named by aad. The output is nonce | ciphertext+tag, versioned.
func SealWithKey(k Key, plaintext, aad []byte) []byte {
	out := []byte{blobVersion1}
	return appendSealed(out, newGCM(k), plaintext, append([]byte("querygate/device/v1\x00"), aad...))
}

// OpenWithKey opens a value made by SealWithKey.
func OpenWithKey(k Key, b, aad []byte) ([]byte, error) {
	if !k.Valid() {
		return nil, ErrOpen
	}
	if len(b) < 1+nonceSize+tagSize || b[0] != blobVersion1 {
		return nil, ErrMalformed
	}
	return openSealed(newGCM(k), b[1:], append([]byte("querygate/device/v1\x00"), aad...))
}

package seal

import (
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Cookie values, version 1:
//
//	base64url( version (1) | nonce (12) | AES-256-GCM( expiry unix seconds (8, big endian) | value ) )
//
// with associated data naming the cookie, so a value moved to another cookie
// name fails to open. The expiry lives inside the sealed value: editing the
// cookie's attributes gains nothing.
const cookieVersion1 = 0x01

// ErrCookie is returned for any cookie that cannot be used: malformed,
// altered, sealed under another key, renamed or expired. One error for all,
// so a client learns nothing about which check failed.
var ErrCookie = errors.New("seal: cookie is invalid or expired")

// MaxCookieValue bounds the size of an encoded cookie value we try to open.
const MaxCookieValue = 3072

// Cookies seals and opens cookie values. It is safe for concurrent use.
type Cookies struct {
	aead cipher.AEAD
	now  func() time.Time
}

// NewCookies returns a cookie codec whose key is derived from the instance
// root key and salt with the label "querygate/cookie/v1".
func NewCookies(root Key, salt []byte) *Cookies {
	return &Cookies{aead: newGCM(root.derive(salt, "querygate/cookie/v1")), now: time.Now}
}

func cookieAD(name string) []byte { return []byte("querygate/cookie/v1\x00" + name) }

// Seal returns the encoded cookie value holding value for the cookie name,
// valid until expires.
func (c *Cookies) Seal(name string, value []byte, expires time.Time) string {
	pt := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(expires.Unix()))
	pt = append(pt, value...)
	out := appendSealed([]byte{cookieVersion1}, c.aead, pt, cookieAD(name))
	return base64.RawURLEncoding.EncodeToString(out)
}

// Open decodes a cookie value made by Seal for the same name and returns its
// value and expiry. Any failure, including expiry, is ErrCookie.
func (c *Cookies) Open(name, encoded string) ([]byte, time.Time, error) {
	if len(encoded) > MaxCookieValue {
		return nil, time.Time{}, ErrCookie
	}
	b, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || len(b) < 1+nonceSize+tagSize+8 || b[0] != cookieVersion1 {
		return nil, time.Time{}, ErrCookie
	}
	// The decoder skips CR and LF and ignores the unused low bits of the
	// last character, so other spellings of a sealed value would decode to
	// the same bytes. Accept only the one Seal wrote: a cookie value is then
	// either exactly what we issued or refused.
	if base64.RawURLEncoding.EncodeToString(b) != encoded {
		return nil, time.Time{}, ErrCookie
	}
	pt, err := openSealed(c.aead, b[1:], cookieAD(name))
	if err != nil {
		return nil, time.Time{}, ErrCookie
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(pt[:8])), 0)
	if !c.now().Before(exp) {
		return nil, time.Time{}, ErrCookie
	}
	return pt[8:], exp, nil
}

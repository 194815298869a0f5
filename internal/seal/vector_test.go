package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"
)

// The known-answer vectors in testdata/kat pin the formats of everything
// this package writes to a store or a browser. They were produced once and
// must never be regenerated: a change that breaks them breaks every value
// already sealed.

// Pinned HKDF-SHA256 outputs for master key 0x00..0x1f and salt 0xa0..0xbf
// (checked against an independent HKDF implementation when pinned).
const (
	pinnedKEK    = "e5a984469cf161d00f0a686f8febe318c11ed047901caad3f3cc6b3f93677a48"
	pinnedCookie = "2bc04f07cc058dfbde3bdd063e700a71abe12d5601cc497f7b595fcffbfdc87c"
	pinnedKeyID  = "k759bd37a55" // KeyIDFor(master key 0x00..0x1f)
)

func TestDeriveKeyKnownAnswer(t *testing.T) {
	master, salt := testKey(0x00), testSalt(0xa0)
	tests := []struct {
		label string
		want  string
	}{
		{"querygate/kek/v1", pinnedKEK},
		{"querygate/cookie/v1", pinnedCookie},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			got := hex.EncodeToString(DeriveKey(master, salt, tt.label).bytes())
			if got != tt.want {
				t.Errorf("DeriveKey: got %s, want %s", got, tt.want)
			}
			// The same, computed straight from crypto/hkdf.
			ref, err := hkdf.Key(sha256.New, master.bytes(), salt, tt.label, 32)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(ref); got != tt.want {
				t.Errorf("crypto/hkdf: got %s, want %s", got, tt.want)
			}
		})
	}
	if got := KeyIDFor(master); got != pinnedKeyID {
		t.Errorf("KeyIDFor: got %s, want %s", got, pinnedKeyID)
	}

	// One key per purpose, per salt and per master key.
	seen := map[string]string{}
	for _, c := range []struct {
		name string
		k    Key
	}{
		{"kek", DeriveKey(master, salt, "querygate/kek/v1")},
		{"cookie", DeriveKey(master, salt, "querygate/cookie/v1")},
		{"kek, other salt", DeriveKey(master, testSalt(0xa1), "querygate/kek/v1")},
		{"kek, no salt", DeriveKey(master, nil, "querygate/kek/v1")},
		{"kek, other master", DeriveKey(testKey(0x01), salt, "querygate/kek/v1")},
		{"master itself", master},
	} {
		h := hex.EncodeToString(c.k.bytes())
		if prev, ok := seen[h]; ok {
			t.Errorf("%s and %s derive the same key", c.name, prev)
		}
		seen[h] = c.name
	}
}

func gcmOpen(tb testing.TB, key, nonce, sealed, ad []byte) []byte {
	tb.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		tb.Fatal(err)
	}
	pt, err := a.Open(nil, nonce, sealed, ad)
	if err != nil {
		tb.Fatalf("reference AES-256-GCM open: %v", err)
	}
	return pt
}

func TestEnvelopeKnownAnswer(t *testing.T) {
	v := MustReadVector(t, "envelope_v1.txt")
	master, salt, id := v.key(t, "master_key"), v.hex(t, "salt"), v.str(t, "key_id")
	aad, plaintext, blob := []byte(v.str(t, "aad")), []byte(v.str(t, "plaintext")), v.hex(t, "blob")
	if !master.Equal(testKey(0)) || !bytes.Equal(salt, testSalt(0xa0)) {
		t.Fatal("vector inputs differ from the pinned HKDF inputs")
	}

	t.Run("Open", func(t *testing.T) {
		e := MustEnvelope(t, MustKeyRing(t, id, master), salt, nil)
		got, err := e.Open(blob, aad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Errorf("Open: got %q, want %q", got, plaintext)
		}
		if got, err := BlobKeyID(blob); err != nil || got != id {
			t.Errorf("BlobKeyID: got %q, %v; want %q", got, err, id)
		}
	})

	t.Run("layout", func(t *testing.T) {
		// version (1) | id length (1) | id | DEK nonce (12) | sealed DEK (48) | data nonce (12) | ciphertext+tag
		if blob[0] != 0x01 {
			t.Errorf("version byte: got %#x, want 0x01", blob[0])
		}
		n := int(blob[1])
		if n != len(id) || string(blob[2:2+n]) != id {
			t.Fatalf("key id: got %d bytes %q, want %q", n, blob[2:2+n], id)
		}
		if got, want := len(blob), 2+n+12+48+12+len(plaintext)+16; got != want {
			t.Fatalf("length: got %d, want %d", got, want)
		}
		off := 2 + n
		dekNonce, sealedDEK := blob[off:off+12], blob[off+12:off+60]
		dataNonce, ct := blob[off+60:off+72], blob[off+72:]

		// Open it with nothing from this package: HKDF for the KEK, then
		// AES-256-GCM twice, with the associated data the format names.
		kek, err := hkdf.Key(sha256.New, master.bytes(), salt, "querygate/kek/v1", 32)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(kek) != pinnedKEK {
			t.Fatalf("KEK: got %x, want %s", kek, pinnedKEK)
		}
		dek := gcmOpen(t, kek, dekNonce, sealedDEK, []byte("querygate/dek/v1\x00"+id+"\x00"+string(aad)))
		if len(dek) != 32 {
			t.Fatalf("DEK: got %d bytes, want 32", len(dek))
		}
		got := gcmOpen(t, dek, dataNonce, ct, []byte("querygate/data/v1\x00"+string(aad)))
		if !bytes.Equal(got, plaintext) {
			t.Errorf("reference open: got %q, want %q", got, plaintext)
		}
	})

	t.Run("Rewrap keeps the format", func(t *testing.T) {
		ring := MustKeyRing(t, id, master, "kat-key-2", testKey(0x10))
		e := MustEnvelope(t, ring, salt, nil)
		nb, err := e.Rewrap(blob, aad, "")
		if err != nil {
			t.Fatalf("Rewrap: %v", err)
		}
		if nb[0] != 0x01 || string(nb[2:2+nb[1]]) != "kat-key-2" {
			t.Errorf("rewrapped header: got %x", nb[:2+nb[1]])
		}
		tail := 12 + len(plaintext) + 16
		if !bytes.Equal(nb[len(nb)-tail:], blob[len(blob)-tail:]) {
			t.Error("Rewrap changed the data part")
		}
	})
}

func TestCookieKnownAnswer(t *testing.T) {
	v := MustReadVector(t, "cookie_v1.txt")
	root, salt, name := v.key(t, "root_key"), v.hex(t, "salt"), v.str(t, "name")
	value, cookie := []byte(v.str(t, "value")), v.str(t, "cookie")
	expires := time.Unix(1893456000, 0)
	if v.str(t, "expires") != "1893456000" {
		t.Fatalf("vector expires: got %s", v.str(t, "expires"))
	}

	t.Run("Open", func(t *testing.T) {
		c := NewCookies(root, salt)
		c.now = func() time.Time { return expires.Add(-time.Second) }
		got, exp, err := c.Open(name, cookie)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, value) {
			t.Errorf("value: got %q, want %q", got, value)
		}
		if !exp.Equal(expires) {
			t.Errorf("expiry: got %v, want %v", exp, expires)
		}
		c.now = func() time.Time { return expires }
		if _, _, err := c.Open(name, cookie); err != ErrCookie {
			t.Errorf("Open at expiry: got %v, want ErrCookie", err)
		}
	})

	t.Run("layout", func(t *testing.T) {
		// base64url(version (1) | nonce (12) | AES-256-GCM(expiry (8, big endian) | value)), no padding
		b, err := base64.RawURLEncoding.DecodeString(cookie)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 0x01 {
			t.Errorf("version byte: got %#x, want 0x01", b[0])
		}
		if got, want := len(b), 1+12+8+len(value)+16; got != want {
			t.Fatalf("length: got %d, want %d", got, want)
		}
		key, err := hkdf.Key(sha256.New, root.bytes(), salt, "querygate/cookie/v1", 32)
		if err != nil {
			t.Fatal(err)
		}
		pt := gcmOpen(t, key, b[1:13], b[13:], []byte("querygate/cookie/v1\x00"+name))
		if got := int64(binary.BigEndian.Uint64(pt[:8])); got != expires.Unix() {
			t.Errorf("expiry: got %d, want %d", got, expires.Unix())
		}
		if !bytes.Equal(pt[8:], value) {
			t.Errorf("value: got %q, want %q", pt[8:], value)
		}
	})
}

func TestDeviceKnownAnswer(t *testing.T) {
	v := MustReadVector(t, "device_v1.txt")
	k, aad := v.key(t, "key"), []byte(v.str(t, "aad"))
	plaintext, sealed := []byte(v.str(t, "plaintext")), v.hex(t, "sealed")

	got, err := OpenWithKey(k, sealed, aad)
	if err != nil {
		t.Fatalf("OpenWithKey: %v", err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Errorf("OpenWithKey: got %q, want %q", got, plaintext)
	}

	// version (1) | nonce (12) | ciphertext+tag
	if sealed[0] != 0x01 {
		t.Errorf("version byte: got %#x, want 0x01", sealed[0])
	}
	if got, want := len(sealed), 1+12+len(plaintext)+16; got != want {
		t.Fatalf("length: got %d, want %d", got, want)
	}
	ref := gcmOpen(t, k.bytes(), sealed[1:13], sealed[13:], []byte("querygate/device/v1\x00"+string(aad)))
	if !bytes.Equal(ref, plaintext) {
		t.Errorf("reference open: got %q, want %q", ref, plaintext)
	}
}

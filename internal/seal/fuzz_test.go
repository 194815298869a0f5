package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fuzz targets below take their valid seeds from the pinned vectors in
// testdata/kat and from fresh seals; testdata/fuzz/<name> holds more seeds
// in the go fuzz corpus format. Plain `go test` runs every seed.
//
// Fresh seals differ in every process (random nonces), and fuzzing runs the
// target in several worker processes, so a success is checked by what it
// opens to (one of the seeded plaintexts, in the exact layout Seal writes),
// not by comparing with the seed bytes of this process.

// fuzzPlaintexts are the only plaintexts the fuzz seeds hold.
var fuzzPlaintexts = [][]byte{
	[]byte(`{"password":"kat-canary-password"}`), // the pinned vector's
	[]byte(`{"password":"fuzz-seed"}`),
	[]byte("kat-device-password"),
	{},
	bytes.Repeat([]byte{0xa5}, 100),
}

func isFuzzPlaintext(pt []byte) bool {
	return slices.ContainsFunc(fuzzPlaintexts, func(p []byte) bool { return bytes.Equal(p, pt) })
}

func FuzzOpenBlob(f *testing.F) {
	v := MustReadVector(f, "envelope_v1.txt")
	aad := []byte(v.str(f, "aad"))
	ring := MustKeyRing(f, v.str(f, "key_id"), v.key(f, "master_key"), "kat-key-2", testKey(0x10))
	env := MustEnvelope(f, ring, v.hex(f, "salt"), func() (*KeyRing, error) { return ring, nil })

	pinned := v.hex(f, "blob")
	f.Add(pinned)
	for i, pt := range fuzzPlaintexts {
		b := MustSeal(f, env, []string{"", "kat-key-1"}[i%2], pt, aad)
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
	}
	for _, b := range [][]byte{nil, {}, {1}, {1, 0}, {1, 9}, {1, 255}, {2, 2, 'k', '1'}, pinned[:2+9+nonceSize]} {
		f.Add(b)
	}

	otherAAD := []byte("datasource/ds_other/secrets")
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		id, idErr := BlobKeyID(b)
		pt, err := env.Open(b, aad)
		if !bytes.Equal(b, in) {
			t.Fatal("Open changed its input")
		}
		if idErr == nil && !validKeyID(id) {
			t.Fatalf("BlobKeyID: got invalid id %q", id)
		}
		if (idErr != nil) != errors.Is(err, ErrMalformed) {
			t.Fatalf("BlobKeyID error %v, Open error %v: want ErrMalformed from both or neither", idErr, err)
		}
		if err != nil {
			if !isOpenError(err) {
				t.Fatalf("Open: unexpected error %v", err)
			}
			if pt != nil {
				t.Fatalf("Open returned %d bytes with its error", len(pt))
			}
		} else {
			if !isFuzzPlaintext(pt) {
				t.Fatalf("Open succeeded on a blob that no seed holds: plaintext %q", pt)
			}
			if got, want := len(b), blobMinLen(len(id))+len(pt); got != want {
				t.Fatalf("opened a blob of %d bytes, want %d", got, want)
			}
		}

		// Rewrap authenticates everything first: it succeeds exactly when
		// Open does, and the result opens to the same plaintext.
		nb, rerr := env.Rewrap(b, aad, "kat-key-2")
		if (rerr == nil) != (err == nil) {
			t.Fatalf("Rewrap error %v, Open error %v: want both nil or both not", rerr, err)
		}
		if rerr == nil {
			got, err := env.Open(nb, aad)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("rewrapped blob: got %q, %v; want %q", got, err, pt)
			}
			if id, _ := BlobKeyID(nb); id != "kat-key-2" {
				t.Fatalf("rewrapped blob names key %q, want kat-key-2", id)
			}
		}

		if pt, err := env.Open(b, otherAAD); err == nil {
			t.Fatalf("opened at another place: %q", pt)
		}
		if k, err := env.OpenKey(b, aad); err == nil && !k.Valid() {
			t.Fatal("OpenKey returned an empty key without an error")
		}
	})
}

func FuzzCookieOpen(f *testing.F) {
	v := MustReadVector(f, "cookie_v1.txt")
	name, pinned := v.str(f, "name"), v.str(f, "cookie")
	expires := time.Unix(1893456000, 0)
	c := NewCookies(v.key(f, "root_key"), v.hex(f, "salt"))
	c.now = func() time.Time { return expires.Add(-time.Hour) }
	values := [][]byte{[]byte(v.str(f, "value")), {}, []byte("device-key-and-id"), bytes.Repeat([]byte{0}, 40)}

	f.Add(pinned)
	for _, val := range values {
		s := c.Seal(name, val, expires)
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(s + "A")
		f.Add(s + "\n")
	}
	for _, s := range []string{"", "A", "AQ", "AQID", "====", "not base64!", strings.Repeat("A", MaxCookieValue+1), pinned[:20]} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		val, exp, err := c.Open(name, s)
		if err != nil {
			if err != ErrCookie {
				t.Fatalf("Open: got %v, want ErrCookie", err)
			}
			if val != nil || !exp.IsZero() {
				t.Fatalf("Open returned %q, %v with its error", val, exp)
			}
		} else {
			// Only a value Seal wrote opens: one of the seeded values, with
			// the seeded expiry, spelled exactly as Seal spells it.
			if !slices.ContainsFunc(values, func(v []byte) bool { return bytes.Equal(v, val) }) {
				t.Fatalf("Open succeeded on a cookie no seed holds: value %q", val)
			}
			if !exp.Equal(expires) {
				t.Fatalf("Open: expiry %v, want %v", exp, expires)
			}
			raw, derr := base64.RawURLEncoding.Strict().DecodeString(s)
			if derr != nil || base64.RawURLEncoding.EncodeToString(raw) != s {
				t.Fatalf("Open accepted a value not spelled as Seal spells it: %q", s)
			}
			if got, want := len(raw), 1+nonceSize+8+len(val)+tagSize; got != want {
				t.Fatalf("opened a cookie of %d bytes, want %d", got, want)
			}
		}
		if _, _, err := c.Open(name+"x", s); err == nil {
			t.Fatal("opened under another cookie name")
		}
	})
}

func FuzzOpenWithKey(f *testing.F) {
	v := MustReadVector(f, "device_v1.txt")
	k, aad, pinned := v.key(f, "key"), []byte(v.str(f, "aad")), v.hex(f, "sealed")
	f.Add(pinned)
	for _, pt := range fuzzPlaintexts {
		b := SealWithKey(k, pt, aad)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := OpenWithKey(k, b, aad)
		if err != nil {
			if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("OpenWithKey: unexpected error %v", err)
			}
			if pt != nil {
				t.Fatalf("OpenWithKey returned %d bytes with its error", len(pt))
			}
			return
		}
		if !isFuzzPlaintext(pt) {
			t.Fatalf("OpenWithKey succeeded on a value no seed holds: %q", pt)
		}
		if got, want := len(b), 1+nonceSize+len(pt)+tagSize; got != want {
			t.Fatalf("opened a value of %d bytes, want %d", got, want)
		}
		if _, err := OpenWithKey(k, b, append(bytes.Clone(aad), 'x')); err == nil {
			t.Fatal("opened at another place")
		}
	})
}

func FuzzParseKeyRing(f *testing.F) {
	k0, k1 := testKey(0).Encode(), testKey(1).Encode()
	h := "querygate-keyring v1\n"
	for _, s := range []string{
		string(MustKeyRing(f, "k1", testKey(0)).Marshal()),
		string(MustKeyRing(f, "k-old", testKey(0), "k-new", testKey(1)).Marshal()),
		k0,
		k0 + "\n",
		base64.RawURLEncoding.EncodeToString(testKey(0xf0).bytes()),
		h + "primary a\nkey a " + k0 + "\nkey b " + k1 + "\n",
		"# c\r\n" + h + "\r\nprimary a\r\nkey a " + k0 + "\r\n",
		h + "primary a\nkey a " + k0 + "\nkey a " + k1 + "\n",
		h + "primary b\nkey a " + k0 + "\n",
		h + "key a " + k0[:20] + "\n",
		h,
		"",
		"querygate-keyring v1",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseKeyRing(data)
		if err != nil {
			if r != nil {
				t.Fatal("ParseKeyRing returned a ring with its error")
			}
			// Errors never echo key material: nothing as long as an
			// encoded key (ids, which errors may name, are at most 32).
			for _, field := range strings.Fields(string(data)) {
				if len(field) > 32 && strings.Contains(err.Error(), field) {
					t.Fatalf("error %q echoes input %q", err, field)
				}
			}
			return
		}
		if !r.Has(r.Primary()) || len(r.IDs()) == 0 {
			t.Fatalf("parsed ring: primary %q not among ids %v", r.Primary(), r.IDs())
		}
		for _, id := range r.IDs() {
			if !validKeyID(id) || !r.keys[id].Valid() {
				t.Fatalf("parsed ring holds id %q with valid=%v", id, r.keys[id].Valid())
			}
		}
		m := r.Marshal()
		r2, err := ParseKeyRing(m)
		if err != nil {
			t.Fatalf("ParseKeyRing(Marshal()): %v\n%s", err, m)
		}
		if r2.Primary() != r.Primary() || !slices.Equal(r2.IDs(), r.IDs()) {
			t.Fatalf("round trip: got %s %v, want %s %v", r2.Primary(), r2.IDs(), r.Primary(), r.IDs())
		}
		for _, id := range r.IDs() {
			if !r2.keys[id].Equal(r.keys[id]) {
				t.Fatalf("round trip: key %s changed", id)
			}
		}
		if m2 := r2.Marshal(); !bytes.Equal(m2, m) {
			t.Fatalf("Marshal is not stable:\n%s\n%s", m, m2)
		}
	})
}

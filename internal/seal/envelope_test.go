package seal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var (
	testAAD       = []byte("datasource/ds_1/secrets")
	testPlaintext = []byte(`{"password":"canary-3f9d1c"}`)
)

// blobMinLen is the shortest well-formed blob for a key id of n bytes.
func blobMinLen(n int) int { return 2 + n + nonceSize + sealedDEK + nonceSize + tagSize }

func TestEnvelopeRoundTrip(t *testing.T) {
	ring := MustKeyRing(t, "k1", testKey(0))
	e := MustEnvelope(t, ring, testSalt(0xa0), nil)
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"json", testPlaintext, testAAD},
		{"empty plaintext", []byte{}, testAAD},
		{"nil plaintext", nil, testAAD},
		{"empty aad", testPlaintext, nil},
		{"binary", []byte{0, 1, 2, 0xff, 0}, []byte("a\x00b")},
		{"one MiB", bytes.Repeat([]byte("x"), 1<<20), testAAD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := MustSeal(t, e, "", tt.plaintext, tt.aad)
			if got, want := len(b), blobMinLen(2)+len(tt.plaintext); got != want {
				t.Errorf("blob length: got %d, want %d", got, want)
			}
			if id, err := BlobKeyID(b); err != nil || id != "k1" {
				t.Errorf("BlobKeyID: got %q, %v; want k1", id, err)
			}
			got, err := e.Open(b, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open: got %d bytes, want %d bytes equal to the plaintext", len(got), len(tt.plaintext))
			}
			if len(tt.plaintext) > 8 && bytes.Contains(b, tt.plaintext[:9]) {
				t.Errorf("blob holds the plaintext in clear")
			}
		})
	}
}

func TestEnvelopeSealIsRandomised(t *testing.T) {
	e := MustEnvelope(t, MustKeyRing(t, "k1", testKey(0)), testSalt(0xa0), nil)
	a := MustSeal(t, e, "", testPlaintext, testAAD)
	b := MustSeal(t, e, "", testPlaintext, testAAD)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal; want fresh nonces and data keys")
	}
	n := 2 + len("k1")
	if bytes.Equal(a[n:n+nonceSize], b[n:n+nonceSize]) {
		t.Error("two seals share a DEK nonce")
	}
	d := n + nonceSize + sealedDEK
	if bytes.Equal(a[d:d+nonceSize], b[d:d+nonceSize]) {
		t.Error("two seals share a data nonce")
	}
}

func TestEnvelopeSealKeyID(t *testing.T) {
	ring := MustKeyRing(t, "old", testKey(0), "new", testKey(1))
	e := MustEnvelope(t, ring, testSalt(0xa0), nil)
	tests := []struct {
		kekID, want string
	}{
		{"", "new"},
		{"new", "new"},
		{"old", "old"},
	}
	for _, tt := range tests {
		t.Run("id="+tt.kekID, func(t *testing.T) {
			b := MustSeal(t, e, tt.kekID, testPlaintext, testAAD)
			if got, _ := BlobKeyID(b); got != tt.want {
				t.Errorf("BlobKeyID: got %q, want %q", got, tt.want)
			}
			if _, err := e.Open(b, testAAD); err != nil {
				t.Errorf("Open: %v", err)
			}
		})
	}
	_, err := e.Seal("absent", testPlaintext, testAAD)
	var uk *UnknownKeyError
	if !errors.As(err, &uk) || uk.ID != "absent" {
		t.Errorf("Seal under an absent key: got %v, want *UnknownKeyError{absent}", err)
	}
}

// TestEnvelopeOpenFlippedBit flips every bit of a sealed blob, one at a
// time: none may open, and each failure must be the error its region calls
// for.
func TestEnvelopeOpenFlippedBit(t *testing.T) {
	const id = "kat-key-1"
	e := MustEnvelope(t, MustKeyRing(t, id, testKey(0)), testSalt(0xa0), nil)
	blob := MustSeal(t, e, "", testPlaintext, testAAD)
	for i := range blob {
		for bit := range 8 {
			b := bytes.Clone(blob)
			b[i] ^= 1 << bit
			pt, err := e.Open(b, testAAD)
			if err == nil || pt != nil {
				t.Fatalf("byte %d bit %d flipped: Open succeeded (%d bytes), want failure", i, bit, len(pt))
			}
			var uk *UnknownKeyError
			switch {
			case i == 0:
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("version byte bit %d flipped: got %v, want ErrMalformed", bit, err)
				}
			case i < 2+len(id):
				// The id length or the id itself: either the blob no
				// longer parses, or it names a key we do not hold.
				if !errors.Is(err, ErrMalformed) && !errors.As(err, &uk) {
					t.Errorf("byte %d bit %d flipped: got %v, want ErrMalformed or *UnknownKeyError", i, bit, err)
				}
			default:
				if !errors.Is(err, ErrOpen) {
					t.Errorf("byte %d bit %d flipped: got %v, want ErrOpen", i, bit, err)
				}
			}
			if _, err := BlobKeyID(b); i >= 2+len(id) && err != nil {
				t.Errorf("byte %d flipped: BlobKeyID: %v; the key id part is intact", i, err)
			}
		}
	}
}

func TestEnvelopeOpenTruncated(t *testing.T) {
	const id = "k1"
	e := MustEnvelope(t, MustKeyRing(t, id, testKey(0)), testSalt(0xa0), nil)
	blob := MustSeal(t, e, "", testPlaintext, testAAD)
	for n := range len(blob) {
		_, err := e.Open(blob[:n], testAAD)
		want := ErrOpen
		if n < blobMinLen(len(id)) {
			want = ErrMalformed
		}
		if !errors.Is(err, want) {
			t.Errorf("truncated to %d of %d bytes: got %v, want %v", n, len(blob), err, want)
		}
	}
	if _, err := e.Open(append(bytes.Clone(blob), 0), testAAD); !errors.Is(err, ErrOpen) {
		t.Errorf("one byte appended: got %v, want ErrOpen", err)
	}
}

func TestEnvelopeOpenMalformed(t *testing.T) {
	e := MustEnvelope(t, MustKeyRing(t, "k1", testKey(0)), testSalt(0xa0), nil)
	good := MustSeal(t, e, "", testPlaintext, testAAD)
	withID := func(id string) []byte {
		b := []byte{blobVersion1, byte(len(id))}
		b = append(b, id...)
		return append(b, good[2+2:]...)
	}
	tests := []struct {
		name string
		blob []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version 0", append([]byte{0}, good[1:]...)},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"zero id length", append([]byte{blobVersion1, 0}, good[2:]...)},
		{"id length past end", append([]byte{blobVersion1, 255}, good[2:]...)},
		{"upper-case id", withID("K1")},
		{"id with NUL", withID("k\x00")},
		{"id with slash", withID("k/")},
		{"id too long", withID(strings.Repeat("k", 33))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Open(tt.blob, testAAD); !errors.Is(err, ErrMalformed) {
				t.Errorf("Open: got %v, want ErrMalformed", err)
			}
			if _, err := BlobKeyID(tt.blob); !errors.Is(err, ErrMalformed) {
				t.Errorf("BlobKeyID: got %v, want ErrMalformed", err)
			}
			if _, err := e.Rewrap(tt.blob, testAAD, ""); !errors.Is(err, ErrMalformed) {
				t.Errorf("Rewrap: got %v, want ErrMalformed", err)
			}
		})
	}
}

// TestEnvelopeOpenElsewhere moves a blob to another place, instance, key or
// key id: none may open it.
func TestEnvelopeOpenElsewhere(t *testing.T) {
	salt := testSalt(0xa0)
	e := MustEnvelope(t, MustKeyRing(t, "k1", testKey(0)), salt, nil)
	blob := MustSeal(t, e, "", testPlaintext, testAAD)

	otherSalt := bytes.Clone(salt)
	otherSalt[31] ^= 1
	tests := []struct {
		name string
		env  *Envelope
		aad  []byte
		want error
	}{
		{"another row", e, []byte("datasource/ds_2/secrets"), ErrOpen},
		{"another field of the row", e, []byte("datasource/ds_1/secret"), ErrOpen},
		{"prefix of the place", e, []byte("datasource/ds_"), ErrOpen},
		{"place plus a byte", e, append(bytes.Clone(testAAD), 0), ErrOpen},
		{"no place", e, nil, ErrOpen},
		{"another instance salt", MustEnvelope(t, MustKeyRing(t, "k1", testKey(0)), otherSalt, nil), testAAD, ErrOpen},
		{"another master key under the same id", MustEnvelope(t, MustKeyRing(t, "k1", testKey(1)), salt, nil), testAAD, ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.env.Open(blob, tt.aad)
			if !errors.Is(err, tt.want) || pt != nil {
				t.Errorf("Open: got %d bytes, %v; want %v", len(pt), err, tt.want)
			}
			if _, err := tt.env.Rewrap(blob, tt.aad, ""); !errors.Is(err, tt.want) {
				t.Errorf("Rewrap: got %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("unknown key id", func(t *testing.T) {
		other := MustEnvelope(t, MustKeyRing(t, "k2", testKey(0)), salt, nil)
		_, err := other.Open(blob, testAAD)
		var uk *UnknownKeyError
		if !errors.As(err, &uk) {
			t.Fatalf("Open: got %v, want *UnknownKeyError", err)
		}
		if uk.ID != "k1" {
			t.Errorf("UnknownKeyError.ID: got %q, want k1", uk.ID)
		}
		if !strings.Contains(err.Error(), "k1") {
			t.Errorf("error %q does not name the key id", err)
		}
	})

	t.Run("id edited to another held key", func(t *testing.T) {
		// Same key material under both ids: only the id in the DEK's
		// associated data tells them apart.
		two := MustEnvelope(t, MustKeyRing(t, "k1", testKey(0), "k2", testKey(0)), salt, nil)
		b := bytes.Clone(blob)
		b[3] = '2'
		if _, err := two.Open(b, testAAD); !errors.Is(err, ErrOpen) {
			t.Errorf("Open: got %v, want ErrOpen", err)
		}
	})

	t.Run("halves of two blobs spliced", func(t *testing.T) {
		other := MustSeal(t, e, "", testPlaintext, testAAD)
		d := 2 + 2 + nonceSize + sealedDEK
		spliced := append(bytes.Clone(blob[:d]), other[d:]...)
		if _, err := e.Open(spliced, testAAD); !errors.Is(err, ErrOpen) {
			t.Errorf("Open: got %v, want ErrOpen", err)
		}
	})
}

func TestNewEnvelopeErrors(t *testing.T) {
	ring := MustKeyRing(t, "k1", testKey(0))
	tests := []struct {
		name string
		o    EnvelopeOptions
		ok   bool
	}{
		{"no ring", EnvelopeOptions{Salt: testSalt(0)}, false},
		{"no salt", EnvelopeOptions{Ring: ring}, false},
		{"15-byte salt", EnvelopeOptions{Ring: ring, Salt: make([]byte, 15)}, false},
		{"16-byte salt", EnvelopeOptions{Ring: ring, Salt: make([]byte, 16)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEnvelope(tt.o)
			if got := err == nil; got != tt.ok {
				t.Errorf("NewEnvelope: got err %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestEnvelopeKeepsOwnSaltCopy(t *testing.T) {
	salt := testSalt(0xa0)
	e := MustEnvelope(t, MustKeyRing(t, "k1", testKey(0)), salt, nil)
	b := MustSeal(t, e, "", testPlaintext, testAAD)
	salt[0] ^= 0xff
	e.setRing(e.Ring()) // re-derive the KEKs from the envelope's salt
	if _, err := e.Open(b, testAAD); err != nil {
		t.Errorf("Open after the caller's salt slice changed: %v", err)
	}
}

func TestEnvelopeRewrap(t *testing.T) {
	salt := testSalt(0xa0)
	oldRing := MustKeyRing(t, "old", testKey(0))
	blob := MustSeal(t, MustEnvelope(t, oldRing, salt, nil), "", testPlaintext, testAAD)

	both, err := oldRing.With("new", testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	e := MustEnvelope(t, both, salt, nil)
	for _, kekID := range []string{"new", ""} {
		t.Run("to="+kekID, func(t *testing.T) {
			nb, err := e.Rewrap(blob, testAAD, kekID)
			if err != nil {
				t.Fatalf("Rewrap: %v", err)
			}
			if id, _ := BlobKeyID(nb); id != "new" {
				t.Errorf("BlobKeyID after Rewrap: got %q, want new", id)
			}
			if got, want := len(nb), len(blob)+len("new")-len("old"); got != want {
				t.Errorf("length: got %d, want %d", got, want)
			}
			// The data part (nonce, ciphertext, tag) is carried over as is.
			data := nonceSize + len(testPlaintext) + tagSize
			if !bytes.Equal(nb[len(nb)-data:], blob[len(blob)-data:]) {
				t.Error("data part changed; Rewrap must not re-encrypt the data")
			}
			dek := func(b []byte, id string) []byte { return b[2+len(id) : 2+len(id)+nonceSize+sealedDEK] }
			if bytes.Equal(dek(nb, "new"), dek(blob, "old")) {
				t.Error("sealed DEK unchanged")
			}

			newOnly, err := both.Without("old")
			if err != nil {
				t.Fatal(err)
			}
			ne := MustEnvelope(t, newOnly, salt, nil)
			got, err := ne.Open(nb, testAAD)
			if err != nil {
				t.Fatalf("Open with a ring lacking the old key: %v", err)
			}
			if !bytes.Equal(got, testPlaintext) {
				t.Errorf("Open: got %q, want %q", got, testPlaintext)
			}
			var uk *UnknownKeyError
			if _, err := ne.Open(blob, testAAD); !errors.As(err, &uk) || uk.ID != "old" {
				t.Errorf("old blob with a ring lacking the old key: got %v, want *UnknownKeyError{old}", err)
			}
			if _, err := ne.Open(nb, []byte("datasource/ds_2/secrets")); !errors.Is(err, ErrOpen) {
				t.Errorf("rewrapped blob at another place: got %v, want ErrOpen", err)
			}
		})
	}

	t.Run("to the same key", func(t *testing.T) {
		nb, err := e.Rewrap(blob, testAAD, "old")
		if err != nil {
			t.Fatalf("Rewrap: %v", err)
		}
		if got, err := e.Open(nb, testAAD); err != nil || !bytes.Equal(got, testPlaintext) {
			t.Errorf("Open: got %q, %v", got, err)
		}
	})

	t.Run("to an unknown key", func(t *testing.T) {
		_, err := e.Rewrap(blob, testAAD, "absent")
		var uk *UnknownKeyError
		if !errors.As(err, &uk) || uk.ID != "absent" {
			t.Errorf("Rewrap: got %v, want *UnknownKeyError{absent}", err)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		// Every bit, including the data part, which Rewrap does not
		// re-encrypt but must still authenticate.
		for i := range blob {
			for bit := range 8 {
				b := bytes.Clone(blob)
				b[i] ^= 1 << bit
				nb, err := e.Rewrap(b, testAAD, "new")
				if err == nil {
					t.Fatalf("byte %d bit %d flipped: Rewrap succeeded, want failure", i, bit)
				}
				if nb != nil {
					t.Errorf("byte %d bit %d flipped: Rewrap returned %d bytes with its error", i, bit, len(nb))
				}
				if !isOpenError(err) {
					t.Errorf("byte %d bit %d flipped: got %v, want ErrMalformed, ErrOpen or *UnknownKeyError", i, bit, err)
				}
			}
		}
		for n := range len(blob) {
			if _, err := e.Rewrap(blob[:n], testAAD, "new"); err == nil {
				t.Fatalf("truncated to %d bytes: Rewrap succeeded", n)
			}
		}
	})
}

func TestEnvelopeReload(t *testing.T) {
	salt := testSalt(0xa0)
	oldRing := MustKeyRing(t, "old", testKey(0))
	newRing, err := oldRing.With("new", testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	blob := MustSeal(t, MustEnvelope(t, newRing, salt, nil), "new", testPlaintext, testAAD)

	t.Run("opens after reload", func(t *testing.T) {
		var calls atomic.Int32
		e := MustEnvelope(t, oldRing, salt, func() (*KeyRing, error) {
			calls.Add(1)
			return newRing, nil
		})
		got, err := e.Open(blob, testAAD)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, testPlaintext) {
			t.Errorf("Open: got %q, want %q", got, testPlaintext)
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("reload calls: got %d, want 1", got)
		}
		if got := e.Ring().Primary(); got != "new" {
			t.Errorf("Ring().Primary() after reload: got %q, want new", got)
		}
		if _, err := e.Open(blob, testAAD); err != nil {
			t.Fatalf("second Open: %v", err)
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("reload calls after a second Open: got %d, want 1 (the key is now held)", got)
		}
	})

	t.Run("seal reloads too", func(t *testing.T) {
		e := MustEnvelope(t, oldRing, salt, func() (*KeyRing, error) { return newRing, nil })
		b, err := e.Seal("new", testPlaintext, testAAD)
		if err != nil {
			t.Fatalf("Seal under a key only the reloaded ring holds: %v", err)
		}
		if id, _ := BlobKeyID(b); id != "new" {
			t.Errorf("BlobKeyID: got %q, want new", id)
		}
	})

	t.Run("still unknown after reload", func(t *testing.T) {
		var calls atomic.Int32
		e := MustEnvelope(t, oldRing, salt, func() (*KeyRing, error) {
			calls.Add(1)
			return oldRing, nil
		})
		_, err := e.Open(blob, testAAD)
		var uk *UnknownKeyError
		if !errors.As(err, &uk) || uk.ID != "new" {
			t.Errorf("Open: got %v, want *UnknownKeyError{new}", err)
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("reload calls: got %d, want 1", got)
		}
	})

	t.Run("reload fails", func(t *testing.T) {
		boom := errors.New("key file unreadable")
		e := MustEnvelope(t, oldRing, salt, func() (*KeyRing, error) { return nil, boom })
		if _, err := e.Open(blob, testAAD); !errors.Is(err, boom) {
			t.Errorf("Open: got %v, want it to wrap the reload error", err)
		}
		if err := e.Reload(); !errors.Is(err, boom) {
			t.Errorf("Reload: got %v, want %v", err, boom)
		}
		// The ring in use is kept.
		if got := e.Ring().Primary(); got != "old" {
			t.Errorf("Ring().Primary(): got %q, want old", got)
		}
	})

	t.Run("no reload function", func(t *testing.T) {
		e := MustEnvelope(t, oldRing, salt, nil)
		if err := e.Reload(); err == nil {
			t.Error("Reload without a reload function: got nil error")
		}
		var uk *UnknownKeyError
		if _, err := e.Open(blob, testAAD); !errors.As(err, &uk) {
			t.Errorf("Open: got %v, want *UnknownKeyError", err)
		}
	})

	t.Run("reload drops a retired key", func(t *testing.T) {
		newOnly, err := newRing.Without("old")
		if err != nil {
			t.Fatal(err)
		}
		e := MustEnvelope(t, newRing, salt, func() (*KeyRing, error) { return newOnly, nil })
		oldBlob := MustSeal(t, e, "old", testPlaintext, testAAD)
		if err := e.Reload(); err != nil {
			t.Fatal(err)
		}
		var uk *UnknownKeyError
		if _, err := e.Open(oldBlob, testAAD); !errors.As(err, &uk) || uk.ID != "old" {
			t.Errorf("Open under a retired key: got %v, want *UnknownKeyError{old}", err)
		}
	})
}

// TestEnvelopeConcurrent seals, opens and reloads from many goroutines; run
// with -race.
func TestEnvelopeConcurrent(t *testing.T) {
	salt := testSalt(0xa0)
	ring := MustKeyRing(t, "k1", testKey(0), "k2", testKey(1))
	e := MustEnvelope(t, ring, salt, func() (*KeyRing, error) { return ring, nil })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				pt := fmt.Appendf(nil, "secret-%d-%d", g, i)
				aad := fmt.Appendf(nil, "datasource/%d-%d/secrets", g, i)
				kekID := []string{"", "k1", "k2"}[i%3]
				b, err := e.Seal(kekID, pt, aad)
				if err != nil {
					t.Errorf("Seal: %v", err)
					return
				}
				if i%10 == 0 {
					if err := e.Reload(); err != nil {
						t.Errorf("Reload: %v", err)
						return
					}
				}
				if i%2 == 0 {
					if b, err = e.Rewrap(b, aad, ""); err != nil {
						t.Errorf("Rewrap: %v", err)
						return
					}
				}
				got, err := e.Open(b, aad)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open: got %q, %v; want %q", got, err, pt)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestEnvelopeSealKeyOpenKey(t *testing.T) {
	e := MustEnvelope(t, MustKeyRing(t, "k1", testKey(0)), testSalt(0xa0), nil)
	k := GenerateKey()
	aad := []byte("instance/root-key")
	b, err := e.SealKey("", k, aad)
	if err != nil {
		t.Fatalf("SealKey: %v", err)
	}
	if bytes.Contains(b, k.bytes()[:8]) {
		t.Error("sealed key holds the key in clear")
	}
	got, err := e.OpenKey(b, aad)
	if err != nil {
		t.Fatalf("OpenKey: %v", err)
	}
	if !got.Equal(k) {
		t.Error("OpenKey: got another key")
	}
	if _, err := e.OpenKey(b, []byte("instance/key-check")); !errors.Is(err, ErrOpen) {
		t.Errorf("OpenKey at another place: got %v, want ErrOpen", err)
	}
	notKey := MustSeal(t, e, "", []byte("not 32 bytes"), aad)
	if got, err := e.OpenKey(notKey, aad); !errors.Is(err, ErrMalformed) || got.Valid() {
		t.Errorf("OpenKey of a value that is not a key: got valid=%v, %v; want ErrMalformed", got.Valid(), err)
	}
}

func TestErrorsHoldNoSecrets(t *testing.T) {
	// Errors carry neither plaintext nor key material, whatever fails.
	k := testKey(0)
	e := MustEnvelope(t, MustKeyRing(t, "k1", k), testSalt(0xa0), nil)
	blob := MustSeal(t, e, "", testPlaintext, testAAD)
	other := MustEnvelope(t, MustKeyRing(t, "k1", testKey(1)), testSalt(0xa0), nil)
	var errs []error
	_, err := other.Open(blob, testAAD)
	errs = append(errs, err)
	_, err = e.Open(blob[:40], testAAD)
	errs = append(errs, err)
	_, err = e.Open(blob, nil)
	errs = append(errs, err)
	_, err = other.Rewrap(blob, testAAD, "")
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		msg := err.Error()
		for _, secret := range []string{string(testPlaintext), "canary-3f9d1c", k.Encode(), fmt.Sprintf("%x", k.bytes())} {
			if strings.Contains(msg, secret) {
				t.Errorf("error %q holds secret material", msg)
			}
		}
	}
}

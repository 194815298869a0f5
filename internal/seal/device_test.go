package seal

import (
	"bytes"
	"errors"
	"testing"
)

var testDeviceAAD = []byte("device/ds_1/u_1/dev_1")

func TestSealWithKeyRoundTrip(t *testing.T) {
	k := GenerateKey()
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"password", []byte("device-password"), testDeviceAAD},
		{"empty", []byte{}, testDeviceAAD},
		{"no aad", []byte("p"), nil},
		{"large", bytes.Repeat([]byte{7}, 64<<10), testDeviceAAD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := SealWithKey(k, tt.plaintext, tt.aad)
			if got, want := len(b), 1+nonceSize+len(tt.plaintext)+tagSize; got != want {
				t.Errorf("length: got %d, want %d", got, want)
			}
			if b[0] != blobVersion1 {
				t.Errorf("version byte: got %#x, want %#x", b[0], blobVersion1)
			}
			got, err := OpenWithKey(k, b, tt.aad)
			if err != nil {
				t.Fatalf("OpenWithKey: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("OpenWithKey: got %d bytes, want the %d plaintext bytes", len(got), len(tt.plaintext))
			}
		})
	}
	if bytes.Equal(SealWithKey(k, []byte("p"), testDeviceAAD), SealWithKey(k, []byte("p"), testDeviceAAD)) {
		t.Error("two seals of the same value are equal; want a fresh nonce each time")
	}
}

func TestOpenWithKeyRefused(t *testing.T) {
	k := testKey(0x40)
	pt := []byte("device-password")
	good := SealWithKey(k, pt, testDeviceAAD)

	tests := []struct {
		name string
		key  Key
		b    []byte
		aad  []byte
		want error
	}{
		{"another key", testKey(0x41), good, testDeviceAAD, ErrOpen},
		{"empty key", Key{}, good, testDeviceAAD, ErrOpen},
		{"another user", k, good, []byte("device/ds_1/u_2/dev_1"), ErrOpen},
		{"another device", k, good, []byte("device/ds_1/u_1/dev_2"), ErrOpen},
		{"another datasource", k, good, []byte("device/ds_2/u_1/dev_1"), ErrOpen},
		{"no aad", k, good, nil, ErrOpen},
		{"version 2", k, append([]byte{2}, good[1:]...), testDeviceAAD, ErrMalformed},
		{"nil", k, nil, testDeviceAAD, ErrMalformed},
		{"appended byte", k, append(bytes.Clone(good), 0), testDeviceAAD, ErrOpen},
		{"envelope blob", k, MustSeal(t, MustEnvelope(t, MustKeyRing(t, "k1", k), testSalt(0), nil), "", pt, testDeviceAAD), testDeviceAAD, ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenWithKey(tt.key, tt.b, tt.aad)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("OpenWithKey: got %q, %v; want %v", got, err, tt.want)
			}
		})
	}
	for i := range good {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			want := ErrOpen
			if i == 0 {
				want = ErrMalformed
			}
			if _, err := OpenWithKey(k, b, testDeviceAAD); !errors.Is(err, want) {
				t.Fatalf("byte %d bit %d flipped: got %v, want %v", i, bit, err, want)
			}
		}
	}
	for n := range len(good) {
		want := ErrOpen
		if n < 1+nonceSize+tagSize {
			want = ErrMalformed
		}
		if _, err := OpenWithKey(k, good[:n], testDeviceAAD); !errors.Is(err, want) {
			t.Errorf("truncated to %d bytes: got %v, want %v", n, err, want)
		}
	}
}

// TestSealWithKeyDomainSeparation checks that a device value and an
// envelope data part, sealed with the same key for the same place, do not
// open as each other.
func TestSealWithKeyDomainSeparation(t *testing.T) {
	k := testKey(0x40)
	dev := SealWithKey(k, []byte("p"), testDeviceAAD)
	if _, err := newGCM(k).Open(nil, dev[1:1+nonceSize], dev[1+nonceSize:], dataAD(testDeviceAAD)); err == nil {
		t.Error("a device value opens as envelope data")
	}
	if _, err := newGCM(k).Open(nil, dev[1:1+nonceSize], dev[1+nonceSize:], testDeviceAAD); err == nil {
		t.Error("a device value opens with the bare place as associated data")
	}
}

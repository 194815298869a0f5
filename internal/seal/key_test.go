package seal

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	a, b := GenerateKey(), GenerateKey()
	if !a.Valid() || !b.Valid() {
		t.Fatal("GenerateKey returned an empty key")
	}
	if a.Equal(b) {
		t.Error("two generated keys are equal")
	}
	if bytes.Equal(a.bytes(), make([]byte, KeySize)) {
		t.Error("generated key is all zeros")
	}
	if !a.Equal(a) {
		t.Error("a key is not equal to itself")
	}
	if (Key{}).Equal(Key{}) || a.Equal(Key{}) || (Key{}).Equal(a) {
		t.Error("an empty key compares equal")
	}
	if (Key{}).Valid() {
		t.Error("the zero Key is valid")
	}
}

func TestGenerateKeyID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := GenerateKeyID()
		if !validKeyID(id) {
			t.Fatalf("GenerateKeyID: %q is not a valid key id", id)
		}
		if seen[id] {
			t.Fatalf("GenerateKeyID: %q made twice", id)
		}
		seen[id] = true
	}
}

func TestKeyIDFor(t *testing.T) {
	a, b := testKey(0), testKey(1)
	if got := KeyIDFor(a); got != KeyIDFor(a) || !validKeyID(got) {
		t.Errorf("KeyIDFor: got %q; want a stable, valid id", got)
	}
	if KeyIDFor(a) == KeyIDFor(b) {
		t.Error("two keys share an id")
	}
	if strings.Contains(a.Encode(), strings.TrimPrefix(KeyIDFor(a), "k")) {
		t.Error("id is part of the key's encoding")
	}
}

func TestParseKey(t *testing.T) {
	// 0xfb 0xff makes '+' and '/' in the standard alphabet, '-' and '_' in
	// the URL one.
	raw := bytes.Repeat([]byte{0xfb, 0xff}, KeySize/2)
	want := keyFromBytes(raw)
	tests := []struct {
		name string
		in   string
	}{
		{"standard", base64.StdEncoding.EncodeToString(raw)},
		{"standard unpadded", base64.RawStdEncoding.EncodeToString(raw)},
		{"url", base64.URLEncoding.EncodeToString(raw)},
		{"url unpadded", base64.RawURLEncoding.EncodeToString(raw)},
		{"surrounding whitespace", " \t" + base64.StdEncoding.EncodeToString(raw) + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.in)
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !got.Equal(want) {
				t.Error("ParseKey: got another key")
			}
			if got.Encode() != base64.StdEncoding.EncodeToString(raw) {
				t.Errorf("Encode: got %q", got.Encode())
			}
		})
	}

	bad := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"16 bytes", base64.StdEncoding.EncodeToString(raw[:16])},
		{"31 bytes", base64.StdEncoding.EncodeToString(raw[:31])},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(raw), 1))},
		{"not base64", "this is not a key, it is a sentence!"},
		{"hex", fmt.Sprintf("%x", raw)},
		{"key with a space inside", base64.StdEncoding.EncodeToString(raw)[:20] + " " + base64.StdEncoding.EncodeToString(raw)[20:]},
	}
	for _, tt := range bad {
		t.Run("bad/"+tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.in)
			if err == nil {
				t.Fatal("ParseKey: got nil error")
			}
			if got.Valid() {
				t.Error("ParseKey: got a valid key with the error")
			}
			if tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Errorf("error %q echoes the input", err)
			}
		})
	}
}

func TestNewKeyRing(t *testing.T) {
	k := testKey(0)
	good := []string{"k", "k1", "kat-key-1", "0", strings.Repeat("a", 32), "k759bd37a55", "-"}
	for _, id := range good {
		t.Run("good/"+id, func(t *testing.T) {
			r, err := NewKeyRing(id, k)
			if err != nil {
				t.Fatalf("NewKeyRing: %v", err)
			}
			if r.Primary() != id || !slices.Equal(r.IDs(), []string{id}) || !r.Has(id) {
				t.Errorf("ring: got primary %q ids %v, want %q", r.Primary(), r.IDs(), id)
			}
		})
	}
	bad := []string{"", "K1", "k 1", "k_1", "k/1", "k.1", "k\x00", "kλ", strings.Repeat("a", 33), "k\n"}
	for _, id := range bad {
		t.Run(fmt.Sprintf("bad/%q", id), func(t *testing.T) {
			if _, err := NewKeyRing(id, k); err == nil {
				t.Error("NewKeyRing: got nil error")
			}
		})
	}
	if _, err := NewKeyRing("k1", Key{}); err == nil {
		t.Error("NewKeyRing with an empty key: got nil error")
	}
}

func TestKeyRingMarshalParse(t *testing.T) {
	r := MustKeyRing(t, "k-a", testKey(0), "k-b", testKey(1), "k-c", testKey(2))
	r, err := r.Without("k-b")
	if err != nil {
		t.Fatal(err)
	}
	if r, err = r.With("k-d", testKey(3)); err != nil {
		t.Fatal(err)
	}
	// Make a middle key primary: parse must keep primary apart from order.
	text := strings.Replace(string(r.Marshal()), "primary k-d", "primary k-c", 1)
	r2, err := ParseKeyRing([]byte(text))
	if err != nil {
		t.Fatalf("ParseKeyRing: %v", err)
	}
	if got, want := r2.IDs(), []string{"k-a", "k-c", "k-d"}; !slices.Equal(got, want) {
		t.Errorf("IDs: got %v, want %v", got, want)
	}
	if got := r2.Primary(); got != "k-c" {
		t.Errorf("Primary: got %q, want k-c", got)
	}
	for id, k := range map[string]Key{"k-a": testKey(0), "k-c": testKey(2), "k-d": testKey(3)} {
		if !r2.keys[id].Equal(k) {
			t.Errorf("key %s: got another key", id)
		}
	}
	if got := r2.Marshal(); string(got) != text {
		t.Errorf("Marshal of the parsed ring:\ngot  %s\nwant %s", got, text)
	}

	// The file form a person might edit: CRLF, comments, blank lines,
	// indentation and extra spaces between fields.
	k0, k1 := testKey(0).Encode(), testKey(1).Encode()
	edited := "# comment\r\n\r\n  querygate-keyring v1  \r\n# another\r\nkey   k-a\t" + k0 + "\r\n\r\nprimary k-b\r\nkey k-b " + k1 + "\r\n"
	r3, err := ParseKeyRing([]byte(edited))
	if err != nil {
		t.Fatalf("ParseKeyRing of an edited file: %v", err)
	}
	if r3.Primary() != "k-b" || !slices.Equal(r3.IDs(), []string{"k-a", "k-b"}) {
		t.Errorf("edited file: got primary %q ids %v", r3.Primary(), r3.IDs())
	}
}

func TestKeyRingMarshalHoldsHeader(t *testing.T) {
	r := MustKeyRing(t, "k1", testKey(0))
	m := string(r.Marshal())
	for _, want := range []string{"querygate-keyring v1\n", "primary k1\n", "key k1 " + testKey(0).Encode() + "\n", "# "} {
		if !strings.Contains(m, want) {
			t.Errorf("Marshal: %q missing from\n%s", want, m)
		}
	}
}

func TestParseKeyRingBareKey(t *testing.T) {
	k := testKey(7)
	raw := k.bytes()
	for _, in := range []string{
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(raw) + "\n",
		"  " + base64.StdEncoding.EncodeToString(raw) + "\r\n\n",
	} {
		t.Run(fmt.Sprintf("%q", in[len(in)-3:]), func(t *testing.T) {
			r, err := ParseKeyRing([]byte(in))
			if err != nil {
				t.Fatalf("ParseKeyRing: %v", err)
			}
			id := KeyIDFor(k)
			if r.Primary() != id || !slices.Equal(r.IDs(), []string{id}) {
				t.Errorf("got primary %q ids %v, want %q", r.Primary(), r.IDs(), id)
			}
			if !r.keys[id].Equal(k) {
				t.Error("got another key")
			}
		})
	}
}

func TestParseKeyRingErrors(t *testing.T) {
	k := testKey(0)
	b64 := k.Encode()
	short := base64.StdEncoding.EncodeToString(k.bytes()[:16])
	long := base64.StdEncoding.EncodeToString(append(bytes.Clone(k.bytes()), 9))
	badB64 := b64[:20] + "!*" + b64[22:]
	h := "querygate-keyring v1\n"
	tests := []struct {
		name, text string
	}{
		{"empty", ""},
		{"whitespace", " \n\t\n"},
		{"only comments", "# a\n# b\n"},
		{"no header", "primary k1\nkey k1 " + b64 + "\n"},
		{"header after a key", "key k1 " + b64 + "\n" + h + "primary k1\n"},
		{"wrong header version", "querygate-keyring v2\nprimary k1\nkey k1 " + b64 + "\n"},
		{"header only", h},
		{"header only, no newline", "querygate-keyring v1"},
		{"no key", h + "primary k1\n"},
		{"no primary", h + "key k1 " + b64 + "\n"},
		{"primary not in the file", h + "primary k2\nkey k1 " + b64 + "\n"},
		{"primary twice", h + "primary k1\nprimary k1\nkey k1 " + b64 + "\n"},
		{"duplicate id", h + "primary k1\nkey k1 " + b64 + "\nkey k1 " + b64 + "\n"},
		{"bad key id", h + "primary k1\nkey K1 " + b64 + "\n"},
		{"bad primary id", h + "primary K_1\nkey k1 " + b64 + "\n"},
		{"key id too long", h + "primary k1\nkey " + strings.Repeat("k", 33) + " " + b64 + "\n"},
		{"bad base64", h + "primary k1\nkey k1 " + badB64 + "\n"},
		{"16-byte key", h + "primary k1\nkey k1 " + short + "\n"},
		{"33-byte key", h + "primary k1\nkey k1 " + long + "\n"},
		{"key without id", h + "primary k1\nkey " + b64 + "\n"},
		{"key with a trailing field", h + "primary k1\nkey k1 " + b64 + " extra\n"},
		{"unknown line", h + "primary k1\nkey k1 " + b64 + "\nsecret " + b64 + "\n"},
		{"bare key line inside a file", h + "primary k1\n" + b64 + "\n"},
		{"bare short key", short},
		{"bare long key", long},
		{"bare bad base64", badB64},
		{"two bare keys", b64 + "\n" + b64},
		{"very long line", h + "primary k1\nkey k1 " + strings.Repeat("A", 70000) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseKeyRing([]byte(tt.text))
			if err == nil {
				t.Fatalf("ParseKeyRing: got ring %v, want an error", r)
			}
			if r != nil {
				t.Errorf("ParseKeyRing: got a ring with the error")
			}
			msg := err.Error()
			for _, s := range []string{b64, short, long, badB64, b64[:16], badB64[:16]} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q holds key material", msg)
				}
			}
		})
	}
}

func TestKeyRingWithWithout(t *testing.T) {
	r := MustKeyRing(t, "k1", testKey(0))

	r2, err := r.With("k2", testKey(1))
	if err != nil {
		t.Fatalf("With: %v", err)
	}
	if got := r2.Primary(); got != "k2" {
		t.Errorf("With: primary got %q, want k2", got)
	}
	if got, want := r2.IDs(), []string{"k1", "k2"}; !slices.Equal(got, want) {
		t.Errorf("With: ids got %v, want %v", got, want)
	}
	// The original is unchanged.
	if r.Primary() != "k1" || !slices.Equal(r.IDs(), []string{"k1"}) || r.Has("k2") {
		t.Errorf("With changed its receiver: primary %q ids %v", r.Primary(), r.IDs())
	}

	for _, tt := range []struct {
		name string
		id   string
		k    Key
	}{
		{"duplicate id", "k1", testKey(2)},
		{"bad id", "K3", testKey(2)},
		{"empty id", "", testKey(2)},
		{"empty key", "k3", Key{}},
	} {
		t.Run("With/"+tt.name, func(t *testing.T) {
			if got, err := r2.With(tt.id, tt.k); err == nil {
				t.Errorf("With: got ring %v, want an error", got)
			}
		})
	}

	r3, err := r2.Without("k1")
	if err != nil {
		t.Fatalf("Without: %v", err)
	}
	if r3.Has("k1") || !slices.Equal(r3.IDs(), []string{"k2"}) || r3.Primary() != "k2" {
		t.Errorf("Without: got primary %q ids %v", r3.Primary(), r3.IDs())
	}
	if !r2.Has("k1") || len(r2.IDs()) != 2 {
		t.Error("Without changed its receiver")
	}
	if _, err := r2.Without("k2"); err == nil {
		t.Error("Without the primary key: got nil error")
	}
	if _, err := r2.Without("absent"); err == nil {
		t.Error("Without an absent key: got nil error")
	}

	ids := r2.IDs()
	ids[0] = "changed"
	if r2.IDs()[0] != "k1" {
		t.Error("IDs returned the ring's own slice")
	}

	// A ring built by With and Without survives the key file.
	r4, err := ParseKeyRing(r3.Marshal())
	if err != nil {
		t.Fatalf("ParseKeyRing: %v", err)
	}
	if !slices.Equal(r4.IDs(), r3.IDs()) || r4.Primary() != r3.Primary() {
		t.Errorf("round trip: got %v/%s, want %v/%s", r4.IDs(), r4.Primary(), r3.IDs(), r3.Primary())
	}
}

func TestKeyRingPrintsNoKey(t *testing.T) {
	r := MustKeyRing(t, "k1", testKey(0), "k2", testKey(1))
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("ring", "ring", r)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("ring", "ring", r)
	outs := []string{
		r.String(),
		fmt.Sprint(r),
		fmt.Sprintf("%v %+v %s", r, r, r),
		fmt.Sprintf("%v %+v", *r, *r),
		fmt.Sprintf("%#v", *r),
		logged.String(),
	}
	for _, out := range outs {
		for _, k := range []Key{testKey(0), testKey(1)} {
			if strings.Contains(out, k.Encode()) || strings.Contains(out, fmt.Sprintf("%x", k.bytes()[:4])) || strings.Contains(out, fmt.Sprint(k.bytes()[:4])) {
				t.Errorf("ring printed key material: %s", out)
			}
		}
	}
	if !strings.Contains(r.String(), "primary=k2") || !strings.Contains(r.String(), "keys=2") {
		t.Errorf("String: got %q, want the primary id and key count", r.String())
	}
}

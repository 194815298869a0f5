package accounts

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// fastHash keeps argon2id cheap under -race; only TestDefaultHashParams
// pays for the production cost.
var fastHash = HashParams{Time: 1, Memory: 64, Threads: 1}

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
	}{
		{"ascii", "correct horse battery staple"},
		{"unicode", "pässwörd-тест-密码"},
		{"with dollar signs", "pa$$word$argon2id$"},
		{"long", strings.Repeat("x", 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := HashPassword(tt.pw, fastHash)
			if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(h, want) {
				t.Errorf("HashPassword = %q, want prefix %q", h, want)
			}
			if strings.Contains(h, tt.pw) {
				t.Errorf("hash %q contains the password", h)
			}
			if h2 := HashPassword(tt.pw, fastHash); h2 == h {
				t.Errorf("two hashes of one password are equal (%q): the salt is not random", h)
			}
			ok, err := VerifyPassword(h, tt.pw)
			if err != nil || !ok {
				t.Errorf("VerifyPassword(right password) = %v, %v; want true, nil", ok, err)
			}
			ok, err = VerifyPassword(h, tt.pw+"x")
			if err != nil || ok {
				t.Errorf("VerifyPassword(wrong password) = %v, %v; want false, nil", ok, err)
			}
			ok, err = VerifyPassword(h, "")
			if err != nil || ok {
				t.Errorf("VerifyPassword(empty password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestDefaultHashParams(t *testing.T) {
	h := HashPassword("correct horse battery staple", DefaultHashParams)
	p := DefaultHashParams
	if want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", p.Memory, p.Time, p.Threads); !strings.HasPrefix(h, want) {
		t.Fatalf("HashPassword = %q, want prefix %q", h, want)
	}
	if ok, err := VerifyPassword(h, "correct horse battery staple"); err != nil || !ok {
		t.Fatalf("VerifyPassword = %v, %v; want true, nil", ok, err)
	}
	if ok, err := VerifyPassword(h, "Correct horse battery staple"); err != nil || ok {
		t.Fatalf("VerifyPassword(wrong) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	b64 := base64.RawStdEncoding.EncodeToString
	salt, sum := b64(make([]byte, 16)), b64(make([]byte, 32))
	phc := func(alg, version, params, salt, sum string) string {
		return "$" + alg + "$" + version + "$" + params + "$" + salt + "$" + sum
	}
	tests := []struct {
		name string
		hash string
	}{
		{"empty", ""},
		{"plain text", "hunter2hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", phc("argon2i", "v=19", "m=64,t=1,p=1", salt, sum)},
		{"argon2d", phc("argon2d", "v=19", "m=64,t=1,p=1", salt, sum)},
		{"old version", phc("argon2id", "v=16", "m=64,t=1,p=1", salt, sum)},
		{"version not a number", phc("argon2id", "v=x", "m=64,t=1,p=1", salt, sum)},
		{"version missing", phc("argon2id", "", "m=64,t=1,p=1", salt, sum)},
		{"memory zero", phc("argon2id", "v=19", "m=0,t=1,p=1", salt, sum)},
		{"memory over 4 GiB", phc("argon2id", "v=19", "m=4194305,t=1,p=1", salt, sum)},
		{"time zero", phc("argon2id", "v=19", "m=64,t=0,p=1", salt, sum)},
		{"time over 64", phc("argon2id", "v=19", "m=64,t=65,p=1", salt, sum)},
		{"threads zero", phc("argon2id", "v=19", "m=64,t=1,p=0", salt, sum)},
		{"threads overflow", phc("argon2id", "v=19", "m=64,t=1,p=256", salt, sum)},
		{"negative memory", phc("argon2id", "v=19", "m=-1,t=1,p=1", salt, sum)},
		{"params missing", phc("argon2id", "v=19", "m=64,t=1", salt, sum)},
		{"params reordered", phc("argon2id", "v=19", "t=1,m=64,p=1", salt, sum)},
		{"salt not base64", phc("argon2id", "v=19", "m=64,t=1,p=1", "!!!!", sum)},
		{"salt padded", phc("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", sum)},
		{"salt too short", phc("argon2id", "v=19", "m=64,t=1,p=1", b64(make([]byte, 4)), sum)},
		{"hash not base64", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, "****")},
		{"hash too short", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, b64(make([]byte, 8)))},
		{"hash too long", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, b64(make([]byte, 65)))},
		{"hash empty", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, "")},
		{"part missing", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra part", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, sum) + "$extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, "hunter2hunter2")
			if err == nil || ok {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want false and an error", tt.hash, ok, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
}

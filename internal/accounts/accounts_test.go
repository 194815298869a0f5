package accounts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
)

const goodPassword = "correct horse battery staple"

// MustService returns an accounts service on a fresh SQLite store, with
// cheap hashing and a clock the test may move.
func MustService(tb testing.TB) (*Service, *sqlite.DB) {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "querygate.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return NewService(Options{Store: db, HashParams: fastHash, SessionTTL: time.Hour}), db
}

// MustCreateUser creates a user with goodPassword.
func MustCreateUser(tb testing.TB, s *Service, username, role string) *User {
	tb.Helper()
	u, err := s.CreateUser(tb.Context(), CreateUserInput{Username: username, Password: goodPassword, Role: role})
	if err != nil {
		tb.Fatalf("CreateUser(%s, %s): %v", username, role, err)
	}
	return u
}

// MustCreateToken creates a token that never expires.
func MustCreateToken(tb testing.TB, s *Service, userID string) (string, *Token) {
	tb.Helper()
	v, tk, err := s.CreateToken(tb.Context(), userID, "ci", 0)
	if err != nil {
		tb.Fatalf("CreateToken: %v", err)
	}
	return v, tk
}

// wantErr fails unless err is a *querygate.Error with that code (and, when
// field is not empty, that field).
func wantErr(tb testing.TB, err error, code, field string) *querygate.Error {
	tb.Helper()
	var qe *querygate.Error
	if !errors.As(err, &qe) {
		tb.Fatalf("err = %v (%T), want a *querygate.Error with code %q", err, err, code)
	}
	if qe.Code != code {
		tb.Fatalf("error code = %q (%v), want %q", qe.Code, err, code)
	}
	if field != "" && qe.Field != field {
		tb.Fatalf("error field = %q (%v), want %q", qe.Field, err, field)
	}
	return qe
}

func countUsers(tb testing.TB, db store.Store) int {
	tb.Helper()
	var n int
	if err := db.View(tb.Context(), func(tx store.Tx) (err error) { n, err = tx.CountUsers(tb.Context()); return err }); err != nil {
		tb.Fatalf("CountUsers: %v", err)
	}
	return n
}

func TestCreateUser(t *testing.T) {
	s, db := MustService(t)
	u := MustCreateUser(t, s, "alice@example.com", RoleEditor)
	if u.ID == "" || u.Username != "alice@example.com" || u.Role != RoleEditor || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser = %+v, want id, username, role and creation time", u)
	}
	got, err := s.FindUser(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("FindUser: %v", err)
	}
	if got.ID != u.ID || got.Username != u.Username || got.Role != u.Role {
		t.Errorf("FindUser = %+v, want %+v", got, u)
	}
	var row *store.User
	if err := db.View(t.Context(), func(tx store.Tx) (err error) { row, err = tx.FindUser(t.Context(), u.ID); return err }); err != nil {
		t.Fatalf("store FindUser: %v", err)
	}
	if ok, err := VerifyPassword(row.PasswordHash, goodPassword); !ok || err != nil {
		t.Errorf("stored hash does not verify: %v, %v", ok, err)
	}

	_, err = s.FindUser(t.Context(), "u-nope")
	wantErr(t, err, querygate.ENOTFOUND, "")

	t.Run("duplicate", func(t *testing.T) {
		_, err := s.CreateUser(t.Context(), CreateUserInput{Username: "alice@example.com", Password: goodPassword, Role: RoleViewer})
		wantErr(t, err, querygate.ECONFLICT, "username")
		if got := countUsers(t, db); got != 1 {
			t.Errorf("CountUsers = %d, want 1", got)
		}
	})
}

func TestCreateUserValidation(t *testing.T) {
	s, db := MustService(t)
	tests := []struct {
		name      string
		in        CreateUserInput
		wantField string
	}{
		{"empty username", CreateUserInput{"", goodPassword, RoleViewer}, "username"},
		{"username too long", CreateUserInput{strings.Repeat("a", 65), goodPassword, RoleViewer}, "username"},
		{"username with space", CreateUserInput{"alice smith", goodPassword, RoleViewer}, "username"},
		{"username with slash", CreateUserInput{"alice/admin", goodPassword, RoleViewer}, "username"},
		{"username with colon", CreateUserInput{"alice:x", goodPassword, RoleViewer}, "username"},
		{"username with NUL", CreateUserInput{"alice\x00", goodPassword, RoleViewer}, "username"},
		{"username with newline", CreateUserInput{"alice\n", goodPassword, RoleViewer}, "username"},
		{"username not ASCII", CreateUserInput{"älice", goodPassword, RoleViewer}, "username"},
		{"password short", CreateUserInput{"alice", "123456789", RoleViewer}, "password"},
		{"password empty", CreateUserInput{"alice", "", RoleViewer}, "password"},
		{"password short in runes", CreateUserInput{"alice", "ééééééééé", RoleViewer}, "password"},
		{"password too long", CreateUserInput{"alice", strings.Repeat("x", 1025), RoleViewer}, "password"},
		{"password not UTF-8", CreateUserInput{"alice", strings.Repeat("\xff", 12), RoleViewer}, "password"},
		{"role empty", CreateUserInput{"alice", goodPassword, ""}, "role"},
		{"role unknown", CreateUserInput{"alice", goodPassword, "root"}, "role"},
		{"role wrong case", CreateUserInput{"alice", goodPassword, "Admin"}, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(t.Context(), tt.in)
			qe := wantErr(t, err, querygate.EINVALID, tt.wantField)
			if tt.in.Password != "" && strings.Contains(qe.Message, tt.in.Password) {
				t.Errorf("message %q echoes the password", qe.Message)
			}
			if got := countUsers(t, db); got != 0 {
				t.Errorf("CountUsers = %d, want 0", got)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	s, _ := MustService(t)
	alice := MustCreateUser(t, s, "alice", RoleViewer)

	u, err := s.Authenticate(t.Context(), "alice", goodPassword)
	if err != nil {
		t.Fatalf("Authenticate(right password): %v", err)
	}
	if u.ID != alice.ID {
		t.Errorf("Authenticate = %+v, want user %s", u, alice.ID)
	}

	tests := []struct {
		name, username, password string
	}{
		{"wrong password", "alice", goodPassword + "!"},
		{"empty password", "alice", ""},
		{"unknown user", "bob", goodPassword},
		{"unknown user, invalid name", "no such user!", goodPassword},
		{"username case differs", "Alice", goodPassword},
	}
	var first *querygate.Error
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.Authenticate(t.Context(), tt.username, tt.password)
			if u != nil {
				t.Errorf("Authenticate returned user %+v with an error", u)
			}
			qe := wantErr(t, err, querygate.EUNAUTHORIZED, "")
			if first == nil {
				first = qe
			}
			if qe.Code != first.Code || qe.Message != first.Message || qe.Field != first.Field {
				t.Errorf("error = %+v, want the same as for a wrong password: %+v", qe, first)
			}
		})
	}
}

func TestSessions(t *testing.T) {
	ctx := t.Context()
	s, _ := MustService(t)
	alice := MustCreateUser(t, s, "alice", RoleViewer)
	bob := MustCreateUser(t, s, "bob", RoleViewer)

	t.Run("new session", func(t *testing.T) {
		id, exp, err := s.NewSession(ctx, alice.ID, SessionMeta{})
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		if len(id) != 32 {
			t.Errorf("session id is %d bytes, want 32", len(id))
		}
		if got, want := exp.Sub(s.now()), s.SessionTTL(); got > want || got < want-time.Minute {
			t.Errorf("expiry in %v, want about %v", got, want)
		}
		u, err := s.SessionUser(ctx, id)
		if err != nil {
			t.Fatalf("SessionUser: %v", err)
		}
		if u.ID != alice.ID {
			t.Errorf("SessionUser = %s, want %s", u.ID, alice.ID)
		}
	})

	tests := []struct {
		name  string
		after func(t *testing.T, id []byte) // makes the session invalid
	}{
		{"unknown id", func(t *testing.T, id []byte) { id[0] ^= 0xff }},
		{"ended", func(t *testing.T, id []byte) {
			if err := s.EndSession(ctx, id); err != nil {
				t.Fatalf("EndSession: %v", err)
			}
		}},
		{"password changed", func(t *testing.T, id []byte) {
			pw := goodPassword + " v2"
			if _, err := s.UpdateUser(ctx, bob.ID, UpdateUserInput{Password: &pw}); err != nil {
				t.Fatalf("UpdateUser: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, _, err := s.NewSession(ctx, bob.ID, SessionMeta{})
			if err != nil {
				t.Fatalf("NewSession: %v", err)
			}
			tt.after(t, id)
			u, err := s.SessionUser(ctx, id)
			if u != nil {
				t.Errorf("SessionUser = %+v, want nil", u)
			}
			wantErr(t, err, querygate.EUNAUTHORIZED, "")
		})
	}

	t.Run("role and password changes end every session of that user only", func(t *testing.T) {
		bobSessions := func() [][]byte {
			var out [][]byte
			for range 3 {
				id, _, err := s.NewSession(ctx, bob.ID, SessionMeta{})
				if err != nil {
					t.Fatalf("NewSession: %v", err)
				}
				out = append(out, id)
			}
			return out
		}
		bobs := bobSessions()
		aliceID, _, err := s.NewSession(ctx, alice.ID, SessionMeta{})
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		role := RoleEditor
		if _, err := s.UpdateUser(ctx, bob.ID, UpdateUserInput{Role: &role}); err != nil {
			t.Fatalf("UpdateUser(role): %v", err)
		}
		for i, id := range bobs {
			if _, err := s.SessionUser(ctx, id); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
				t.Errorf("bob's session %d after a role change: err = %v, want EUNAUTHORIZED", i, err)
			}
		}
		// The same role again is no change.
		bobs = bobSessions()
		if _, err := s.UpdateUser(ctx, bob.ID, UpdateUserInput{Role: &role}); err != nil {
			t.Fatalf("UpdateUser(same role): %v", err)
		}
		if _, err := s.SessionUser(ctx, bobs[0]); err != nil {
			t.Errorf("after setting the same role: %v, want the session kept", err)
		}
		pw := goodPassword + " v3"
		if _, err := s.UpdateUser(ctx, bob.ID, UpdateUserInput{Password: &pw}); err != nil {
			t.Fatalf("UpdateUser(password): %v", err)
		}
		for i, id := range bobs {
			_, err := s.SessionUser(ctx, id)
			if querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
				t.Errorf("bob's session %d after password change: err = %v, want EUNAUTHORIZED", i, err)
			}
		}
		if _, err := s.SessionUser(ctx, aliceID); err != nil {
			t.Errorf("alice's session after bob's password change: %v, want kept", err)
		}
		if _, err := s.Authenticate(ctx, "bob", pw); err != nil {
			t.Errorf("Authenticate with the new password: %v", err)
		}
	})

	t.Run("deleted user", func(t *testing.T) {
		carol := MustCreateUser(t, s, "carol", RoleViewer)
		id, _, err := s.NewSession(ctx, carol.ID, SessionMeta{})
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		if err := s.DeleteUser(ctx, carol.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		_, err = s.SessionUser(ctx, id)
		wantErr(t, err, querygate.EUNAUTHORIZED, "")
	})
}

func TestSessionExpiry(t *testing.T) {
	ctx := t.Context()
	s, _ := MustService(t)
	alice := MustCreateUser(t, s, "alice", RoleViewer)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return start }
	id, exp, err := s.NewSession(ctx, alice.ID, SessionMeta{})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if want := start.Add(time.Hour); !exp.Equal(want) {
		t.Fatalf("expiry = %v, want %v", exp, want)
	}
	tests := []struct {
		at       time.Duration
		wantCode string
	}{
		{0, ""},
		{time.Hour - time.Millisecond, ""},
		{time.Hour, querygate.EUNAUTHORIZED},
		{2 * time.Hour, querygate.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			s.now = func() time.Time { return start.Add(tt.at) }
			_, err := s.SessionUser(ctx, id)
			if got := querygate.ErrorCode(err); got != tt.wantCode {
				t.Errorf("SessionUser at +%v: code %q (%v), want %q", tt.at, got, err, tt.wantCode)
			}
		})
	}
	t.Run("expired sessions are purged", func(t *testing.T) {
		s.now = func() time.Time { return start.Add(2 * time.Hour) }
		if _, _, err := s.NewSession(ctx, alice.ID, SessionMeta{}); err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		s.now = func() time.Time { return start }
		_, err := s.SessionUser(ctx, id)
		wantErr(t, err, querygate.EUNAUTHORIZED, "")
	})
}

// TestStoreHoldsOnlyHashes scans the raw database files: no session id,
// token value or password may appear in them, only their hashes.
func TestStoreHoldsOnlyHashes(t *testing.T) {
	ctx := t.Context()
	s, db := MustService(t)
	alice := MustCreateUser(t, s, "alice", RoleAdmin)
	sessionID, _, err := s.NewSession(ctx, alice.ID, SessionMeta{})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	token, _ := MustCreateToken(t, s, alice.ID)
	if _, err := s.TokenUser(ctx, token); err != nil {
		t.Fatalf("TokenUser: %v", err)
	}

	scan := func(t *testing.T) []byte {
		t.Helper()
		var all []byte
		for _, f := range db.Files() {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatalf("read %s: %v", f, err)
			}
			all = append(all, b...)
		}
		return all
	}
	tests := []struct {
		name    string
		present bool
		value   []byte
	}{
		{"session id hash", true, Hash(sessionID)},
		{"token hash", true, Hash([]byte(token))},
		{"session id", false, sessionID},
		{"token value", false, []byte(token)},
		{"token value without prefix", false, []byte(strings.TrimPrefix(token, TokenPrefix))},
		{"password", false, []byte(goodPassword)},
	}
	for _, when := range []string{"open", "closed"} {
		if when == "closed" {
			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		raw := scan(t)
		for _, tt := range tests {
			t.Run(when+"/"+tt.name, func(t *testing.T) {
				if got := bytes.Contains(raw, tt.value); got != tt.present {
					t.Errorf("store files contain the %s: %v, want %v", tt.name, got, tt.present)
				}
			})
		}
	}
}

func TestTokens(t *testing.T) {
	ctx := t.Context()
	s, _ := MustService(t)
	alice := MustCreateUser(t, s, "alice", RoleEditor)
	bob := MustCreateUser(t, s, "bob", RoleViewer)

	t.Run("create and use", func(t *testing.T) {
		v, tk, err := s.CreateToken(ctx, alice.ID, "  ci  ", 0)
		if err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		if !strings.HasPrefix(v, TokenPrefix) {
			t.Errorf("token %q does not start with %q", v, TokenPrefix)
		}
		if tk.Name != "ci" || tk.UserID != alice.ID || !tk.ExpiresAt.IsZero() {
			t.Errorf("token = %+v, want name ci, user %s, no expiry", tk, alice.ID)
		}
		u, err := s.TokenUser(ctx, v)
		if err != nil {
			t.Fatalf("TokenUser: %v", err)
		}
		if u.ID != alice.ID {
			t.Errorf("TokenUser = %s, want %s", u.ID, alice.ID)
		}
		list, err := s.ListTokens(ctx, alice.ID)
		if err != nil {
			t.Fatalf("ListTokens: %v", err)
		}
		if len(list) != 1 || list[0].ID != tk.ID || list[0].LastUsedAt.IsZero() {
			t.Errorf("ListTokens = %+v, want the token with a last use", list)
		}
		v2, _ := MustCreateToken(t, s, alice.ID)
		if v2 == v {
			t.Errorf("two tokens have the same value")
		}
	})

	t.Run("invalid", func(t *testing.T) {
		valid, _ := MustCreateToken(t, s, alice.ID)
		// The last character altered: always to another one.
		last := "A"
		if strings.HasSuffix(valid, last) {
			last = "B"
		}
		tests := []struct {
			name  string
			value string
		}{
			{"empty", ""},
			{"no prefix", strings.TrimPrefix(valid, TokenPrefix)},
			{"wrong prefix", "qgx_" + strings.TrimPrefix(valid, TokenPrefix)},
			{"altered", valid[:len(valid)-1] + last},
			{"too long", valid + strings.Repeat("A", 100)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, err := s.TokenUser(ctx, tt.value)
				if u != nil {
					t.Errorf("TokenUser = %+v, want nil", u)
				}
				wantErr(t, err, querygate.EUNAUTHORIZED, "")
			})
		}
	})

	t.Run("revoked", func(t *testing.T) {
		v, tk := MustCreateToken(t, s, alice.ID)
		if err := s.DeleteToken(ctx, alice, tk.ID); err != nil {
			t.Fatalf("DeleteToken: %v", err)
		}
		_, err := s.TokenUser(ctx, v)
		wantErr(t, err, querygate.EUNAUTHORIZED, "")
		wantErr(t, s.DeleteToken(ctx, alice, tk.ID), querygate.ENOTFOUND, "")
	})

	t.Run("another user's token cannot be deleted", func(t *testing.T) {
		dave := MustCreateUser(t, s, "dave", RoleViewer)
		MustCreateToken(t, s, dave.ID) // dave has tokens of his own
		v, tk := MustCreateToken(t, s, alice.ID)
		wantErr(t, s.DeleteToken(ctx, dave, tk.ID), querygate.ENOTFOUND, "")
		if _, err := s.TokenUser(ctx, v); err != nil {
			t.Errorf("TokenUser after a refused delete: %v, want the token to work", err)
		}
	})

	t.Run("an admin revokes another user's token", func(t *testing.T) {
		root := MustCreateUser(t, s, "root", RoleAdmin)
		v, tk := MustCreateToken(t, s, bob.ID)
		if err := s.DeleteToken(ctx, root, tk.ID); err != nil {
			t.Fatalf("DeleteToken by an admin: %v", err)
		}
		_, err := s.TokenUser(ctx, v)
		wantErr(t, err, querygate.EUNAUTHORIZED, "")
		wantErr(t, s.DeleteToken(ctx, root, "tk-no-such-token"), querygate.ENOTFOUND, "")
	})

	t.Run("a password change revokes the user's tokens only", func(t *testing.T) {
		erin := MustCreateUser(t, s, "erin", RoleEditor)
		v1, _ := MustCreateToken(t, s, erin.ID)
		v2, _ := MustCreateToken(t, s, erin.ID)
		other, _ := MustCreateToken(t, s, alice.ID)
		role := RoleViewer
		if _, err := s.UpdateUser(ctx, erin.ID, UpdateUserInput{Role: &role}); err != nil {
			t.Fatalf("UpdateUser(role): %v", err)
		}
		if _, err := s.TokenUser(ctx, v1); err != nil {
			t.Errorf("after a role change: TokenUser: %v, want the token kept", err)
		}
		pw := goodPassword + " new"
		if _, err := s.UpdateUser(ctx, erin.ID, UpdateUserInput{Password: &pw}); err != nil {
			t.Fatalf("UpdateUser(password): %v", err)
		}
		for _, v := range []string{v1, v2} {
			_, err := s.TokenUser(ctx, v)
			wantErr(t, err, querygate.EUNAUTHORIZED, "")
		}
		if list, err := s.ListTokens(ctx, erin.ID); err != nil || len(list) != 0 {
			t.Errorf("ListTokens after a password change = %+v, %v; want none", list, err)
		}
		if _, err := s.TokenUser(ctx, other); err != nil {
			t.Errorf("another user's token after erin's password change: %v, want kept", err)
		}
	})

	t.Run("deleted user", func(t *testing.T) {
		carol := MustCreateUser(t, s, "carol", RoleViewer)
		v, _ := MustCreateToken(t, s, carol.ID)
		if err := s.DeleteUser(ctx, carol.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		_, err := s.TokenUser(ctx, v)
		wantErr(t, err, querygate.EUNAUTHORIZED, "")
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name      string
			tokenName string
			ttl       time.Duration
			wantField string
		}{
			{"empty name", "", 0, "name"},
			{"blank name", "   ", 0, "name"},
			{"long name", strings.Repeat("n", 101), 0, "name"},
			{"control character", "ci\x00", 0, "name"},
			{"negative ttl", "ci", -time.Second, "expires_in_days"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				v, tk, err := s.CreateToken(ctx, bob.ID, tt.tokenName, tt.ttl)
				if v != "" || tk != nil {
					t.Errorf("CreateToken = %q, %+v; want nothing", v, tk)
				}
				wantErr(t, err, querygate.EINVALID, tt.wantField)
			})
		}
		if list, err := s.ListTokens(ctx, bob.ID); err != nil || len(list) != 0 {
			t.Errorf("bob's tokens = %+v, %v; want none", list, err)
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	ctx := t.Context()
	s, _ := MustService(t)
	alice := MustCreateUser(t, s, "alice", RoleViewer)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return start }
	v, tk, err := s.CreateToken(ctx, alice.ID, "ci", 24*time.Hour)
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if want := start.Add(24 * time.Hour); !tk.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", tk.ExpiresAt, want)
	}
	tests := []struct {
		at       time.Duration
		wantCode string
	}{
		{time.Hour, ""},
		{24*time.Hour - time.Millisecond, ""},
		{24 * time.Hour, querygate.EUNAUTHORIZED},
		{48 * time.Hour, querygate.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			s.now = func() time.Time { return start.Add(tt.at) }
			_, err := s.TokenUser(ctx, v)
			if got := querygate.ErrorCode(err); got != tt.wantCode {
				t.Errorf("TokenUser at +%v: code %q (%v), want %q", tt.at, got, err, tt.wantCode)
			}
		})
	}
}

func TestSetup(t *testing.T) {
	ctx := t.Context()
	s, db := MustService(t)
	admin := CreateUserInput{Username: "admin", Password: goodPassword}

	_, err := s.Setup(ctx, "anything", admin)
	wantErr(t, err, querygate.ESETUP, "")

	first, ok, err := s.PrepareSetup(ctx)
	if err != nil || !ok || first == "" {
		t.Fatalf("PrepareSetup = %q, %v, %v; want a token", first, ok, err)
	}
	token, ok, err := s.PrepareSetup(ctx)
	if err != nil || !ok || token == "" || token == first {
		t.Fatalf("PrepareSetup again = %q, %v, %v; want a fresh token", token, ok, err)
	}

	tests := []struct {
		name  string
		token string
		in    CreateUserInput
	}{
		{"empty token", "", admin},
		{"wrong token", token + "x", admin},
		{"replaced token", first, admin},
		{"token prefix", token[:len(token)-1], admin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.Setup(ctx, tt.token, tt.in)
			if u != nil {
				t.Errorf("Setup = %+v, want nil", u)
			}
			wantErr(t, err, querygate.ESETUP, "")
			if n := countUsers(t, db); n != 0 {
				t.Errorf("CountUsers = %d, want 0", n)
			}
		})
	}
	t.Run("bad input with the right token", func(t *testing.T) {
		_, err := s.Setup(ctx, token, CreateUserInput{Username: "admin", Password: "short"})
		wantErr(t, err, querygate.EINVALID, "password")
	})

	t.Run("right token", func(t *testing.T) {
		u, err := s.Setup(ctx, token, CreateUserInput{Username: "admin", Password: goodPassword, Role: RoleViewer})
		if err != nil {
			t.Fatalf("Setup: %v", err)
		}
		if u.Role != RoleAdmin || u.Username != "admin" {
			t.Errorf("Setup = %+v, want an admin called admin", u)
		}
		if _, err := s.Authenticate(ctx, "admin", goodPassword); err != nil {
			t.Errorf("Authenticate: %v", err)
		}
	})
	t.Run("same token again", func(t *testing.T) {
		_, err := s.Setup(ctx, token, CreateUserInput{Username: "admin2", Password: goodPassword})
		wantErr(t, err, querygate.ESETUP, "")
		if n := countUsers(t, db); n != 1 {
			t.Errorf("CountUsers = %d, want 1", n)
		}
	})
	t.Run("stale setup token with a user present", func(t *testing.T) {
		stale := "stale-setup-token"
		if err := db.Update(ctx, func(tx store.Tx) error {
			return tx.SetInstance(ctx, store.InstanceSetupToken, Hash([]byte(stale)))
		}); err != nil {
			t.Fatalf("SetInstance: %v", err)
		}
		_, err := s.Setup(ctx, stale, CreateUserInput{Username: "admin3", Password: goodPassword})
		wantErr(t, err, querygate.ESETUP, "")
		if n := countUsers(t, db); n != 1 {
			t.Errorf("CountUsers = %d, want 1", n)
		}
	})
	t.Run("prepare after setup", func(t *testing.T) {
		tok, ok, err := s.PrepareSetup(ctx)
		if err != nil || ok || tok != "" {
			t.Errorf("PrepareSetup with a user = %q, %v, %v; want \"\", false, nil", tok, ok, err)
		}
	})
}

func TestCreateUserEndsSetup(t *testing.T) {
	ctx := t.Context()
	s, _ := MustService(t)
	token, ok, err := s.PrepareSetup(ctx)
	if err != nil || !ok {
		t.Fatalf("PrepareSetup = %v, %v", ok, err)
	}
	MustCreateUser(t, s, "alice", RoleAdmin)
	_, err = s.Setup(ctx, token, CreateUserInput{Username: "mallory", Password: goodPassword})
	wantErr(t, err, querygate.ESETUP, "")
	if tok, ok, err := s.PrepareSetup(ctx); err != nil || ok || tok != "" {
		t.Errorf("PrepareSetup with a user = %q, %v, %v; want \"\", false, nil", tok, ok, err)
	}
}

func TestLastAdmin(t *testing.T) {
	ctx := t.Context()
	viewer, editor, admin := RoleViewer, RoleEditor, RoleAdmin
	tests := []struct {
		name string
		op   func(s *Service, id string) error
	}{
		{"demote to viewer", func(s *Service, id string) error {
			_, err := s.UpdateUser(ctx, id, UpdateUserInput{Role: &viewer})
			return err
		}},
		{"demote to editor", func(s *Service, id string) error {
			_, err := s.UpdateUser(ctx, id, UpdateUserInput{Role: &editor})
			return err
		}},
		{"delete", func(s *Service, id string) error { return s.DeleteUser(ctx, id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := MustService(t)
			a := MustCreateUser(t, s, "root", RoleAdmin)
			MustCreateUser(t, s, "ed", RoleEditor)
			wantErr(t, tt.op(s, a.ID), querygate.ECONFLICT, "")
			if got, err := s.FindUser(ctx, a.ID); err != nil || got.Role != RoleAdmin {
				t.Fatalf("after refusal: FindUser = %+v, %v; want the admin unchanged", got, err)
			}

			b := MustCreateUser(t, s, "root2", RoleAdmin)
			if err := tt.op(s, a.ID); err != nil {
				t.Fatalf("with a second admin: %v", err)
			}
			wantErr(t, tt.op(s, b.ID), querygate.ECONFLICT, "")
			if _, err := s.UpdateUser(ctx, b.ID, UpdateUserInput{Role: &admin}); err != nil {
				t.Errorf("keeping the last admin an admin: %v", err)
			}
		})
	}
}

func TestUpdateUser(t *testing.T) {
	ctx := t.Context()
	s, _ := MustService(t)
	u := MustCreateUser(t, s, "alice", RoleViewer)
	bad, short := "root", "short"
	tests := []struct {
		name      string
		id        string
		in        UpdateUserInput
		wantCode  string
		wantField string
	}{
		{"unknown user", "u-nope", UpdateUserInput{}, querygate.ENOTFOUND, ""},
		{"bad role", u.ID, UpdateUserInput{Role: &bad}, querygate.EINVALID, "role"},
		{"short password", u.ID, UpdateUserInput{Password: &short}, querygate.EINVALID, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateUser(ctx, tt.id, tt.in)
			wantErr(t, err, tt.wantCode, tt.wantField)
			got, err := s.FindUser(ctx, u.ID)
			if err != nil || got.Role != RoleViewer || !got.UpdatedAt.Equal(u.UpdatedAt.Truncate(time.Millisecond)) {
				t.Errorf("after refusal: FindUser = %+v, %v; want unchanged %+v", got, err, u)
			}
			if _, err := s.Authenticate(ctx, "alice", goodPassword); err != nil {
				t.Errorf("after refusal: Authenticate: %v", err)
			}
		})
	}
	wantErr(t, s.DeleteUser(ctx, "u-nope"), querygate.ENOTFOUND, "")
}

func TestListUsers(t *testing.T) {
	s, _ := MustService(t)
	for _, name := range []string{"carol", "alice", "bob"} {
		MustCreateUser(t, s, name, RoleViewer)
	}
	list, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var got []string
	for _, u := range list {
		got = append(got, u.Username)
	}
	if want := "alice bob carol"; strings.Join(got, " ") != want {
		t.Errorf("ListUsers = %q, want %q", got, want)
	}
}

// fillHashSlots takes every hashing slot of s until the test ends.
func fillHashSlots(tb testing.TB, s *Service) {
	tb.Helper()
	for range cap(s.hashSlots) {
		s.hashSlots <- struct{}{}
	}
	tb.Cleanup(func() {
		for range cap(s.hashSlots) {
			<-s.hashSlots
		}
	})
}

// TestHashSlots checks that password hashing is bounded: when every slot
// stays taken, a login, a user creation and a password change are refused
// as unavailable after the wait, without hashing.
func TestHashSlots(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "querygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := NewService(Options{Store: db, HashParams: fastHash, MaxConcurrentHashes: 2, HashWait: 50 * time.Millisecond})
	if got := cap(s.hashSlots); got != 2 {
		t.Fatalf("hash slots = %d, want 2", got)
	}
	if d := NewService(Options{Store: db, HashParams: fastHash}); cap(d.hashSlots) < 2 {
		t.Errorf("default hash slots = %d, want at least 2", cap(d.hashSlots))
	}
	alice := MustCreateUser(t, s, "alice", RoleAdmin)

	fillHashSlots(t, s)
	pw := goodPassword + " new"
	tests := []struct {
		name string
		op   func() error
	}{
		{"login", func() error { _, err := s.Authenticate(ctx, "alice", goodPassword); return err }},
		{"login of an unknown user", func() error { _, err := s.Authenticate(ctx, "nobody", goodPassword); return err }},
		{"create user", func() error {
			_, err := s.CreateUser(ctx, CreateUserInput{Username: "bob", Password: goodPassword, Role: RoleViewer})
			return err
		}},
		{"password change", func() error { _, err := s.UpdateUser(ctx, alice.ID, UpdateUserInput{Password: &pw}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.op()
			if e := wantErr(t, err, querygate.EUNAVAILABLE, ""); !strings.Contains(e.Message, "Too many logins") {
				t.Errorf("message %q", e.Message)
			}
			if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
				t.Errorf("refused after %v, want after the 50ms wait", d)
			}
		})
	}
	if n := countUsers(t, db); n != 1 {
		t.Errorf("CountUsers = %d, want 1 (nothing created)", n)
	}

	t.Run("a freed slot is used", func(t *testing.T) {
		go func() { time.Sleep(10 * time.Millisecond); <-s.hashSlots }()
		defer func() { s.hashSlots <- struct{}{} }()
		if _, err := s.Authenticate(ctx, "alice", goodPassword); err != nil {
			t.Fatalf("Authenticate with a slot freed during the wait: %v", err)
		}
	})
}

// TestSetupChecksTokenBeforeHashing checks that a setup with a wrong token,
// or after the first user exists, is refused without waiting for a hashing
// slot: guesses cost the gateway no argon2id work.
func TestSetupChecksTokenBeforeHashing(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "querygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := NewService(Options{Store: db, HashParams: fastHash, MaxConcurrentHashes: 1, HashWait: time.Second})
	token, _, err := s.PrepareSetup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fillHashSlots(t, s)
	start := time.Now()
	_, err = s.Setup(ctx, token+"x", CreateUserInput{Username: "admin", Password: goodPassword})
	wantErr(t, err, querygate.ESETUP, "")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a wrong setup token was refused after %v: it waited for a hashing slot", d)
	}
	// With the right token, the hash is next: it waits, then is refused.
	_, err = s.Setup(ctx, token, CreateUserInput{Username: "admin", Password: goodPassword})
	wantErr(t, err, querygate.EUNAVAILABLE, "")
	if n := countUsers(t, db); n != 0 {
		t.Errorf("CountUsers = %d, want 0", n)
	}
}

// TestSessionIdle: a session unused for the idle timeout ends, each use
// pushes the end back, and the absolute lifetime holds whatever the use.
func TestSessionIdle(t *testing.T) {
	ctx := t.Context()
	_, db := MustService(t)
	s := NewService(Options{Store: db, HashParams: fastHash, SessionTTL: 4 * time.Hour, SessionIdle: 30 * time.Minute})
	alice := MustCreateUser(t, s, "alice", RoleViewer)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) { s.now = func() time.Time { return start.Add(d) } }
	at(0)
	id, _, err := s.NewSession(ctx, alice.ID, SessionMeta{Remote: "192.0.2.1", UserAgent: strings.Repeat("x", 500)})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at   time.Duration
		live bool
	}{{20 * time.Minute, true}, {45 * time.Minute, true}, {74 * time.Minute, true}, {3*time.Hour + 50*time.Minute, false}} {
		at(step.at)
		_, err := s.SessionUser(ctx, id)
		if (err == nil) != step.live {
			t.Fatalf("at +%v: err %v, want live %v", step.at, err, step.live)
		}
	}
	// Used every 25 minutes, it still ends at the absolute lifetime.
	at(0)
	id2, _, _ := s.NewSession(ctx, alice.ID, SessionMeta{})
	for d := 25 * time.Minute; d < 4*time.Hour; d += 25 * time.Minute {
		at(d)
		if _, err := s.SessionUser(ctx, id2); err != nil {
			t.Fatalf("at +%v: %v", d, err)
		}
	}
	at(4 * time.Hour)
	if _, err := s.SessionUser(ctx, id2); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
		t.Fatalf("past the absolute lifetime: %v", err)
	}

	// Listing: live ones only, the current one marked, never an id.
	at(0)
	a, _, _ := s.NewSession(ctx, alice.ID, SessionMeta{Remote: "192.0.2.9", UserAgent: strings.Repeat("é", 300)})
	b, _, _ := s.NewSession(ctx, alice.ID, SessionMeta{})
	list, err := s.ListSessions(ctx, alice.ID, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("listed %d sessions, want 4 (two from the steps above are at +0 too)", len(list))
	}
	current := 0
	for _, x := range list {
		if x.Current {
			current++
			if x.Remote != "192.0.2.9" || len(x.UserAgent) > maxUserAgent || !utf8.ValidString(x.UserAgent) {
				t.Errorf("current session: %+v", x)
			}
		}
		if strings.Contains(x.ID, string(a)) || x.ID == "" {
			t.Errorf("a listed session id: %q", x.ID)
		}
	}
	if current != 1 {
		t.Fatalf("%d sessions marked current", current)
	}
	// Revoking: the owner's own, yes; someone else's, not found.
	bob := MustCreateUser(t, s, "bob", RoleViewer)
	if _, err := s.RevokeSession(ctx, bob, list[0].ID); querygate.ErrorCode(err) != querygate.ENOTFOUND {
		t.Fatalf("revoke another's session: %v", err)
	}
	for _, x := range list {
		if x.Current {
			if owner, err := s.RevokeSession(ctx, alice, x.ID); err != nil || owner != alice.ID {
				t.Fatalf("revoke own: %v %q", err, owner)
			}
		}
	}
	if _, err := s.SessionUser(ctx, a); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
		t.Fatalf("a revoked session still works: %v", err)
	}
	if _, err := s.SessionUser(ctx, b); err != nil {
		t.Fatalf("another session ended with the revoked one: %v", err)
	}
	if err := s.EndUserSessions(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionUser(ctx, b); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
		t.Fatalf("after log out everywhere: %v", err)
	}
}

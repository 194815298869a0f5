package accounts

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/store/storetest"
)

// replicas returns two accounts services on one SQLite file, each through
// its own store handle, as two gateways on one store are.
func replicas(t *testing.T, o Options) (a, b *Service, bStore *storetest.Counting) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "querygate.db")
	open := func() store.Store {
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	o.HashParams = fastHash
	o.Store = open()
	a = NewService(o)
	bStore = &storetest.Counting{Store: open()}
	o.Store = bStore
	b = NewService(o)
	return a, b, bStore
}

// afterChange waits past the freshness of a shared change-sequence
// reading (1 ms).
func afterChange() { time.Sleep(3 * time.Millisecond) }

// TestSessionKeptInMemory: a session's second use reads nothing from the
// store, and every change made through another replica holds at the next
// use: logout, log out everywhere, a role change, a deleted user.
func TestSessionKeptInMemory(t *testing.T) {
	ctx := t.Context()
	a, b, bs := replicas(t, Options{SessionTTL: time.Hour})
	alice := MustCreateUser(t, a, "alice", RoleAdmin)
	bob := MustCreateUser(t, a, "bob", RoleViewer)
	id, _, err := a.NewSession(ctx, alice.ID, SessionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SessionUser(ctx, id); err != nil {
		t.Fatalf("SessionUser on b: %v", err)
	}
	before := bs.Views.Load()
	for range 5 {
		if u, err := b.SessionUser(ctx, id); err != nil || u.Role != RoleAdmin {
			t.Fatalf("SessionUser on b: %v %v", u, err)
		}
	}
	if n := bs.Views.Load() - before; n != 0 {
		t.Errorf("5 uses of a known session read the store %d times, want 0", n)
	}

	if err := a.EndSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	afterChange()
	if _, err := b.SessionUser(ctx, id); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
		t.Errorf("ended on a, used on b: %v, want unauthorized", err)
	}

	// A lowered role: b's next use sees the new role.
	tok, _ := MustCreateToken(t, a, alice.ID)
	if u, err := b.TokenUser(ctx, tok); err != nil || u.Role != RoleAdmin {
		t.Fatalf("TokenUser on b: %v %v", u, err)
	}
	MustCreateUser(t, a, "carol", RoleAdmin) // so that alice may stop being one
	viewer := RoleViewer
	if _, err := a.UpdateUser(ctx, alice.ID, UpdateUserInput{Role: &viewer}); err != nil {
		t.Fatal(err)
	}
	afterChange()
	if u, err := b.TokenUser(ctx, tok); err != nil || u.Role != RoleViewer {
		t.Errorf("role lowered on a, token on b: %v %v, want role viewer", u, err)
	}

	// Deleted token, deleted user.
	_, tk := MustCreateToken(t, a, bob.ID)
	bobTok, _ := MustCreateToken(t, a, bob.ID)
	bobSession, _, _ := a.NewSession(ctx, bob.ID, SessionMeta{})
	if _, err := b.TokenUser(ctx, bobTok); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SessionUser(ctx, bobSession); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteToken(ctx, &User{ID: bob.ID, Role: RoleViewer}, tk.ID); err != nil {
		t.Fatal(err)
	}
	afterChange()
	if _, err := b.TokenUser(ctx, bobTok); err != nil {
		t.Errorf("another token of bob stopped working: %v", err)
	}
	if err := a.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	afterChange()
	if _, err := b.TokenUser(ctx, bobTok); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
		t.Errorf("user deleted on a, token on b: %v, want unauthorized", err)
	}
	if _, err := b.SessionUser(ctx, bobSession); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
		t.Errorf("user deleted on a, session on b: %v, want unauthorized", err)
	}
}

// TestSessionIdleAcrossReplicas: a session kept in memory still ends at
// its idle and absolute timeouts, and a use recorded by another replica
// keeps it alive on this one.
func TestSessionIdleAcrossReplicas(t *testing.T) {
	ctx := t.Context()
	a, b, _ := replicas(t, Options{SessionTTL: 2 * time.Hour, SessionIdle: 30 * time.Minute})
	alice := MustCreateUser(t, a, "alice", RoleViewer)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s *Service, d time.Duration) { s.now = func() time.Time { return start.Add(d) } }
	at(a, 0)
	id, _, err := a.NewSession(ctx, alice.ID, SessionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		s    *Service
		name string
		at   time.Duration
		live bool
	}{
		{a, "a", 0, true},
		{b, "b", 20 * time.Minute, true}, // b records the use
		{a, "a", 40 * time.Minute, true}, // a's copy says idle since 0; the store says 20
		{b, "b", 65 * time.Minute, true}, // b's copy says 20; the store says 40
		{a, "a", 96 * time.Minute, false},
		{b, "b", 96 * time.Minute, false},
	} {
		at(step.s, step.at)
		_, err := step.s.SessionUser(ctx, id)
		if (err == nil) != step.live {
			t.Fatalf("on %s at +%v: err %v, want live %v", step.name, step.at, err, step.live)
		}
	}
	// Used every 20 minutes on alternate replicas, it still ends at the
	// absolute lifetime.
	at(a, 0)
	id2, _, _ := a.NewSession(ctx, alice.ID, SessionMeta{})
	for i, d := 0, 20*time.Minute; d < 2*time.Hour; i, d = i+1, d+20*time.Minute {
		s := []*Service{a, b}[i%2]
		at(s, d)
		if _, err := s.SessionUser(ctx, id2); err != nil {
			t.Fatalf("at +%v: %v", d, err)
		}
	}
	for _, s := range []*Service{a, b} {
		at(s, 2*time.Hour)
		if _, err := s.SessionUser(ctx, id2); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
			t.Fatalf("past the absolute lifetime: %v", err)
		}
	}
}

// TestTokenExpiryKeptInMemory: a token kept in memory still ends at its
// expiry.
func TestTokenExpiryKeptInMemory(t *testing.T) {
	ctx := t.Context()
	s, _ := MustService(t)
	alice := MustCreateUser(t, s, "alice", RoleViewer)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return start }
	v, _, err := s.CreateToken(ctx, alice.ID, "ci", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenUser(ctx, v); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return start.Add(time.Hour) }
	if _, err := s.TokenUser(ctx, v); querygate.ErrorCode(err) != querygate.EUNAUTHORIZED {
		t.Fatalf("expired token kept in memory: %v, want unauthorized", err)
	}
}

package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/store"
)

// MustChangeSeq returns the store's change sequence, failing the test on
// error.
func MustChangeSeq(tb testing.TB, db store.Store) int64 {
	tb.Helper()
	seq, err := db.ChangeSeq(tb.Context())
	if err != nil {
		tb.Fatalf("ChangeSeq: %v", err)
	}
	return seq
}

// testChanges checks that every change to what gateways keep copies of
// raises the change sequence at once (as this store sees it), and that
// last-use touches, audit appends, reads and rolled-back writes do not.
func testChanges(t *testing.T, open Opener) {
	db := open(t)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := aliceAndBob(ctx, tx); err != nil {
			return err
		}
		if err := tx.CreateDatasource(ctx, NewDatasource("ds1", "one")); err != nil {
			return err
		}
		if err := tx.CreateGroup(ctx, &store.Group{ID: "g1", Name: "analysts", CreatedAt: T0}); err != nil {
			return err
		}
		for _, id := range []string{"s1", "s2"} {
			if err := tx.CreateSession(ctx, &store.Session{IDHash: []byte(id), PublicID: "se" + id, UserID: "u1", CreatedAt: T0, ExpiresAt: T0.Add(time.Hour)}); err != nil {
				return err
			}
		}
		if err := tx.CreateToken(ctx, &store.Token{ID: "tk1", UserID: "u1", Name: "ci", Hash: []byte("h1"), CreatedAt: T0}); err != nil {
			return err
		}
		return tx.CreateDeviceCredential(ctx, &store.DeviceCredential{ID: "dv1", UserID: "u1", DatasourceID: "ds1", Sealed: []byte{1},
			CreatedAt: T0, ExpiresAt: T0.Add(time.Hour)})
	})
	changes := []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
	}{
		{"update user", func(ctx context.Context, tx store.Tx) error {
			u := NewUser("u2", "bob")
			u.Role = "editor"
			return tx.UpdateUser(ctx, u)
		}},
		{"delete session", func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, []byte("s2")) }},
		{"delete user sessions", func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserSessions(ctx, "u1") }},
		{"delete token", func(ctx context.Context, tx store.Tx) error { return tx.DeleteToken(ctx, "tk1") }},
		{"delete user tokens", func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserTokens(ctx, "u1") }},
		{"update datasource", func(ctx context.Context, tx store.Tx) error {
			d := NewDatasource("ds1", "renamed")
			return tx.UpdateDatasource(ctx, d)
		}},
		{"set datasource secrets", func(ctx context.Context, tx store.Tx) error { return tx.SetDatasourceSecrets(ctx, "ds1", []byte{9}) }},
		{"set group members", func(ctx context.Context, tx store.Tx) error { return tx.SetGroupMembers(ctx, "g1", []string{"u2"}) }},
		{"set grants", func(ctx context.Context, tx store.Tx) error {
			return tx.SetGrants(ctx, "ds1", []store.Grant{{SubjectType: "group", SubjectID: "g1", Level: "use"}})
		}},
		{"delete device credential", func(ctx context.Context, tx store.Tx) error { return tx.DeleteDeviceCredential(ctx, "dv1") }},
		{"delete group", func(ctx context.Context, tx store.Tx) error { return tx.DeleteGroup(ctx, "g1") }},
		{"delete datasource", func(ctx context.Context, tx store.Tx) error { return tx.DeleteDatasource(ctx, "ds1") }},
		{"delete user", func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, "u2") }},
	}
	for _, c := range changes {
		before := MustChangeSeq(t, db)
		MustUpdate(t, db, c.fn)
		if after := MustChangeSeq(t, db); after <= before {
			t.Errorf("%s: change sequence %d after, %d before: want it raised", c.name, after, before)
		}
	}

	// New sessions and tokens are in no copy, and expired sessions are
	// refused from copies by their own times: none of these need to raise
	// the sequence (so a login does not empty every replica's copies).
	unchanged := []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
	}{
		{"create session", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateSession(ctx, &store.Session{IDHash: []byte("s3"), PublicID: "se3", UserID: "u1", CreatedAt: T0, ExpiresAt: T0.Add(time.Hour)})
		}},
		{"create token", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateToken(ctx, &store.Token{ID: "tk3", UserID: "u1", Name: "ci", Hash: []byte("h3"), CreatedAt: T0})
		}},
		{"delete expired sessions", func(ctx context.Context, tx store.Tx) error { return tx.DeleteExpiredSessions(ctx, T0) }},
		{"touch session", func(ctx context.Context, tx store.Tx) error {
			return tx.TouchSession(ctx, []byte("s3"), T0.Add(time.Minute))
		}},
		{"touch token", func(ctx context.Context, tx store.Tx) error { return tx.TouchToken(ctx, "tk3", T0.Add(time.Minute)) }},
		{"append audit event", func(ctx context.Context, tx store.Tx) error {
			return tx.AppendAuditEvent(ctx, &store.AuditEvent{Seq: 1, At: T0, Action: "query", Outcome: "ok", Details: "{}", Hash: []byte{1}})
		}},
		{"read only", func(ctx context.Context, tx store.Tx) error { _, err := tx.FindSession(ctx, []byte("s3")); return err }},
	}
	for _, c := range unchanged {
		before := MustChangeSeq(t, db)
		MustUpdate(t, db, c.fn)
		time.Sleep(2 * time.Millisecond) // past any shared reading
		if after := MustChangeSeq(t, db); after != before {
			t.Errorf("%s: change sequence %d after, %d before: want it unchanged", c.name, after, before)
		}
	}

	before := MustChangeSeq(t, db)
	errRollback := errors.New("roll back")
	err := db.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.DeleteUser(t.Context(), "u1"); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update: %v", err)
	}
	time.Sleep(2 * time.Millisecond)
	if after := MustChangeSeq(t, db); after != before {
		t.Errorf("rolled back: change sequence %d after, %d before: want it unchanged", after, before)
	}
}

// SharedChanges checks that two stores on one database (two replicas)
// see each other's changes: a change made through a is seen through b by
// every call made a short while (the freshness of a shared reading) after
// it commits.
func SharedChanges(t *testing.T, a, b store.Store) {
	MustUpdate(t, a, func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, NewUser("r1", "replica-user")) })
	for i := range 20 {
		seen := MustChangeSeq(t, b)
		MustUpdate(t, a, func(ctx context.Context, tx store.Tx) error {
			u := NewUser("r1", "replica-user")
			u.Role = []string{"viewer", "editor"}[i%2]
			return tx.UpdateUser(ctx, u)
		})
		time.Sleep(2 * time.Millisecond)
		if now := MustChangeSeq(t, b); now == seen {
			t.Fatalf("change %d through one store: the other still reads change sequence %d", i, now)
		}
	}
}

package datasource_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/store/storetest"
)

// afterChange waits past the freshness of a shared change-sequence
// reading (1 ms).
func afterChange() { time.Sleep(3 * time.Millisecond) }

// TestCatalogueKeptInMemory: a second replica on the same store finds a
// datasource and a user's grant levels without reading the store again,
// and sees every change made through the first at its next call: grants
// revoked, a group member removed, a datasource renamed or deleted.
func TestCatalogueKeptInMemory(t *testing.T) {
	ctx := t.Context()
	e := MustService(t)
	db2, err := sqlite.Open(ctx, filepath.Join(e.dir, "querygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	cs := &storetest.Counting{Store: db2}
	b := datasource.NewService(datasource.ServiceOptions{Kinds: allKinds, Store: cs})

	settings, secrets := valid(datasource.KindPostgres)
	d := e.MustCreate(t, datasource.CreateInput{Name: "a", Kind: datasource.KindPostgres, Settings: raw(t, settings), Secrets: raw(t, secrets)})
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := e.db.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
		afterChange()
	}
	update(func(tx store.Tx) error {
		if err := tx.CreateUser(ctx, &store.User{ID: "u1", Username: "vi", PasswordHash: "x", Role: "viewer"}); err != nil {
			return err
		}
		return tx.CreateGroup(ctx, &store.Group{ID: "g1", Name: "analysts"})
	})
	if err := e.svc.SetGrants(ctx, d.ID, []datasource.Grant{{Type: "user", ID: "u1", Level: "use"}}); err != nil {
		t.Fatal(err)
	}
	afterChange()
	level := func() string {
		t.Helper()
		levels, err := b.Levels(ctx, "u1", d.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := levels[d.ID]
		levels[d.ID] = "manage" // a caller's change of the answer is its own
		return got
	}
	if got := level(); got != "use" {
		t.Fatalf("level = %q, want use", got)
	}
	if _, err := b.Find(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	before := cs.Views.Load()
	for range 5 {
		if got := level(); got != "use" {
			t.Fatalf("level = %q, want use", got)
		}
		if f, err := b.Find(ctx, d.ID); err != nil || f.Name != "a" {
			t.Fatalf("Find: %v %v", f, err)
		}
	}
	if n := cs.Views.Load() - before; n != 0 {
		t.Errorf("5 finds and level checks read the store %d times, want 0", n)
	}

	if err := e.svc.SetGrants(ctx, d.ID, []datasource.Grant{{Type: "group", ID: "g1", Level: "use"}}); err != nil {
		t.Fatal(err)
	}
	afterChange()
	if got := level(); got != "" {
		t.Errorf("user grant revoked on the other replica: level %q, want none", got)
	}
	update(func(tx store.Tx) error { return tx.SetGroupMembers(ctx, "g1", []string{"u1"}) })
	if got := level(); got != "use" {
		t.Errorf("added to a granted group: level %q, want use", got)
	}
	update(func(tx store.Tx) error { return tx.SetGroupMembers(ctx, "g1", nil) })
	if got := level(); got != "" {
		t.Errorf("removed from the group on the other replica: level %q, want none", got)
	}

	name := "renamed"
	if _, err := e.svc.Update(ctx, d.ID, datasource.UpdateInput{Name: &name}); err != nil {
		t.Fatal(err)
	}
	afterChange()
	if f, err := b.Find(ctx, d.ID); err != nil || f.Name != name {
		t.Errorf("renamed on the other replica: %v %v", f, err)
	}
	if err := e.svc.Delete(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	afterChange()
	if _, err := b.Find(ctx, d.ID); querygate.ErrorCode(err) != querygate.ENOTFOUND {
		t.Errorf("deleted on the other replica: %v, want not found", err)
	}
}

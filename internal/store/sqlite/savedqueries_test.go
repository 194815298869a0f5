package sqlite_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

func TestSavedQueries(t *testing.T) {
	db := MustOpen(t, "")
	ctx := t.Context()
	update := func(fn func(tx store.Tx) error) error { return db.Update(ctx, fn) }
	if err := update(func(tx store.Tx) error {
		if err := tx.CreateDatasource(ctx, newDatasource("ds1", "one")); err != nil {
			return err
		}
		return tx.CreateDatasource(ctx, newDatasource("ds2", "two"))
	}); err != nil {
		t.Fatal(err)
	}
	q := &store.SavedQuery{ID: "sq1", DatasourceID: "ds1", Name: "orders", Description: "by customer", OwnerID: "u1",
		CurrentVersion: 1, CreatedAt: t0, UpdatedAt: t0}
	v1 := &store.SavedQueryVersion{Body: []byte(`{"query":"SELECT 1"}`), Parameters: []byte(`[]`), CreatedBy: "u1", CreatedAt: t0}
	if err := update(func(tx store.Tx) error { return tx.CreateSavedQuery(ctx, q, v1) }); err != nil {
		t.Fatal(err)
	}
	// The same name on the same datasource conflicts; on another it does not.
	dup := *q
	dup.ID = "sq2"
	err := update(func(tx store.Tx) error {
		return tx.CreateSavedQuery(ctx, &dup, &store.SavedQueryVersion{Body: []byte(`{}`), Parameters: []byte(`[]`)})
	})
	if got := querygate.ErrorCode(err); got != querygate.ECONFLICT {
		t.Fatalf("duplicate name: got %v, want ECONFLICT", err)
	}
	dup.DatasourceID = "ds2"
	if err := update(func(tx store.Tx) error {
		return tx.CreateSavedQuery(ctx, &dup, &store.SavedQueryVersion{Body: []byte(`{}`), Parameters: []byte(`[]`)})
	}); err != nil {
		t.Fatal(err)
	}
	// A new version.
	v2 := &store.SavedQueryVersion{QueryID: "sq1", Version: 2, Body: []byte(`{"query":"SELECT 2"}`), Parameters: []byte(`[{"name":"a","type":"int"}]`),
		CreatedBy: "u2", CreatedAt: t0.Add(time.Minute)}
	q.CurrentVersion, q.Description, q.UpdatedAt = 2, "changed", t0.Add(time.Minute)
	if err := update(func(tx store.Tx) error {
		if err := tx.AddSavedQueryVersion(ctx, v2); err != nil {
			return err
		}
		return tx.UpdateSavedQuery(ctx, q)
	}); err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx store.Tx) error {
		got, err := tx.FindSavedQuery(ctx, "sq1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, q) {
			t.Errorf("FindSavedQuery: got %+v, want %+v", got, q)
		}
		list, err := tx.ListSavedQueries(ctx, "ds2")
		if err != nil || len(list) != 1 || list[0].ID != "sq2" {
			t.Errorf("ListSavedQueries(ds2): got %v, %v", list, err)
		}
		if all, err := tx.ListSavedQueries(ctx, ""); err != nil || len(all) != 2 {
			t.Errorf("ListSavedQueries(all): got %d, %v", len(all), err)
		}
		vs, err := tx.ListSavedQueryVersions(ctx, "sq1")
		if err != nil || len(vs) != 2 || !reflect.DeepEqual(vs[1], v2) || string(vs[0].Body) != `{"query":"SELECT 1"}` || vs[0].Version != 1 {
			t.Errorf("ListSavedQueryVersions: got %+v, %v", vs, err)
		}
		got1, err := tx.FindSavedQueryVersion(ctx, "sq1", 1)
		if err != nil || !reflect.DeepEqual(got1, v1) {
			t.Errorf("FindSavedQueryVersion(1): got %+v, %v; want %+v", got1, err, v1)
		}
		if _, err := tx.FindSavedQueryVersion(ctx, "sq1", 3); querygate.ErrorCode(err) != querygate.ENOTFOUND {
			t.Errorf("FindSavedQueryVersion(3): got %v, want ENOTFOUND", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A version number is never reused.
	if err := update(func(tx store.Tx) error { return tx.AddSavedQueryVersion(ctx, v2) }); querygate.ErrorCode(err) != querygate.ECONFLICT {
		t.Fatalf("version twice: got %v, want ECONFLICT", err)
	}
	// Deleting the datasource deletes its queries and their versions.
	if err := update(func(tx store.Tx) error { return tx.DeleteDatasource(ctx, "ds1") }); err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx store.Tx) error {
		if _, err := tx.FindSavedQuery(ctx, "sq1"); querygate.ErrorCode(err) != querygate.ENOTFOUND {
			t.Errorf("query after its datasource was deleted: %v", err)
		}
		if vs, err := tx.ListSavedQueryVersions(ctx, "sq1"); err != nil || len(vs) != 0 {
			t.Errorf("versions after delete: %d, %v", len(vs), err)
		}
		return nil
	})
	if err := update(func(tx store.Tx) error { return tx.DeleteSavedQuery(ctx, "sq2") }); err != nil {
		t.Fatal(err)
	}
	if err := update(func(tx store.Tx) error { return tx.DeleteSavedQuery(ctx, "sq2") }); querygate.ErrorCode(err) != querygate.ENOTFOUND {
		t.Fatalf("delete twice: %v", err)
	}
}

// Package storetest is the contract every store.Store implementation
// must meet: the same operations give the same results and the same error
// codes on SQLite and on PostgreSQL. Each store package runs it from its
// tests with an opener of fresh, empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

// Opener returns a fresh, empty, migrated store, closed when the test ends.
type Opener func(t *testing.T) store.Store

// Run runs the whole contract as subtests.
func Run(t *testing.T, open Opener) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"Instance", testInstance},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"Tokens", testTokens},
		{"Datasources", testDatasources},
		{"NotFound", testNotFound},
		{"Conflict", testConflict},
		{"UpdateRollback", testUpdateRollback},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ConcurrentUpdate", testConcurrentUpdate},
		{"SavedQueries", testSavedQueries},
		{"Audit", testAudit},
		{"GroupsAndGrants", testGroupsAndGrants},
		{"Devices", testDevices},
		{"Dashboards", testDashboards},
		{"Identities", testIdentities},
		{"Changes", testChanges},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// MustUpdate runs fn in a write transaction and fails the test on error.
func MustUpdate(tb testing.TB, db store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	tb.Helper()
	ctx := tb.Context()
	if err := db.Update(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

// MustView runs fn in a read transaction and fails the test on error.
func MustView(tb testing.TB, db store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	tb.Helper()
	ctx := tb.Context()
	if err := db.View(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		tb.Fatalf("View: %v", err)
	}
}

// WantCode fails unless err carries a *querygate.Error with that code.
func WantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	var qe *querygate.Error
	if !errors.As(err, &qe) {
		tb.Fatalf("err = %v (%T), want a *querygate.Error with code %q", err, err, code)
	}
	if qe.Code != code {
		tb.Fatalf("error code = %q (%v), want %q", qe.Code, err, code)
	}
}

// T0 has millisecond precision, like every time the store keeps.
var T0 = time.Date(2025, 3, 4, 5, 6, 7, 8e6, time.UTC)

// aliceAndBob creates the users u1 (alice) and u2 (bob).
func aliceAndBob(ctx context.Context, tx store.Tx) error {
	for _, u := range []*store.User{NewUser("u1", "alice"), NewUser("u2", "bob")} {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// NewUser is a user for tests.
func NewUser(id, username string) *store.User {
	return &store.User{ID: id, Username: username, PasswordHash: "$argon2id$hash-of-" + username, Role: "viewer", CreatedAt: T0, UpdatedAt: T0}
}

// NewDatasource is a datasource with a sealed-looking blob for tests.
func NewDatasource(id, name string) *store.Datasource {
	return &store.Datasource{
		ID: id, Name: name, Kind: "postgres", Custody: "server", ReadOnly: true,
		Settings: []byte(`{"host":"db.example.com","port":5432}`), SecretNames: []string{"password"},
		Secrets: []byte{0x01, 0x02, 0x00, 0xff}, OwnerID: "u1", CreatedAt: T0, UpdatedAt: T0.Add(time.Second),
	}
}

func testInstance(t *testing.T, open Opener) {
	db := open(t)
	steps := []struct {
		name  string
		write func(ctx context.Context, tx store.Tx) error
		want  []byte // nil: not found
	}{
		{"set", func(ctx context.Context, tx store.Tx) error { return tx.SetInstance(ctx, "salt", []byte{0, 1, 2}) }, []byte{0, 1, 2}},
		{"overwrite", func(ctx context.Context, tx store.Tx) error { return tx.SetInstance(ctx, "salt", []byte("new")) }, []byte("new")},
		{"delete", func(ctx context.Context, tx store.Tx) error { return tx.DeleteInstance(ctx, "salt") }, nil},
		{"delete again", func(ctx context.Context, tx store.Tx) error { return tx.DeleteInstance(ctx, "salt") }, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			MustUpdate(t, db, st.write)
			err := db.View(t.Context(), func(tx store.Tx) error {
				got, err := tx.Instance(t.Context(), "salt")
				if st.want == nil && got != nil {
					t.Errorf("Instance = %q, want nil", got)
				}
				if st.want != nil && !reflect.DeepEqual(got, st.want) {
					t.Errorf("Instance = %q, want %q", got, st.want)
				}
				return err
			})
			if st.want == nil {
				WantCode(t, err, querygate.ENOTFOUND)
			} else if err != nil {
				t.Fatalf("Instance: %v", err)
			}
		})
	}
}

func testUsers(t *testing.T, open Opener) {
	db := open(t)
	alice, bob := NewUser("u1", "alice"), NewUser("u2", "bob")
	bob.Role = "admin"

	t.Run("create", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
			if err := tx.CreateUser(ctx, bob); err != nil {
				return err
			}
			return tx.CreateUser(ctx, alice)
		})
	})
	t.Run("read", func(t *testing.T) {
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			n, err := tx.CountUsers(ctx)
			if err != nil {
				return err
			}
			if n != 2 {
				t.Errorf("CountUsers = %d, want 2", n)
			}
			got, err := tx.FindUser(ctx, "u1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, alice) {
				t.Errorf("FindUser = %+v, want %+v", got, alice)
			}
			got, err = tx.FindUserByName(ctx, "bob")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, bob) {
				t.Errorf("FindUserByName = %+v, want %+v", got, bob)
			}
			list, err := tx.ListUsers(ctx)
			if err != nil {
				return err
			}
			if want := []*store.User{alice, bob}; !reflect.DeepEqual(list, want) {
				t.Errorf("ListUsers = %+v, want %+v (ordered by username)", list, want)
			}
			return nil
		})
	})
	t.Run("update", func(t *testing.T) {
		changed := *alice
		changed.Username, changed.PasswordHash, changed.Role, changed.UpdatedAt = "alicia", "$argon2id$new", "editor", T0.Add(time.Hour)
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.UpdateUser(ctx, &changed) })
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.FindUser(ctx, "u1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, &changed) {
				t.Errorf("after UpdateUser: FindUser = %+v, want %+v", got, &changed)
			}
			return nil
		})
	})
	t.Run("delete cascades to sessions and tokens", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
			if err := tx.CreateSession(ctx, &store.Session{IDHash: []byte("s-u1"), UserID: "u1", CreatedAt: T0, ExpiresAt: T0.Add(time.Hour)}); err != nil {
				return err
			}
			if err := tx.CreateToken(ctx, &store.Token{ID: "tk1", UserID: "u1", Name: "ci", Hash: []byte("h-u1"), CreatedAt: T0}); err != nil {
				return err
			}
			return tx.DeleteUser(ctx, "u1")
		})
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.FindUser(ctx, "u1")
			WantCode(t, err, querygate.ENOTFOUND)
			_, err = tx.FindSession(ctx, []byte("s-u1"))
			WantCode(t, err, querygate.ENOTFOUND)
			_, err = tx.FindTokenByHash(ctx, []byte("h-u1"))
			WantCode(t, err, querygate.ENOTFOUND)
			n, err := tx.CountUsers(ctx)
			if n != 1 {
				t.Errorf("CountUsers = %d, want 1", n)
			}
			return err
		})
	})
	t.Run("bad role refused", func(t *testing.T) {
		err := db.Update(t.Context(), func(tx store.Tx) error {
			u := NewUser("u9", "mallory")
			u.Role = "root"
			return tx.CreateUser(t.Context(), u)
		})
		if err == nil {
			t.Fatalf("CreateUser with role root: got nil error, want one")
		}
	})
}

func testSessions(t *testing.T, open Opener) {
	db := open(t)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateUser(ctx, NewUser("u1", "alice")); err != nil {
			return err
		}
		return tx.CreateUser(ctx, NewUser("u2", "bob"))
	})
	sessions := []*store.Session{
		{IDHash: []byte("a-expired"), PublicID: "p1", UserID: "u1", CreatedAt: T0, ExpiresAt: T0.Add(time.Minute)},
		{IDHash: []byte("a-boundary"), PublicID: "p2", UserID: "u1", CreatedAt: T0, ExpiresAt: T0.Add(time.Hour)},
		{IDHash: []byte("a-live"), PublicID: "p3", UserID: "u1", CreatedAt: T0.Add(time.Second), ExpiresAt: T0.Add(2 * time.Hour),
			Remote: "192.0.2.7", UserAgent: "Mozilla/5.0 (test)"},
		{IDHash: []byte("b-live"), PublicID: "p4", UserID: "u2", CreatedAt: T0, ExpiresAt: T0.Add(2 * time.Hour)},
	}
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		for _, s := range sessions {
			if err := tx.CreateSession(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	t.Run("by public id, listed, touched", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
			return tx.TouchSession(ctx, []byte("a-live"), T0.Add(time.Minute))
		})
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			s, err := tx.FindSessionByPublicID(ctx, "p3")
			if err != nil {
				return err
			}
			if string(s.IDHash) != "a-live" || s.Remote != "192.0.2.7" || s.UserAgent != "Mozilla/5.0 (test)" || !s.LastSeenAt.Equal(T0.Add(time.Minute)) {
				t.Errorf("by public id: %+v", s)
			}
			_, err = tx.FindSessionByPublicID(ctx, "nope")
			WantCode(t, err, querygate.ENOTFOUND)
			list, err := tx.ListSessions(ctx, "u1")
			if err != nil {
				return err
			}
			var ids []string
			for _, s := range list {
				ids = append(ids, s.PublicID)
			}
			if !slices.Equal(ids, []string{"p3", "p1", "p2"}) {
				t.Errorf("ListSessions = %v, want newest first", ids)
			}
			return nil
		})
		sessions[2].LastSeenAt = T0.Add(time.Minute)
	})
	live := func(t *testing.T) []string {
		t.Helper()
		var out []string
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			for _, s := range sessions {
				got, err := tx.FindSession(ctx, s.IDHash)
				if querygate.ErrorCode(err) == querygate.ENOTFOUND {
					if got != nil {
						t.Errorf("FindSession(%s) = %+v with ENOTFOUND, want nil", s.IDHash, got)
					}
					continue
				} else if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, s) {
					t.Errorf("FindSession = %+v, want %+v", got, s)
				}
				out = append(out, string(got.IDHash))
			}
			return nil
		})
		return out
	}
	steps := []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
		want []string
	}{
		{"created", func(context.Context, store.Tx) error { return nil }, []string{"a-expired", "a-boundary", "a-live", "b-live"}},
		{"delete expired (expires_at <= now)", func(ctx context.Context, tx store.Tx) error {
			return tx.DeleteExpiredSessions(ctx, T0.Add(time.Hour))
		}, []string{"a-live", "b-live"}},
		{"delete one", func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, []byte("b-live")) }, []string{"a-live"}},
		{"delete missing is not an error", func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, []byte("nope")) }, []string{"a-live"}},
		{"delete other user's sessions", func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserSessions(ctx, "u2") }, []string{"a-live"}},
		{"delete user's sessions", func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserSessions(ctx, "u1") }, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			MustUpdate(t, db, st.fn)
			if got := live(t); !slices.Equal(got, st.want) {
				t.Errorf("sessions = %q, want %q", got, st.want)
			}
		})
	}
	t.Run("unknown user refused", func(t *testing.T) {
		err := db.Update(t.Context(), func(tx store.Tx) error {
			return tx.CreateSession(t.Context(), &store.Session{IDHash: []byte("x"), UserID: "nobody", CreatedAt: T0, ExpiresAt: T0})
		})
		if err == nil {
			t.Fatalf("CreateSession for an unknown user: got nil error, want a foreign key error")
		}
	})
}

func testTokens(t *testing.T, open Opener) {
	db := open(t)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateUser(ctx, NewUser("u1", "alice")); err != nil {
			return err
		}
		return tx.CreateUser(ctx, NewUser("u2", "bob"))
	})
	tk1 := &store.Token{ID: "tk1", UserID: "u1", Name: "ci", Hash: []byte("hash-1"), CreatedAt: T0}
	tk2 := &store.Token{ID: "tk2", UserID: "u1", Name: "laptop", Hash: []byte("hash-2"), CreatedAt: T0.Add(time.Second), ExpiresAt: T0.Add(24 * time.Hour)}
	tk3 := &store.Token{ID: "tk3", UserID: "u2", Name: "ci", Hash: []byte("hash-3"), CreatedAt: T0}

	t.Run("create and find", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
			for _, tk := range []*store.Token{tk2, tk1, tk3} {
				if err := tx.CreateToken(ctx, tk); err != nil {
					return err
				}
			}
			return nil
		})
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			for _, want := range []*store.Token{tk1, tk2, tk3} {
				got, err := tx.FindTokenByHash(ctx, want.Hash)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("FindTokenByHash = %+v, want %+v", got, want)
				}
				if got, err := tx.FindToken(ctx, want.ID); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("FindToken(%s) = %+v, %v, want %+v", want.ID, got, err, want)
				}
			}
			return nil
		})
	})
	t.Run("list by user, oldest first", func(t *testing.T) {
		tests := []struct {
			user string
			want []*store.Token
		}{
			{"u1", []*store.Token{tk1, tk2}},
			{"u2", []*store.Token{tk3}},
			{"nobody", nil},
		}
		for _, tt := range tests {
			MustView(t, db, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.ListTokens(ctx, tt.user)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("ListTokens(%s) = %+v, want %+v", tt.user, got, tt.want)
				}
				return err
			})
		}
	})
	t.Run("touch", func(t *testing.T) {
		at := T0.Add(time.Minute)
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.TouchToken(ctx, "tk1", at) })
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.FindTokenByHash(ctx, tk1.Hash)
			if err != nil {
				return err
			}
			if !got.LastUsedAt.Equal(at) {
				t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, at)
			}
			return nil
		})
	})
	t.Run("delete", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.DeleteToken(ctx, "tk1") })
		err := db.View(t.Context(), func(tx store.Tx) error {
			_, err := tx.FindTokenByHash(t.Context(), tk1.Hash)
			return err
		})
		WantCode(t, err, querygate.ENOTFOUND)
	})
	t.Run("delete a user's tokens", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserTokens(ctx, "u1") })
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			if got, err := tx.ListTokens(ctx, "u1"); err != nil || len(got) != 0 {
				t.Errorf("ListTokens(u1) after DeleteUserTokens = %+v, %v, want none", got, err)
			}
			if got, err := tx.ListTokens(ctx, "u2"); err != nil || len(got) != 1 {
				t.Errorf("ListTokens(u2) after DeleteUserTokens(u1) = %+v, %v, want bob's token kept", got, err)
			}
			return nil
		})
	})
}

func testDatasources(t *testing.T, open Opener) {
	db := open(t)
	b, a := NewDatasource("ds2", "b-metrics"), NewDatasource("ds1", "a-billing")
	noSecrets := NewDatasource("ds3", "c-files")
	noSecrets.Kind, noSecrets.Settings, noSecrets.SecretNames, noSecrets.Secrets = "sqlite", []byte(`{"path":"/x.db"}`), []string{}, nil

	find := func(t *testing.T, id string) *store.Datasource {
		t.Helper()
		var d *store.Datasource
		MustView(t, db, func(ctx context.Context, tx store.Tx) (err error) {
			d, err = tx.FindDatasource(ctx, id)
			return err
		})
		return d
	}

	t.Run("create and find", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
			for _, d := range []*store.Datasource{b, a, noSecrets} {
				if err := tx.CreateDatasource(ctx, d); err != nil {
					return err
				}
			}
			return nil
		})
		for _, want := range []*store.Datasource{a, b, noSecrets} {
			if got := find(t, want.ID); !reflect.DeepEqual(got, want) {
				t.Errorf("FindDatasource(%s) = %+v, want %+v", want.ID, got, want)
			}
		}
	})
	t.Run("nil secret names stored as empty", func(t *testing.T) {
		d := NewDatasource("ds4", "d-nil")
		d.SecretNames, d.Secrets = nil, nil
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.CreateDatasource(ctx, d) })
		got := find(t, "ds4")
		if len(got.SecretNames) != 0 || got.Secrets != nil {
			t.Errorf("SecretNames, Secrets = %q, %v; want empty, nil", got.SecretNames, got.Secrets)
		}
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.DeleteDatasource(ctx, "ds4") })
	})
	t.Run("list by name", func(t *testing.T) {
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.ListDatasources(ctx)
			if want := []*store.Datasource{a, b, noSecrets}; !reflect.DeepEqual(got, want) {
				t.Errorf("ListDatasources = %+v, want %+v", got, want)
			}
			return err
		})
	})
	t.Run("update", func(t *testing.T) {
		changed := *a
		changed.Name, changed.Custody, changed.ReadOnly = "a-billing-eu", "device", false
		changed.Settings, changed.SecretNames, changed.Secrets = []byte(`{"host":"eu.example.com"}`), []string{"client_key", "password"}, []byte("blob")
		changed.UpdatedAt = T0.Add(time.Hour)
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.UpdateDatasource(ctx, &changed) })
		if got := find(t, "ds1"); !reflect.DeepEqual(got, &changed) {
			t.Errorf("after UpdateDatasource: %+v, want %+v", got, &changed)
		}
		// Kind, owner and creation time are not updatable.
		sneaky := changed
		sneaky.Kind, sneaky.OwnerID, sneaky.CreatedAt = "mysql", "u9", T0.Add(time.Hour)
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.UpdateDatasource(ctx, &sneaky) })
		if got := find(t, "ds1"); !reflect.DeepEqual(got, &changed) {
			t.Errorf("UpdateDatasource changed kind, owner or created_at: %+v, want %+v", got, &changed)
		}
		*a = changed
	})
	t.Run("set secrets", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
			return tx.SetDatasourceSecrets(ctx, "ds2", []byte("resealed"))
		})
		want := *b
		want.Secrets = []byte("resealed")
		if got := find(t, "ds2"); !reflect.DeepEqual(got, &want) {
			t.Errorf("after SetDatasourceSecrets: %+v, want %+v", got, &want)
		}
	})
	t.Run("delete", func(t *testing.T) {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.DeleteDatasource(ctx, "ds2") })
		err := db.View(t.Context(), func(tx store.Tx) error {
			_, err := tx.FindDatasource(t.Context(), "ds2")
			return err
		})
		WantCode(t, err, querygate.ENOTFOUND)
	})
}

// testNotFound checks that every lookup, update and delete of a missing row
// returns a *querygate.Error with code ENOTFOUND, and never (nil, nil).
func testNotFound(t *testing.T, open Opener) {
	db := open(t)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, NewUser("u1", "alice")) })
	tests := []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) (any, error)
	}{
		{"Instance", func(ctx context.Context, tx store.Tx) (any, error) { return tx.Instance(ctx, "nope") }},
		{"FindUser", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindUser(ctx, "nope") }},
		{"FindUserByName", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindUserByName(ctx, "nope") }},
		{"UpdateUser", func(ctx context.Context, tx store.Tx) (any, error) {
			return nil, tx.UpdateUser(ctx, NewUser("nope", "nope"))
		}},
		{"DeleteUser", func(ctx context.Context, tx store.Tx) (any, error) { return nil, tx.DeleteUser(ctx, "nope") }},
		{"FindSession", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindSession(ctx, []byte("nope")) }},
		{"FindTokenByHash", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindTokenByHash(ctx, []byte("nope")) }},
		{"DeleteToken", func(ctx context.Context, tx store.Tx) (any, error) { return nil, tx.DeleteToken(ctx, "nope") }},
		{"FindToken", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindToken(ctx, "nope") }},
		{"FindDatasource", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindDatasource(ctx, "nope") }},
		{"UpdateDatasource", func(ctx context.Context, tx store.Tx) (any, error) {
			return nil, tx.UpdateDatasource(ctx, NewDatasource("nope", "nope"))
		}},
		{"DeleteDatasource", func(ctx context.Context, tx store.Tx) (any, error) { return nil, tx.DeleteDatasource(ctx, "nope") }},
		{"SetDatasourceSecrets", func(ctx context.Context, tx store.Tx) (any, error) {
			return nil, tx.SetDatasourceSecrets(ctx, "nope", []byte("x"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			err := db.Update(t.Context(), func(tx store.Tx) (err error) {
				got, err = tt.fn(t.Context(), tx)
				return err
			})
			WantCode(t, err, querygate.ENOTFOUND)
			if v := reflect.ValueOf(got); got != nil && !v.IsNil() {
				t.Errorf("got %+v with the error, want nil", got)
			}
		})
	}
}

func testConflict(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
	}{
		{"username on create", func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, NewUser("u9", "alice")) }},
		{"username on update", func(ctx context.Context, tx store.Tx) error {
			u := NewUser("u2", "alice")
			return tx.UpdateUser(ctx, u)
		}},
		{"user id", func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, NewUser("u1", "carol")) }},
		{"session id hash", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateSession(ctx, &store.Session{IDHash: []byte("s1"), UserID: "u2", CreatedAt: T0, ExpiresAt: T0})
		}},
		{"token hash", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateToken(ctx, &store.Token{ID: "tk9", UserID: "u2", Name: "x", Hash: []byte("h1"), CreatedAt: T0})
		}},
		{"datasource name on create", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateDatasource(ctx, NewDatasource("ds9", "billing"))
		}},
		{"datasource name on update", func(ctx context.Context, tx store.Tx) error {
			return tx.UpdateDatasource(ctx, NewDatasource("ds2", "billing"))
		}},
		{"datasource id", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateDatasource(ctx, NewDatasource("ds1", "other"))
		}},
	}
	db := open(t)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := aliceAndBob(ctx, tx); err != nil {
			return err
		}
		if err := tx.CreateSession(ctx, &store.Session{IDHash: []byte("s1"), UserID: "u1", CreatedAt: T0, ExpiresAt: T0}); err != nil {
			return err
		}
		if err := tx.CreateToken(ctx, &store.Token{ID: "tk1", UserID: "u1", Name: "x", Hash: []byte("h1"), CreatedAt: T0}); err != nil {
			return err
		}
		if err := tx.CreateDatasource(ctx, NewDatasource("ds1", "billing")); err != nil {
			return err
		}
		return tx.CreateDatasource(ctx, NewDatasource("ds2", "metrics"))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Update(t.Context(), func(tx store.Tx) error { return tt.fn(t.Context(), tx) })
			WantCode(t, err, querygate.ECONFLICT)
		})
	}
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		u, err := tx.FindUser(ctx, "u2")
		if err != nil {
			return err
		}
		if u.Username != "bob" {
			t.Errorf("after conflicts: u2 username = %q, want bob", u.Username)
		}
		d, err := tx.FindDatasource(ctx, "ds2")
		if err != nil {
			return err
		}
		if d.Name != "metrics" {
			t.Errorf("after conflicts: ds2 name = %q, want metrics", d.Name)
		}
		return nil
	})
}

func testUpdateRollback(t *testing.T, open Opener) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      func(ctx context.Context, tx store.Tx) error
		wantErr func(t *testing.T, err error)
	}{
		{
			name: "fn returns an error",
			fn: func(ctx context.Context, tx store.Tx) error {
				if err := tx.CreateUser(ctx, NewUser("u2", "bob")); err != nil {
					return err
				}
				if err := tx.SetInstance(ctx, "marker", []byte("changed")); err != nil {
					return err
				}
				if err := tx.DeleteUser(ctx, "u1"); err != nil {
					return err
				}
				return errBoom
			},
			wantErr: func(t *testing.T, err error) {
				if !errors.Is(err, errBoom) {
					t.Fatalf("Update error = %v, want %v", err, errBoom)
				}
			},
		},
		{
			name: "a statement fails after others succeeded",
			fn: func(ctx context.Context, tx store.Tx) error {
				if err := tx.SetInstance(ctx, "marker", []byte("changed")); err != nil {
					return err
				}
				if err := tx.CreateUser(ctx, NewUser("u2", "bob")); err != nil {
					return err
				}
				return tx.CreateUser(ctx, NewUser("u3", "alice")) // taken
			},
			wantErr: func(t *testing.T, err error) { WantCode(t, err, querygate.ECONFLICT) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t)
			MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
				if err := tx.SetInstance(ctx, "marker", []byte("original")); err != nil {
					return err
				}
				return tx.CreateUser(ctx, NewUser("u1", "alice"))
			})
			err := db.Update(t.Context(), func(tx store.Tx) error { return tt.fn(t.Context(), tx) })
			tt.wantErr(t, err)
			MustView(t, db, func(ctx context.Context, tx store.Tx) error {
				if got, err := tx.Instance(ctx, "marker"); err != nil || string(got) != "original" {
					t.Errorf("marker = %q, %v; want %q", got, err, "original")
				}
				users, err := tx.ListUsers(ctx)
				if err != nil {
					return err
				}
				if len(users) != 1 || users[0].ID != "u1" {
					t.Errorf("users after rollback = %v, want only u1", users)
				}
				return nil
			})
		})
	}
}

func testViewIsReadOnly(t *testing.T, open Opener) {
	db := open(t)
	err := db.View(t.Context(), func(tx store.Tx) error {
		return tx.CreateUser(t.Context(), NewUser("u1", "alice"))
	})
	if err == nil {
		t.Fatalf("CreateUser in View: got nil error, want one")
	}
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		n, err := tx.CountUsers(ctx)
		if n != 0 {
			t.Errorf("CountUsers = %d, want 0", n)
		}
		return err
	})
}

// testConcurrentUpdate runs read-modify-write transactions from several
// goroutines (with readers alongside): every write must succeed (no
// SQLITE_BUSY) and none may be lost, which proves writes are serialised.
func testConcurrentUpdate(t *testing.T, open Opener) {
	const writers, perWriter, readers = 6, 8, 3
	db := open(t)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		return tx.SetInstance(ctx, "counter", []byte("0"))
	})
	ctx := t.Context()
	errs := make(chan error, writers*perWriter+readers*perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				errs <- db.Update(ctx, func(tx store.Tx) error {
					b, err := tx.Instance(ctx, "counter")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(b))
					if err != nil {
						return err
					}
					if err := tx.CreateUser(ctx, NewUser(fmt.Sprintf("u%d-%d", w, i), fmt.Sprintf("user%d-%d", w, i))); err != nil {
						return err
					}
					return tx.SetInstance(ctx, "counter", []byte(strconv.Itoa(n+1)))
				})
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range perWriter {
				errs <- db.View(ctx, func(tx store.Tx) error {
					_, err := tx.ListUsers(ctx)
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent transaction: %v", err)
		}
	}
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		b, err := tx.Instance(ctx, "counter")
		if err != nil {
			return err
		}
		if got, want := string(b), strconv.Itoa(writers*perWriter); got != want {
			t.Errorf("counter = %s, want %s (lost updates)", got, want)
		}
		n, err := tx.CountUsers(ctx)
		if got, want := n, writers*perWriter; got != want {
			t.Errorf("CountUsers = %d, want %d", got, want)
		}
		return err
	})
}

func testSavedQueries(t *testing.T, open Opener) {
	db := open(t)
	ctx := t.Context()
	update := func(fn func(tx store.Tx) error) error { return db.Update(ctx, fn) }
	if err := update(func(tx store.Tx) error {
		if err := tx.CreateDatasource(ctx, NewDatasource("ds1", "one")); err != nil {
			return err
		}
		return tx.CreateDatasource(ctx, NewDatasource("ds2", "two"))
	}); err != nil {
		t.Fatal(err)
	}
	q := &store.SavedQuery{ID: "sq1", DatasourceID: "ds1", Name: "orders", Description: "by customer", OwnerID: "u1",
		CurrentVersion: 1, CreatedAt: T0, UpdatedAt: T0}
	v1 := &store.SavedQueryVersion{Body: []byte(`{"query":"SELECT 1"}`), Parameters: []byte(`[]`), CreatedBy: "u1", CreatedAt: T0}
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
		CreatedBy: "u2", CreatedAt: T0.Add(time.Minute)}
	q.CurrentVersion, q.Description, q.UpdatedAt = 2, "changed", T0.Add(time.Minute)
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

// testAudit appends events and reads them back with every filter.
func testAudit(t *testing.T, open Opener) {
	db := open(t)
	ctx := t.Context()
	// The audit journal's mark: none at first, then the last one set, in
	// the transaction that sets it only (a failed one keeps the old).
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		if gen, moved, err := tx.AuditJournalMark(ctx); err != nil || gen != "" || moved != 0 {
			t.Errorf("mark of a new store = %q %d %v", gen, moved, err)
		}
		return nil
	})
	for _, m := range []int64{100, 250} {
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.SetAuditJournalMark(ctx, "g1", m) })
	}
	if err := db.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetAuditJournalMark(ctx, "g2", 7); err != nil {
			return err
		}
		return errors.New("rolled back")
	}); err == nil {
		t.Fatal("the failing transaction succeeded")
	}
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		if gen, moved, err := tx.AuditJournalMark(ctx); err != nil || gen != "g1" || moved != 250 {
			t.Errorf("mark = %q %d %v, want g1 250", gen, moved, err)
		}
		return nil
	})
	err := db.View(ctx, func(tx store.Tx) error { _, err := tx.LastAuditEvent(ctx); return err })
	WantCode(t, err, querygate.ENOTFOUND)
	actions := []string{"login.success", "login.failure", "datasource.create", "query", "query"}
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		for i, a := range actions {
			e := &store.AuditEvent{Seq: int64(i + 1), At: T0.Add(time.Duration(i) * time.Minute), ActorID: "u1", ActorName: "alice",
				Action: a, Target: "x", Outcome: "ok", Remote: "127.0.0.1", RequestID: "r", Details: `{"n":1}`, Hash: []byte{byte(i), 0, 0xff}}
			if i == 1 {
				e.Outcome, e.ActorID = "unauthorized", ""
			}
			if a == "query" {
				e.DatasourceID = "ds1"
			}
			if err := tx.AppendAuditEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		last, err := tx.LastAuditEvent(ctx)
		if err != nil {
			return err
		}
		if last.Seq != 5 || !last.At.Equal(T0.Add(4*time.Minute)) || string(last.Hash) != string([]byte{4, 0, 0xff}) || last.Details != `{"n":1}` {
			t.Errorf("last = %+v", last)
		}
		for _, c := range []struct {
			f    store.AuditFilter
			want []int64
		}{
			{store.AuditFilter{}, []int64{5, 4, 3, 2, 1}},
			{store.AuditFilter{Ascending: true, Limit: 2}, []int64{1, 2}},
			{store.AuditFilter{Action: "login."}, []int64{2, 1}},
			{store.AuditFilter{Action: "query"}, []int64{5, 4}},
			{store.AuditFilter{Outcome: "unauthorized"}, []int64{2}},
			{store.AuditFilter{ActorID: "u1", DatasourceID: "ds1"}, []int64{5, 4}},
			{store.AuditFilter{BeforeSeq: 4, Limit: 2}, []int64{3, 2}},
			{store.AuditFilter{AfterSeq: 3, Ascending: true}, []int64{4, 5}},
			{store.AuditFilter{Since: T0.Add(time.Minute), Until: T0.Add(3 * time.Minute)}, []int64{3, 2}},
		} {
			got, err := tx.ListAuditEvents(ctx, c.f)
			if err != nil {
				return err
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if !slices.Equal(seqs, c.want) {
				t.Errorf("filter %+v: got %v, want %v", c.f, seqs, c.want)
			}
		}
		return nil
	})
	// A sequence number is used once.
	err = db.Update(ctx, func(tx store.Tx) error {
		return tx.AppendAuditEvent(ctx, &store.AuditEvent{Seq: 5, At: T0, Action: "x", Outcome: "ok", Details: "{}", Hash: []byte{1}})
	})
	WantCode(t, err, querygate.ECONFLICT)
}

// testGroupsAndGrants checks groups, members, grants and the cleanups: a
// deleted user, group or datasource takes its grants and memberships.
func testGroupsAndGrants(t *testing.T, open Opener) {
	db := open(t)
	ctx := t.Context()
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := aliceAndBob(ctx, tx); err != nil {
			return err
		}
		for _, d := range []*store.Datasource{NewDatasource("ds1", "one"), NewDatasource("ds2", "two")} {
			if err := tx.CreateDatasource(ctx, d); err != nil {
				return err
			}
		}
		for _, g := range []*store.Group{{ID: "g1", Name: "analysts", CreatedAt: T0}, {ID: "g2", Name: "ops", CreatedAt: T0}} {
			if err := tx.CreateGroup(ctx, g); err != nil {
				return err
			}
		}
		if err := tx.SetGroupMembers(ctx, "g1", []string{"u1", "u2"}); err != nil {
			return err
		}
		if err := tx.SetGroupMembers(ctx, "g1", []string{"u2"}); err != nil { // replaces
			return err
		}
		if err := tx.SetGrants(ctx, "ds1", []store.Grant{{SubjectType: "user", SubjectID: "u1", Level: "use"},
			{SubjectType: "group", SubjectID: "g1", Level: "run"}}); err != nil {
			return err
		}
		return tx.SetGrants(ctx, "ds2", []store.Grant{{SubjectType: "group", SubjectID: "g1", Level: "manage"},
			{SubjectType: "user", SubjectID: "u1", Level: "run"}})
	})
	err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreateGroup(ctx, &store.Group{ID: "g3", Name: "ops", CreatedAt: T0})
	})
	WantCode(t, err, querygate.ECONFLICT)
	levels := func(user, ds string) []string {
		var out []string
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			gs, err := tx.UserGrantLevels(ctx, user, ds)
			for _, g := range gs {
				out = append(out, g.DatasourceID+":"+g.Level)
			}
			return err
		})
		slices.Sort(out)
		return out
	}
	if got := levels("u2", ""); !slices.Equal(got, []string{"ds1:run", "ds2:manage"}) {
		t.Errorf("u2 levels = %v", got)
	}
	if got := levels("u1", "ds1"); !slices.Equal(got, []string{"ds1:use"}) {
		t.Errorf("u1 levels on ds1 = %v", got)
	}
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		m, err := tx.ListGroupMembers(ctx, "g1")
		if err != nil || !slices.Equal(m, []string{"u2"}) {
			t.Errorf("members = %v %v", m, err)
		}
		ug, err := tx.ListUserGroups(ctx, "u2")
		if err != nil || !slices.Equal(ug, []string{"g1"}) {
			t.Errorf("groups of u2 = %v %v", ug, err)
		}
		gs, err := tx.ListGroups(ctx)
		if err != nil || len(gs) != 2 || gs[0].Name != "analysts" || !gs[0].CreatedAt.Equal(T0) {
			t.Errorf("groups = %v %v", gs, err)
		}
		g, err := tx.FindGroup(ctx, "g2")
		if err != nil || g.Name != "ops" {
			t.Errorf("FindGroup = %v %v", g, err)
		}
		return nil
	})
	// Cleanups.
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.DeleteUser(ctx, "u1"); err != nil {
			return err
		}
		if err := tx.DeleteGroup(ctx, "g1"); err != nil {
			return err
		}
		return tx.DeleteDatasource(ctx, "ds2")
	})
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		for _, ds := range []string{"ds1", "ds2"} {
			gs, err := tx.ListGrants(ctx, ds)
			if err != nil {
				return err
			}
			if len(gs) != 0 {
				t.Errorf("grants of %s after the deletes: %v", ds, gs)
			}
		}
		ug, err := tx.ListUserGroups(ctx, "u2")
		if err != nil || len(ug) != 0 {
			t.Errorf("groups of u2 after the group's delete: %v %v", ug, err)
		}
		_, err = tx.FindGroup(ctx, "g1")
		WantCode(t, err, querygate.ENOTFOUND)
		return nil
	})
	err = db.Update(ctx, func(tx store.Tx) error { return tx.DeleteGroup(ctx, "g1") })
	WantCode(t, err, querygate.ENOTFOUND)
}

// testDevices checks device credentials: filters, touch, expiry and the
// cascade when their datasource or user goes.
func testDevices(t *testing.T, open Opener) {
	db := open(t)
	ctx := t.Context()
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := aliceAndBob(ctx, tx); err != nil {
			return err
		}
		for _, d := range []*store.Datasource{NewDatasource("ds1", "one"), NewDatasource("ds2", "two")} {
			if err := tx.CreateDatasource(ctx, d); err != nil {
				return err
			}
		}
		for i, c := range []struct{ user, ds string }{{"u1", "ds1"}, {"u1", "ds2"}, {"u2", "ds1"}, {"u2", "ds2"}} {
			d := &store.DeviceCredential{ID: fmt.Sprintf("dv%d", i), UserID: c.user, DatasourceID: c.ds, Sealed: []byte{0, byte(i), 0xfe},
				CreatedAt: T0.Add(time.Duration(i) * time.Second), ExpiresAt: T0.Add(time.Duration(i+1) * time.Hour)}
			if err := tx.CreateDeviceCredential(ctx, d); err != nil {
				return err
			}
		}
		return tx.TouchDeviceCredential(ctx, "dv0", T0.Add(time.Minute))
	})
	ids := func(user, ds string) []string {
		var out []string
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			list, err := tx.ListDeviceCredentials(ctx, user, ds)
			for _, d := range list {
				out = append(out, d.ID)
			}
			return err
		})
		return out
	}
	if got := ids("u1", ""); !slices.Equal(got, []string{"dv0", "dv1"}) {
		t.Errorf("by user: %v", got)
	}
	if got := ids("", "ds1"); !slices.Equal(got, []string{"dv0", "dv2"}) {
		t.Errorf("by datasource: %v", got)
	}
	if got := ids("u2", "ds2"); !slices.Equal(got, []string{"dv3"}) {
		t.Errorf("by both: %v", got)
	}
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		d, err := tx.FindDeviceCredential(ctx, "dv0")
		if err != nil {
			return err
		}
		if !d.LastUsedAt.Equal(T0.Add(time.Minute)) || string(d.Sealed) != string([]byte{0, 0, 0xfe}) || !d.ExpiresAt.Equal(T0.Add(time.Hour)) {
			t.Errorf("device = %+v", d)
		}
		return nil
	})
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		// dv0 expired at T0+1h.
		return tx.DeleteExpiredDeviceCredentials(ctx, T0.Add(time.Hour))
	})
	if got := ids("", ""); !slices.Equal(got, []string{"dv1", "dv2", "dv3"}) {
		t.Errorf("after expiry: %v", got)
	}
	var n int64
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) (err error) {
		n, err = tx.DeleteDeviceCredentials(ctx, "u2", "")
		return err
	})
	if n != 2 || !slices.Equal(ids("", ""), []string{"dv1"}) {
		t.Errorf("delete by user: %d, left %v", n, ids("", ""))
	}
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.DeleteDatasource(ctx, "ds2") })
	if got := ids("", ""); len(got) != 0 {
		t.Errorf("devices of a deleted datasource remain: %v", got)
	}
	err := db.Update(ctx, func(tx store.Tx) error { return tx.DeleteDeviceCredential(ctx, "dv1") })
	WantCode(t, err, querygate.ENOTFOUND)
}

// testDashboards checks dashboards, their grants and the cleanups.
func testDashboards(t *testing.T, open Opener) {
	db := open(t)
	ctx := t.Context()
	d := &store.Dashboard{ID: "db1", Name: "sales", Description: "weekly", OwnerID: "u1", Definition: []byte(`{"panels":[]}`), CreatedAt: T0, UpdatedAt: T0}
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := aliceAndBob(ctx, tx); err != nil {
			return err
		}
		if err := tx.CreateGroup(ctx, &store.Group{ID: "g1", Name: "team", CreatedAt: T0}); err != nil {
			return err
		}
		if err := tx.SetGroupMembers(ctx, "g1", []string{"u2"}); err != nil {
			return err
		}
		if err := tx.CreateDashboard(ctx, d); err != nil {
			return err
		}
		return tx.CreateDashboard(ctx, &store.Dashboard{ID: "db2", Name: "ops", OwnerID: "u2", Definition: []byte(`{}`), CreatedAt: T0, UpdatedAt: T0})
	})
	err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreateDashboard(ctx, &store.Dashboard{ID: "db3", Name: "sales", OwnerID: "u1", Definition: []byte(`{}`), CreatedAt: T0, UpdatedAt: T0})
	})
	WantCode(t, err, querygate.ECONFLICT)
	d.Name, d.Definition, d.UpdatedAt = "sales 2", []byte(`{"panels":[{"id":"p1"}]}`), T0.Add(time.Hour)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.UpdateDashboard(ctx, d); err != nil {
			return err
		}
		return tx.SetDashboardGrants(ctx, "db1", []store.DashboardGrant{{SubjectType: "group", SubjectID: "g1", Level: "view"},
			{SubjectType: "user", SubjectID: "u2", Level: "edit"}})
	})
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		got, err := tx.FindDashboard(ctx, "db1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("FindDashboard = %+v, want %+v", got, d)
		}
		list, err := tx.ListDashboards(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "ops" {
			t.Errorf("ListDashboards = %v %v", list, err)
		}
		levels, err := tx.UserDashboardLevels(ctx, "u2")
		if err != nil || len(levels) != 2 {
			t.Errorf("UserDashboardLevels(u2) = %v %v", levels, err)
		}
		return nil
	})
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.DeleteGroup(ctx, "g1") })
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		gs, err := tx.ListDashboardGrants(ctx, "db1")
		if err != nil || len(gs) != 1 || gs[0].SubjectID != "u2" {
			t.Errorf("grants after the group's delete: %v %v", gs, err)
		}
		return nil
	})
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.DeleteUser(ctx, "u2"); err != nil {
			return err
		}
		return tx.DeleteDashboard(ctx, "db2")
	})
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		gs, err := tx.ListDashboardGrants(ctx, "db1")
		if err != nil || len(gs) != 0 {
			t.Errorf("grants after the user's delete: %v %v", gs, err)
		}
		_, err = tx.FindDashboard(ctx, "db2")
		WantCode(t, err, querygate.ENOTFOUND)
		return nil
	})
	err = db.Update(ctx, func(tx store.Tx) error { return tx.DeleteDashboard(ctx, "db2") })
	WantCode(t, err, querygate.ENOTFOUND)
}

// testIdentities links provider accounts to users: one each way, gone
// with the user.
func testIdentities(t *testing.T, open Opener) {
	db := open(t)
	ctx := t.Context()
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := aliceAndBob(ctx, tx); err != nil {
			return err
		}
		return tx.LinkIdentity(ctx, "https://idp", "sub-1", "u1", T0)
	})
	for _, link := range [][3]string{{"https://idp", "sub-1", "u2"}, {"https://idp", "sub-2", "u1"}} {
		err := db.Update(ctx, func(tx store.Tx) error { return tx.LinkIdentity(ctx, link[0], link[1], link[2], T0) })
		WantCode(t, err, querygate.ECONFLICT)
	}
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		if id, err := tx.FindIdentity(ctx, "https://idp", "sub-1"); err != nil || id != "u1" {
			t.Errorf("FindIdentity = %q %v", id, err)
		}
		if sub, err := tx.UserIdentity(ctx, "https://idp", "u1"); err != nil || sub != "sub-1" {
			t.Errorf("UserIdentity = %q %v", sub, err)
		}
		_, err := tx.FindIdentity(ctx, "https://other", "sub-1")
		WantCode(t, err, querygate.ENOTFOUND)
		return nil
	})
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUser(ctx, "u1") })
	err := db.View(ctx, func(tx store.Tx) error { _, err := tx.FindIdentity(ctx, "https://idp", "sub-1"); return err })
	WantCode(t, err, querygate.ENOTFOUND)
}

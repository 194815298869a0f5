package sqlite_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

// t0 has millisecond precision, like every time the store keeps.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 8e6, time.UTC)

func newUser(id, username string) *store.User {
	return &store.User{ID: id, Username: username, PasswordHash: "$argon2id$hash-of-" + username, Role: "viewer", CreatedAt: t0, UpdatedAt: t0}
}

func newDatasource(id, name string) *store.Datasource {
	return &store.Datasource{
		ID: id, Name: name, Kind: "postgres", Custody: "server", ReadOnly: true,
		Settings: []byte(`{"host":"db.example.com","port":5432}`), SecretNames: []string{"password"},
		Secrets: []byte{0x01, 0x02, 0x00, 0xff}, OwnerID: "u1", CreatedAt: t0, UpdatedAt: t0.Add(time.Second),
	}
}

func TestInstance(t *testing.T) {
	db := MustOpen(t, "")
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
				wantCode(t, err, querygate.ENOTFOUND)
			} else if err != nil {
				t.Fatalf("Instance: %v", err)
			}
		})
	}
}

func TestUsers(t *testing.T) {
	db := MustOpen(t, "")
	alice, bob := newUser("u1", "alice"), newUser("u2", "bob")
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
		changed.Username, changed.PasswordHash, changed.Role, changed.UpdatedAt = "alicia", "$argon2id$new", "editor", t0.Add(time.Hour)
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
			if err := tx.CreateSession(ctx, &store.Session{IDHash: []byte("s-u1"), UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				return err
			}
			if err := tx.CreateToken(ctx, &store.Token{ID: "tk1", UserID: "u1", Name: "ci", Hash: []byte("h-u1"), CreatedAt: t0}); err != nil {
				return err
			}
			return tx.DeleteUser(ctx, "u1")
		})
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.FindUser(ctx, "u1")
			wantCode(t, err, querygate.ENOTFOUND)
			_, err = tx.FindSession(ctx, []byte("s-u1"))
			wantCode(t, err, querygate.ENOTFOUND)
			_, err = tx.FindTokenByHash(ctx, []byte("h-u1"))
			wantCode(t, err, querygate.ENOTFOUND)
			n, err := tx.CountUsers(ctx)
			if n != 1 {
				t.Errorf("CountUsers = %d, want 1", n)
			}
			return err
		})
	})
	t.Run("bad role refused", func(t *testing.T) {
		err := db.Update(t.Context(), func(tx store.Tx) error {
			u := newUser("u9", "mallory")
			u.Role = "root"
			return tx.CreateUser(t.Context(), u)
		})
		if err == nil {
			t.Fatalf("CreateUser with role root: got nil error, want one")
		}
	})
}

func TestSessions(t *testing.T) {
	db := MustOpen(t, "")
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateUser(ctx, newUser("u1", "alice")); err != nil {
			return err
		}
		return tx.CreateUser(ctx, newUser("u2", "bob"))
	})
	sessions := []*store.Session{
		{IDHash: []byte("a-expired"), UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		{IDHash: []byte("a-boundary"), UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		{IDHash: []byte("a-live"), UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)},
		{IDHash: []byte("b-live"), UserID: "u2", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)},
	}
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		for _, s := range sessions {
			if err := tx.CreateSession(ctx, s); err != nil {
				return err
			}
		}
		return nil
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
			return tx.DeleteExpiredSessions(ctx, t0.Add(time.Hour))
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
			return tx.CreateSession(t.Context(), &store.Session{IDHash: []byte("x"), UserID: "nobody", CreatedAt: t0, ExpiresAt: t0})
		})
		if err == nil {
			t.Fatalf("CreateSession for an unknown user: got nil error, want a foreign key error")
		}
	})
}

func TestTokens(t *testing.T) {
	db := MustOpen(t, "")
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateUser(ctx, newUser("u1", "alice")); err != nil {
			return err
		}
		return tx.CreateUser(ctx, newUser("u2", "bob"))
	})
	tk1 := &store.Token{ID: "tk1", UserID: "u1", Name: "ci", Hash: []byte("hash-1"), CreatedAt: t0}
	tk2 := &store.Token{ID: "tk2", UserID: "u1", Name: "laptop", Hash: []byte("hash-2"), CreatedAt: t0.Add(time.Second), ExpiresAt: t0.Add(24 * time.Hour)}
	tk3 := &store.Token{ID: "tk3", UserID: "u2", Name: "ci", Hash: []byte("hash-3"), CreatedAt: t0}

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
		at := t0.Add(time.Minute)
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
		wantCode(t, err, querygate.ENOTFOUND)
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

func TestDatasources(t *testing.T) {
	db := MustOpen(t, "")
	b, a := newDatasource("ds2", "b-metrics"), newDatasource("ds1", "a-billing")
	noSecrets := newDatasource("ds3", "c-files")
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
		d := newDatasource("ds4", "d-nil")
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
		changed.UpdatedAt = t0.Add(time.Hour)
		MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.UpdateDatasource(ctx, &changed) })
		if got := find(t, "ds1"); !reflect.DeepEqual(got, &changed) {
			t.Errorf("after UpdateDatasource: %+v, want %+v", got, &changed)
		}
		// Kind, owner and creation time are not updatable.
		sneaky := changed
		sneaky.Kind, sneaky.OwnerID, sneaky.CreatedAt = "mysql", "u9", t0.Add(time.Hour)
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
		wantCode(t, err, querygate.ENOTFOUND)
	})
}

// TestNotFound checks that every lookup, update and delete of a missing row
// returns a *querygate.Error with code ENOTFOUND, and never (nil, nil).
func TestNotFound(t *testing.T) {
	db := MustOpen(t, "")
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, newUser("u1", "alice")) })
	tests := []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) (any, error)
	}{
		{"Instance", func(ctx context.Context, tx store.Tx) (any, error) { return tx.Instance(ctx, "nope") }},
		{"FindUser", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindUser(ctx, "nope") }},
		{"FindUserByName", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindUserByName(ctx, "nope") }},
		{"UpdateUser", func(ctx context.Context, tx store.Tx) (any, error) {
			return nil, tx.UpdateUser(ctx, newUser("nope", "nope"))
		}},
		{"DeleteUser", func(ctx context.Context, tx store.Tx) (any, error) { return nil, tx.DeleteUser(ctx, "nope") }},
		{"FindSession", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindSession(ctx, []byte("nope")) }},
		{"FindTokenByHash", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindTokenByHash(ctx, []byte("nope")) }},
		{"DeleteToken", func(ctx context.Context, tx store.Tx) (any, error) { return nil, tx.DeleteToken(ctx, "nope") }},
		{"FindToken", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindToken(ctx, "nope") }},
		{"FindDatasource", func(ctx context.Context, tx store.Tx) (any, error) { return tx.FindDatasource(ctx, "nope") }},
		{"UpdateDatasource", func(ctx context.Context, tx store.Tx) (any, error) {
			return nil, tx.UpdateDatasource(ctx, newDatasource("nope", "nope"))
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
			wantCode(t, err, querygate.ENOTFOUND)
			if v := reflect.ValueOf(got); got != nil && !v.IsNil() {
				t.Errorf("got %+v with the error, want nil", got)
			}
		})
	}
}

func TestConflict(t *testing.T) {
	tests := []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
	}{
		{"username on create", func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, newUser("u9", "alice")) }},
		{"username on update", func(ctx context.Context, tx store.Tx) error {
			u := newUser("u2", "alice")
			return tx.UpdateUser(ctx, u)
		}},
		{"user id", func(ctx context.Context, tx store.Tx) error { return tx.CreateUser(ctx, newUser("u1", "carol")) }},
		{"session id hash", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateSession(ctx, &store.Session{IDHash: []byte("s1"), UserID: "u2", CreatedAt: t0, ExpiresAt: t0})
		}},
		{"token hash", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateToken(ctx, &store.Token{ID: "tk9", UserID: "u2", Name: "x", Hash: []byte("h1"), CreatedAt: t0})
		}},
		{"datasource name on create", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateDatasource(ctx, newDatasource("ds9", "billing"))
		}},
		{"datasource name on update", func(ctx context.Context, tx store.Tx) error {
			return tx.UpdateDatasource(ctx, newDatasource("ds2", "billing"))
		}},
		{"datasource id", func(ctx context.Context, tx store.Tx) error {
			return tx.CreateDatasource(ctx, newDatasource("ds1", "other"))
		}},
	}
	db := MustOpen(t, "")
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		for _, u := range []*store.User{newUser("u1", "alice"), newUser("u2", "bob")} {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
		}
		if err := tx.CreateSession(ctx, &store.Session{IDHash: []byte("s1"), UserID: "u1", CreatedAt: t0, ExpiresAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateToken(ctx, &store.Token{ID: "tk1", UserID: "u1", Name: "x", Hash: []byte("h1"), CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateDatasource(ctx, newDatasource("ds1", "billing")); err != nil {
			return err
		}
		return tx.CreateDatasource(ctx, newDatasource("ds2", "metrics"))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Update(t.Context(), func(tx store.Tx) error { return tt.fn(t.Context(), tx) })
			wantCode(t, err, querygate.ECONFLICT)
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

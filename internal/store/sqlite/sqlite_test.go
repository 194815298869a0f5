package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// MustOpen opens a store at path (a fresh file in a temporary directory
// when path is empty) and closes it when the test ends.
func MustOpen(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "querygate.db")
	}
	db, err := sqlite.Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
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

// wantCode fails unless err carries a *querygate.Error with that code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	var qe *querygate.Error
	if !errors.As(err, &qe) {
		tb.Fatalf("err = %v (%T), want a *querygate.Error with code %q", err, err, code)
	}
	if qe.Code != code {
		tb.Fatalf("error code = %q (%v), want %q", qe.Code, err, code)
	}
}

// MustRawDB opens the database file with the bare driver, bypassing the
// store, to inspect or tamper with it.
func MustRawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatalf("sql.Open: %v", err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

func migrationVersions(tb testing.TB, path string) []int {
	tb.Helper()
	raw := MustRawDB(tb, path)
	defer raw.Close()
	rows, err := raw.QueryContext(tb.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		tb.Fatalf("select versions: %v", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			tb.Fatalf("scan: %v", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("rows: %v", err)
	}
	return out
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
	}{
		{"empty path", func(*testing.T) string { return "" }},
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "no", "such", "dir", "q.db") }},
		{"directory", func(t *testing.T) string { return t.TempDir() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), tt.path(t))
			if err == nil {
				db.Close()
				t.Fatalf("Open: got nil error, want one")
			}
		})
	}
}

func TestSchemaVersion(t *testing.T) {
	if got := sqlite.SchemaVersion(); got < 1 {
		t.Fatalf("SchemaVersion() = %d, want at least 1", got)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	want := make([]int, sqlite.SchemaVersion())
	for i := range want {
		want[i] = i + 1
	}
	for i := range 3 {
		db := MustOpen(t, path)
		if i == 0 {
			MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
				return tx.SetInstance(ctx, "marker", []byte("kept"))
			})
		}
		MustView(t, db, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.Instance(ctx, "marker")
			if err != nil {
				return err
			}
			if string(got) != "kept" {
				t.Errorf("open %d: marker = %q, want %q", i, got, "kept")
			}
			return nil
		})
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := migrationVersions(t, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("open %d: schema_migrations = %v, want %v", i, got, want)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db := MustOpen(t, path)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		return tx.SetInstance(ctx, "marker", []byte("kept"))
	})
	db.Close()

	future := sqlite.SchemaVersion() + 1
	raw := MustRawDB(t, path)
	if _, err := raw.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, future); err != nil {
		t.Fatalf("insert future version: %v", err)
	}
	raw.Close()

	db2, err := sqlite.Open(t.Context(), path)
	if err == nil {
		db2.Close()
		t.Fatalf("Open of a store at schema version %d: got nil error, want a refusal", future)
	}
	if got, want := err.Error(), strconv.Itoa(future); !strings.Contains(got, want) {
		t.Errorf("error %q does not name the store's version %s", got, want)
	}
	versions := migrationVersions(t, path)
	if got := versions[len(versions)-1]; got != future {
		t.Errorf("after refusal: max version = %d, want %d (untouched)", got, future)
	}
}

func TestFileModes(t *testing.T) {
	db := MustOpen(t, "")
	// A write while open makes sure the -wal and -shm files exist.
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		return tx.SetInstance(ctx, "x", []byte("y"))
	})
	MustView(t, db, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.Instance(ctx, "x")
		return err
	})
	files := db.Files()
	if got, want := len(files), 3; got != want {
		t.Fatalf("Files() = %v, want %d files", files, want)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Errorf("mode = %v, want %v", got, want)
			}
		})
	}
}

func TestPing(t *testing.T) {
	db := MustOpen(t, "")
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	db.Close()
	wantCode(t, db.Ping(t.Context()), querygate.EUNAVAILABLE)
}

func TestUpdateRollback(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      func(ctx context.Context, tx store.Tx) error
		wantErr func(t *testing.T, err error)
	}{
		{
			name: "fn returns an error",
			fn: func(ctx context.Context, tx store.Tx) error {
				if err := tx.CreateUser(ctx, newUser("u2", "bob")); err != nil {
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
				if err := tx.CreateUser(ctx, newUser("u2", "bob")); err != nil {
					return err
				}
				return tx.CreateUser(ctx, newUser("u3", "alice")) // taken
			},
			wantErr: func(t *testing.T, err error) { wantCode(t, err, querygate.ECONFLICT) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpen(t, "")
			MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
				if err := tx.SetInstance(ctx, "marker", []byte("original")); err != nil {
					return err
				}
				return tx.CreateUser(ctx, newUser("u1", "alice"))
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

func TestViewIsReadOnly(t *testing.T) {
	db := MustOpen(t, "")
	err := db.View(t.Context(), func(tx store.Tx) error {
		return tx.CreateUser(t.Context(), newUser("u1", "alice"))
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

// TestConcurrentUpdate runs read-modify-write transactions from several
// goroutines (with readers alongside): every write must succeed (no
// SQLITE_BUSY) and none may be lost, which proves writes are serialised.
func TestConcurrentUpdate(t *testing.T) {
	const writers, perWriter, readers = 6, 8, 3
	db := MustOpen(t, "")
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
					if err := tx.CreateUser(ctx, newUser(fmt.Sprintf("u%d-%d", w, i), fmt.Sprintf("user%d-%d", w, i))); err != nil {
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

// TestSecureDelete checks that a sealed blob that was replaced by one of
// another size, or deleted with its row, is in no store file once the
// write-ahead log is checkpointed: the store zeroes freed space.
func TestSecureDelete(t *testing.T) {
	db := MustOpen(t, "")
	ctx := t.Context()
	blob := func(tag byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = tag ^ byte(i*7)
		}
		return b
	}
	replaced, deleted := blob(0xa5, 300), blob(0x5a, 300)
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		for id, b := range map[string][]byte{"ds1": replaced, "ds2": deleted} {
			d := &store.Datasource{ID: id, Name: id, Kind: "postgres", Custody: "server", Settings: []byte(`{}`),
				SecretNames: []string{"password"}, Secrets: b}
			if err := tx.CreateDatasource(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	files := func(needle []byte) []string {
		var in []string
		for _, p := range db.Files() {
			b, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if len(b) > 0 && strings.Contains(string(b), string(needle)) {
				in = append(in, filepath.Base(p))
			}
		}
		return in
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	for _, b := range [][]byte{replaced, deleted} {
		if len(files(b)) == 0 {
			t.Fatal("the blob is in no store file before it is replaced (the search proves nothing)")
		}
	}
	MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		if err := tx.SetDatasourceSecrets(ctx, "ds1", blob(0x33, 200)); err != nil {
			return err
		}
		return tx.DeleteDatasource(ctx, "ds2")
	})
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if fi, err := os.Stat(db.Path() + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("write-ahead log after a checkpoint: %d bytes, want 0", fi.Size())
	}
	if in := files(replaced); len(in) > 0 {
		t.Errorf("a replaced blob is still in %v", in)
	}
	if in := files(deleted); len(in) > 0 {
		t.Errorf("a deleted blob is still in %v", in)
	}
}

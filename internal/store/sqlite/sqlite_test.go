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
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/store/storetest"
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

// TestSharedChanges: two stores on one file (two processes on one data
// directory, such as serve and an offline command) see each other's
// changes through the change sequence.
func TestSharedChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "querygate.db")
	storetest.SharedChanges(t, MustOpen(t, path), MustOpen(t, path))
}

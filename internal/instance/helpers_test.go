package instance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// dataDir is the data directory of one test instance: the store and the
// key file, as the gateway lays them out.
type dataDir string

func (d dataDir) DB() string      { return filepath.Join(string(d), "querygate.db") }
func (d dataDir) KeyFile() string { return filepath.Join(string(d), "master.key") }

// Files returns the store's files that exist (the database, its WAL and
// shared-memory files).
func (d dataDir) StoreFiles(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, p := range []string{d.DB(), d.DB() + "-wal", d.DB() + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			tb.Fatal(err)
		}
	}
	return out
}

// MustOpenStore opens the sqlite store of d; it is closed when the test ends.
func MustOpenStore(tb testing.TB, d dataDir) *sqlite.DB {
	tb.Helper()
	st, err := sqlite.Open(tb.Context(), d.DB())
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// MustOpen opens the instance of d with its key file.
func MustOpen(tb testing.TB, st store.Store, d dataDir, o instance.Options) *instance.Instance {
	tb.Helper()
	if o.KeyFile == "" {
		o.KeyFile = d.KeyFile()
	}
	in, err := instance.Open(tb.Context(), st, o)
	if err != nil {
		tb.Fatalf("instance.Open: %v", err)
	}
	return in
}

// MustNewDataDir makes a data directory with an initialised store.
func MustNewDataDir(tb testing.TB) (dataDir, *sqlite.DB, *instance.Instance) {
	tb.Helper()
	d := dataDir(tb.TempDir())
	st := MustOpenStore(tb, d)
	in := MustOpen(tb, st, d, instance.Options{CreateKey: true})
	return d, st, in
}

// canary returns a secret value that appears nowhere else.
func canary(tag string) string {
	var b [8]byte
	rand.Read(b[:])
	return "canary-" + tag + "-" + hex.EncodeToString(b[:])
}

// secretsJSON returns the plaintext of a datasource's secrets.
func secretsJSON(id, password string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"password":%q}`, id, password)
}

// wantSecrets maps a datasource id to the plaintext of its secrets. It is
// safe for concurrent use.
type wantSecrets struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newWantSecrets() *wantSecrets { return &wantSecrets{m: map[string][]byte{}} }

func (w *wantSecrets) set(id string, pt []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m[id] = pt
}

func (w *wantSecrets) get(id string) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[id]
}

func (w *wantSecrets) ids() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.m))
	for id := range w.m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// createDatasource stores a datasource whose secrets are sealed, inside the
// write transaction, under the primary key id the store names, as the
// datasource service does.
func createDatasource(ctx context.Context, st store.Store, env *seal.Envelope, id string, pt []byte) error {
	return st.Update(ctx, func(tx store.Tx) error {
		primary, err := instance.PrimaryKeyID(ctx, tx)
		if err != nil {
			return err
		}
		blob, err := env.Seal(primary, pt, instance.DatasourceAD(id))
		if err != nil {
			return err
		}
		now := time.Now()
		return tx.CreateDatasource(ctx, &store.Datasource{
			ID: id, Name: "name-" + id, Kind: "postgres", Custody: "server",
			Settings:    []byte(`{"host":"127.0.0.1","port":5432}`),
			SecretNames: []string{"password"}, Secrets: blob,
			CreatedAt: now, UpdatedAt: now,
		})
	})
}

// updateDatasourceSecrets re-seals a datasource's secrets with a new value,
// as an edit through the API does.
func updateDatasourceSecrets(ctx context.Context, st store.Store, env *seal.Envelope, id string, pt []byte) error {
	return st.Update(ctx, func(tx store.Tx) error {
		d, err := tx.FindDatasource(ctx, id)
		if err != nil {
			return err
		}
		primary, err := instance.PrimaryKeyID(ctx, tx)
		if err != nil {
			return err
		}
		if d.Secrets, err = env.Seal(primary, pt, instance.DatasourceAD(id)); err != nil {
			return err
		}
		d.UpdatedAt = time.Now()
		return tx.UpdateDatasource(ctx, d)
	})
}

// MustCreateDatasources stores n datasources with canary secrets and
// returns what each must open to.
func MustCreateDatasources(tb testing.TB, st store.Store, in *instance.Instance, n int, want *wantSecrets) {
	tb.Helper()
	for i := range n {
		id := fmt.Sprintf("ds_%02d_%s", i, canary("id")[len("canary-id-"):])
		pt := secretsJSON(id, canary("pw"))
		if err := createDatasource(tb.Context(), st, in.Envelope, id, pt); err != nil {
			tb.Fatalf("create datasource: %v", err)
		}
		want.set(id, pt)
	}
}

// readSecrets returns the sealed secrets of a datasource.
func readSecrets(ctx context.Context, st store.Store, id string) ([]byte, error) {
	var blob []byte
	err := st.View(ctx, func(tx store.Tx) error {
		d, err := tx.FindDatasource(ctx, id)
		if err != nil {
			return err
		}
		blob = d.Secrets
		return nil
	})
	return blob, err
}

// checkSecrets checks that every datasource in want opens, with env, to its
// plaintext, and that the store holds no other datasource with secrets.
func checkSecrets(tb testing.TB, st store.Store, env *seal.Envelope, want *wantSecrets) {
	tb.Helper()
	ctx := tb.Context()
	var rows []*store.Datasource
	if err := st.View(ctx, func(tx store.Tx) (err error) {
		rows, err = tx.ListDatasources(ctx)
		return err
	}); err != nil {
		tb.Fatalf("list datasources: %v", err)
	}
	seen := map[string]bool{}
	for _, d := range rows {
		if d.Secrets == nil {
			continue
		}
		seen[d.ID] = true
		w := want.get(d.ID)
		if w == nil {
			tb.Errorf("datasource %s: in the store, but never written", d.ID)
			continue
		}
		got, err := env.Open(d.Secrets, instance.DatasourceAD(d.ID))
		if err != nil {
			tb.Errorf("datasource %s: open secrets: %v", d.ID, err)
			continue
		}
		if !bytes.Equal(got, w) {
			tb.Errorf("datasource %s: got secrets %s, want %s", d.ID, got, w)
		}
	}
	for _, id := range want.ids() {
		if !seen[id] {
			tb.Errorf("datasource %s: written, but not in the store", id)
		}
	}
}

// checkVerify checks that Verify opens every sealed value: the two
// instance values and one per datasource with secrets.
func checkVerify(tb testing.TB, st store.Store, in *instance.Instance, wantChecked int) {
	tb.Helper()
	checked, failures, err := in.Verify(tb.Context(), st)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	if checked != wantChecked {
		tb.Errorf("Verify checked %d values, want %d", checked, wantChecked)
	}
	for _, f := range failures {
		tb.Errorf("Verify failure: %s: %s", f.Place, f.Err)
	}
}

// keyIDs returns the key ids of every sealed value in the store, by place.
func keyIDs(tb testing.TB, st store.Store) map[string]string {
	tb.Helper()
	ctx := tb.Context()
	out := map[string]string{}
	if err := st.View(ctx, func(tx store.Tx) error {
		for _, name := range []string{store.InstanceKeyCheck, store.InstanceRootKey} {
			b, err := tx.Instance(ctx, name)
			if err != nil {
				return err
			}
			if out[name], err = seal.BlobKeyID(b); err != nil {
				return err
			}
		}
		rows, err := tx.ListDatasources(ctx)
		for _, d := range rows {
			if d.Secrets != nil {
				if out[d.ID], err = seal.BlobKeyID(d.Secrets); err != nil {
					return err
				}
			}
		}
		return err
	}); err != nil {
		tb.Fatalf("key ids: %v", err)
	}
	return out
}

// storePrimary returns the primary key id the store names.
func storePrimary(tb testing.TB, st store.Store) string {
	tb.Helper()
	ctx := tb.Context()
	var id string
	if err := st.View(ctx, func(tx store.Tx) (err error) {
		id, err = instance.PrimaryKeyID(ctx, tx)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return id
}

// mustReadKeyFile reads and parses a key file.
func mustReadKeyFile(tb testing.TB, path string) *seal.KeyRing {
	tb.Helper()
	r, err := instance.ReadKeyFile(path)
	if err != nil {
		tb.Fatalf("ReadKeyFile: %v", err)
	}
	return r
}

// copyDataDir copies the files of a closed data dir into a new one.
func copyDataDir(tb testing.TB, from dataDir) dataDir {
	tb.Helper()
	to := dataDir(tb.TempDir())
	for _, p := range append(from.StoreFiles(tb), from.KeyFile()) {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(string(to), filepath.Base(p)), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return to
}

// wantCode checks that err is a *querygate.Error with the code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := querygate.ErrorCode(err); got != code {
		tb.Errorf("error code: got %q (%v), want %q", got, err, code)
	}
}

// logBuffer returns a logger writing text lines to a buffer.
func logBuffer() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

var _ io.Writer = (*syncBuffer)(nil)

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

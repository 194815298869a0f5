package instance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// checkRotated checks the end state of a finished rotation to newID: the
// key file holds only newID, the store names it, every sealed value is
// under it, and a fresh instance opens everything.
func checkRotated(t *testing.T, d dataDir, st store.Store, newID string, want *wantSecrets) {
	t.Helper()
	ring := mustReadKeyFile(t, d.KeyFile())
	if got := ring.IDs(); !slices.Equal(got, []string{newID}) || ring.Primary() != newID {
		t.Errorf("key file: got ids %v primary %q, want only %q", got, ring.Primary(), newID)
	}
	if fi, err := os.Stat(d.KeyFile()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: got %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if got := storePrimary(t, st); got != newID {
		t.Errorf("store primary: got %q, want %q", got, newID)
	}
	for place, id := range keyIDs(t, st) {
		if id != newID {
			t.Errorf("%s: sealed under %q, want %q", place, id, newID)
		}
	}
	fresh := MustOpen(t, st, d, instance.Options{})
	checkSecrets(t, st, fresh.Envelope, want)
	checkVerify(t, st, fresh, 2+len(want.ids()))
}

func TestRotate(t *testing.T) {
	ctx := t.Context()
	const n = 6
	d, st, in := MustNewDataDir(t)
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, n, want)
	oldID := in.Envelope.Ring().Primary()
	cookie := in.Cookies.Seal("__Host-qg-session", []byte("session"), time.Now().Add(time.Hour))
	blobs := map[string][]byte{}
	for _, id := range want.ids() {
		b, err := readSecrets(ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		blobs[id] = b
	}

	log, logged := logBuffer()
	newID, resealed, err := in.Rotate(ctx, st, instance.RotateOptions{Logger: log})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if newID == oldID || newID == "" {
		t.Errorf("new key id: got %q, old %q", newID, oldID)
	}
	if resealed != n+2 {
		t.Errorf("resealed: got %d, want %d", resealed, n+2)
	}
	checkRotated(t, d, st, newID, want)

	// Rotation rewraps the data keys; the data parts stay as they were.
	for id, old := range blobs {
		b, err := readSecrets(ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		// The last 32 bytes: the tag and the end of the ciphertext.
		if string(b[len(b)-32:]) != string(old[len(old)-32:]) {
			t.Errorf("datasource %s: data part changed", id)
		}
	}
	// The rotating instance follows its own rotation.
	checkSecrets(t, st, in.Envelope, want)
	checkVerify(t, st, in, 2+n)
	// The root key is rewrapped, not replaced: cookies survive.
	fresh := MustOpen(t, st, d, instance.Options{})
	if got, _, err := fresh.Cookies.Open("__Host-qg-session", cookie); err != nil || string(got) != "session" {
		t.Errorf("cookie from before the rotation: got %q, %v", got, err)
	}
	keyText, err := os.ReadFile(d.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if out := logged.String(); !strings.Contains(out, newID) || !strings.Contains(out, oldID) {
		t.Errorf("log: got %q, want the new and the retired key ids", out)
	} else if strings.Contains(out, strings.Fields(string(keyText[strings.LastIndex(string(keyText), "key "):]))[2]) {
		t.Errorf("log holds the key: %s", out)
	}

	t.Run("again", func(t *testing.T) {
		id2, resealed, err := fresh.Rotate(ctx, st, instance.RotateOptions{})
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if id2 == newID || resealed != n+2 {
			t.Errorf("second rotation: got id %q (first %q), resealed %d", id2, newID, resealed)
		}
		checkRotated(t, d, st, id2, want)
		// The first instance, which still holds newID, follows by
		// re-reading the key file.
		checkSecrets(t, st, in.Envelope, want)
	})
}

func TestRotateEmptyStore(t *testing.T) {
	d, st, in := MustNewDataDir(t)
	newID, resealed, err := in.Rotate(t.Context(), st, instance.RotateOptions{})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if resealed != 2 {
		t.Errorf("resealed: got %d, want 2 (the key check and the root key)", resealed)
	}
	checkRotated(t, d, st, newID, newWantSecrets())
}

func TestRotateLocked(t *testing.T) {
	ctx := t.Context()
	d, st, in := MustNewDataDir(t)
	in2 := MustOpen(t, st, d, instance.Options{})
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, _, err := in.Rotate(ctx, st, instance.RotateOptions{Step: func(string) error {
			once.Do(func() { close(started) })
			<-release
			return nil
		}})
		done <- err
	}()
	<-started
	_, _, err := in2.Rotate(ctx, st, instance.RotateOptions{})
	wantCode(t, err, querygate.ECONFLICT)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first Rotate: %v", err)
	}
	// The lock is released.
	if _, _, err := in2.Rotate(ctx, st, instance.RotateOptions{}); err != nil {
		t.Errorf("Rotate after the first finished: %v", err)
	}
}

func TestRotateCanceled(t *testing.T) {
	d, st, in := MustNewDataDir(t)
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, 3, want)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var steps int
	_, _, err := in.Rotate(ctx, st, instance.RotateOptions{Step: func(string) error {
		if steps++; steps == 4 {
			cancel()
		}
		return nil
	}})
	if err == nil {
		t.Fatal("Rotate with a canceled context: got nil error")
	}
	fresh := MustOpen(t, st, d, instance.Options{})
	checkSecrets(t, st, fresh.Envelope, want)
	checkVerify(t, st, fresh, 2+3)
	newID, _, err := fresh.Rotate(t.Context(), st, instance.RotateOptions{})
	if err != nil {
		t.Fatalf("Rotate after the canceled one: %v", err)
	}
	checkRotated(t, d, st, newID, want)
}

var errCrash = errors.New("injected crash")

// TestRotateCrash stops a rotation before each of its steps, as a crash
// would, then restarts: every secret must still open, and a second
// rotation must finish the job.
func TestRotateCrash(t *testing.T) {
	const n = 4
	template, st, in := MustNewDataDir(t)
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, n, want)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A dry run names the steps.
	var steps []string
	{
		d := copyDataDir(t, template)
		st := MustOpenStore(t, d)
		in := MustOpen(t, st, d, instance.Options{})
		if _, _, err := in.Rotate(t.Context(), st, instance.RotateOptions{Step: func(s string) error {
			steps = append(steps, s)
			return nil
		}}); err != nil {
			t.Fatalf("dry run: %v", err)
		}
	}
	for _, s := range []string{"add-key", "switch-primary", "reseal instance/key-check", "reseal instance/root-key", "retire-old"} {
		if !slices.Contains(steps, s) {
			t.Errorf("steps %v: %q missing", steps, s)
		}
	}
	for _, id := range want.ids() {
		if !slices.Contains(steps, "reseal datasource/"+id) {
			t.Errorf("steps %v: no reseal of %s", steps, id)
		}
	}
	t.Logf("%d steps: %v", len(steps), steps)

	for i, step := range steps {
		t.Run(fmt.Sprintf("%02d %s", i, step), func(t *testing.T) {
			ctx := t.Context()
			d := copyDataDir(t, template)
			st := MustOpenStore(t, d)
			in := MustOpen(t, st, d, instance.Options{})
			calls := 0
			_, _, err := in.Rotate(ctx, st, instance.RotateOptions{Step: func(s string) error {
				defer func() { calls++ }()
				if calls == i {
					if s != step {
						t.Errorf("step %d: got %q, want %q as in the dry run", i, s, step)
					}
					return errCrash
				}
				return nil
			}})
			if !errors.Is(err, errCrash) {
				t.Fatalf("Rotate: got %v, want the injected crash", err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			// Restart: a new store handle and a new instance.
			st = MustOpenStore(t, d)
			in = MustOpen(t, st, d, instance.Options{})
			checkSecrets(t, st, in.Envelope, want)
			checkVerify(t, st, in, 2+n)
			ring := mustReadKeyFile(t, d.KeyFile())
			if !ring.Has(storePrimary(t, st)) {
				t.Errorf("the store names primary %q, which the key file %v lacks", storePrimary(t, st), ring.IDs())
			}
			for place, id := range keyIDs(t, st) {
				if !ring.Has(id) {
					t.Errorf("%s is sealed under %q, which the key file %v lacks", place, id, ring.IDs())
				}
			}

			// The gateway keeps working in between: a new datasource.
			w := newWantSecrets()
			for _, id := range want.ids() {
				w.set(id, want.get(id))
			}
			MustCreateDatasources(t, st, in, 1, w)

			newID, _, err := in.Rotate(ctx, st, instance.RotateOptions{})
			if err != nil {
				t.Fatalf("Rotate after the crash: %v", err)
			}
			if len(ring.IDs()) > 1 && newID != ring.Primary() {
				t.Errorf("resumed rotation: got new key %q, want the one the crashed run added, %q", newID, ring.Primary())
			}
			checkRotated(t, d, st, newID, w)
		})
	}
}

// TestRotateWhileServing rotates while other goroutines, as gateways, keep
// opening secrets and writing new and edited datasources, each sealed under
// the primary key id the store names inside its write transaction.
func TestRotateWhileServing(t *testing.T) {
	ctx := t.Context()
	d, st, in := MustNewDataDir(t)
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, 8, want)

	// A second gateway: its own store handle and instance, as another
	// process on the same data dir would have.
	st2 := MustOpenStore(t, d)
	gw := MustOpen(t, st2, d, instance.Options{})
	type gateway struct {
		st  store.Store
		env *seal.Envelope
	}
	gateways := []gateway{{st2, gw.Envelope}, {st, in.Envelope}}

	var (
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		reads   atomic.Int64
		writes  atomic.Int64
		retries atomic.Int64
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for r := range 4 {
		g := gateways[r%2]
		wg.Go(func() {
			for i := 0; !stopped(); i++ {
				ids := want.ids()
				id := ids[(r*7+i)%len(ids)]
				pt, err := openOnce(ctx, g.st, g.env, id)
				var uk *seal.UnknownKeyError
				if errors.As(err, &uk) {
					// Read before the rewrap, opened after the old key
					// was retired: read the row again, as a query that
					// meets this error would.
					retries.Add(1)
					pt, err = openOnce(ctx, g.st, g.env, id)
				}
				if err != nil {
					t.Errorf("gateway %d: open %s: %v", r%2, id, err)
					return
				}
				if !strings.Contains(string(pt), id) {
					t.Errorf("gateway %d: %s opened to another row's secrets: %s", r%2, id, pt)
					return
				}
				reads.Add(1)
			}
		})
	}
	// Each writer edits only its own rows, so that the last value it
	// wrote to a row is the one the row must hold.
	initial := want.ids()
	for w := range 2 {
		g := gateways[w]
		var own []string
		for i, id := range initial {
			if i%2 == w {
				own = append(own, id)
			}
		}
		wg.Go(func() {
			for i := 0; !stopped(); i++ {
				var err error
				if i%3 == 2 {
					id := own[i%len(own)]
					pt := secretsJSON(id, canary(fmt.Sprintf("edit%d", w)))
					if err = updateDatasourceSecrets(ctx, g.st, g.env, id, pt); err == nil {
						want.set(id, pt)
					}
				} else {
					id := fmt.Sprintf("ds_new_%d_%03d", w, i)
					pt := secretsJSON(id, canary("new"))
					if err = createDatasource(ctx, g.st, g.env, id, pt); err == nil {
						want.set(id, pt)
						own = append(own, id)
					}
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				writes.Add(1)
				// Keep the pace of a busy gateway, not of a benchmark.
				time.Sleep(time.Millisecond)
			}
		})
	}

	waitFor := func(c *atomic.Int64, n int64) {
		for deadline := time.Now().Add(20 * time.Second); c.Load() < n && time.Now().Before(deadline) && !t.Failed(); {
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(&writes, 4)
	waitFor(&reads, 20)
	var steps atomic.Int64
	newID, _, err := in.Rotate(ctx, st, instance.RotateOptions{Step: func(string) error {
		// Give the gateways time to act between the steps.
		steps.Add(1)
		time.Sleep(2 * time.Millisecond)
		return nil
	}})
	w0 := writes.Load()
	waitFor(&writes, w0+4)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	t.Logf("%d reads, %d writes, %d rotation steps, %d reads retried once", reads.Load(), writes.Load(), steps.Load(), retries.Load())

	st.Close()
	st2.Close()
	st3 := MustOpenStore(t, d)
	checkRotated(t, d, st3, newID, want)
}

// openOnce reads a datasource's sealed secrets and opens them.
func openOnce(ctx context.Context, st store.Store, env *seal.Envelope, id string) ([]byte, error) {
	blob, err := readSecrets(ctx, st, id)
	if err != nil {
		return nil, err
	}
	return env.Open(blob, instance.DatasourceAD(id))
}

// TestRotateLeavesNoOldWrapping checks that after a rotation the data keys
// as wrapped under the retired key are in no store file (the database and
// its write-ahead log): a copy of the files taken after the rotation plus
// the retired key must not open anything.
func TestRotateLeavesNoOldWrapping(t *testing.T) {
	ctx := t.Context()
	d, st, in := MustNewDataDir(t)
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, 4, want)

	// old maps a place to its blob as sealed under the key to be retired.
	old := map[string][]byte{}
	for _, id := range want.ids() {
		b, err := readSecrets(ctx, st, id)
		if err != nil {
			t.Fatal(err)
		}
		old["datasource/"+id] = b
	}
	if err := st.View(ctx, func(tx store.Tx) error {
		for _, name := range []string{store.InstanceKeyCheck, store.InstanceRootKey} {
			b, err := tx.Instance(ctx, name)
			if err != nil {
				return err
			}
			old["instance/"+name] = b
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// wrapping returns the part of a blob that depends on the master key:
	// version, key id, DEK nonce and sealed DEK.
	wrapping := func(b []byte) []byte { return b[:2+int(b[1])+12+48] }
	found := func(needle []byte) []string {
		var in []string
		for _, p := range d.StoreFiles(t) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, needle) {
				in = append(in, p)
			}
		}
		return in
	}
	// The search finds them before the rotation (else it proves nothing).
	for place, b := range old {
		if len(found(wrapping(b))) == 0 {
			t.Fatalf("%s: the wrapped key is in no store file before the rotation", place)
		}
	}

	newID, _, err := in.Rotate(ctx, st, instance.RotateOptions{})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	checkRotated(t, d, st, newID, want)
	for place, b := range old {
		if in := found(b); len(in) > 0 {
			t.Errorf("%s: the blob as sealed under the retired key is still in %v", place, in)
		}
		if in := found(wrapping(b)[2+int(b[1]):]); len(in) > 0 {
			t.Errorf("%s: the data key as wrapped by the retired key is still in %v", place, in)
		}
	}
}

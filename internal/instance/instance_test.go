package instance_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

func TestOpenFreshStore(t *testing.T) {
	ctx := t.Context()
	d := dataDir(t.TempDir())
	st := MustOpenStore(t, d)
	log, logged := logBuffer()
	in := MustOpen(t, st, d, instance.Options{CreateKey: true, Logger: log})

	fi, err := os.Stat(d.KeyFile())
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode: got %v, want 0600", got)
	}
	ring := mustReadKeyFile(t, d.KeyFile())
	if got := len(ring.IDs()); got != 1 {
		t.Errorf("key file: got %d keys, want 1", got)
	}
	if got, want := in.Envelope.Ring().Primary(), ring.Primary(); got != want {
		t.Errorf("envelope primary: got %q, want %q", got, want)
	}
	if got, want := storePrimary(t, st), ring.Primary(); got != want {
		t.Errorf("store primary: got %q, want %q", got, want)
	}
	keyText, err := os.ReadFile(d.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if out := logged.String(); !strings.Contains(out, "BACK IT UP") || !strings.Contains(out, ring.Primary()) {
		t.Errorf("log: got %q, want a loud line naming the new key", out)
	} else if strings.Contains(out, strings.Fields(string(keyText[bytes.LastIndex(keyText, []byte("key ")):]))[2]) {
		t.Errorf("log holds the key: %s", out)
	}

	// The instance settings the store now holds.
	err = st.View(ctx, func(tx store.Tx) error {
		salt, err := tx.Instance(ctx, store.InstanceSalt)
		if err != nil {
			return err
		}
		if len(salt) != 32 || bytes.Equal(salt, make([]byte, 32)) {
			t.Errorf("salt: got %d bytes %x, want 32 random bytes", len(salt), salt)
		}
		for name, want := range map[string]string{store.InstanceSaltSource: "store", store.InstancePrimaryKey: ring.Primary()} {
			got, err := tx.Instance(ctx, name)
			if err != nil {
				return err
			}
			if string(got) != want {
				t.Errorf("%s: got %q, want %q", name, got, want)
			}
		}
		created, err := tx.Instance(ctx, store.InstanceCreatedAt)
		if err != nil {
			return err
		}
		if ts, err := time.Parse(time.RFC3339, string(created)); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("created_at: got %q", created)
		}
		for _, name := range []string{store.InstanceKeyCheck, store.InstanceRootKey} {
			b, err := tx.Instance(ctx, name)
			if err != nil {
				return err
			}
			if id, err := seal.BlobKeyID(b); err != nil || id != ring.Primary() {
				t.Errorf("%s: sealed under %q (%v), want %q", name, id, err, ring.Primary())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Two instances with their own stores and salts: a new store makes a
	// new salt, so the same master key seals differently.
	cookie := in.Cookies.Seal("__Host-qg-session", []byte("session"), time.Now().Add(time.Hour))
	blob, err := in.Envelope.Seal("", []byte("secret"), instance.DatasourceAD("ds_1"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reopen", func(t *testing.T) {
		in2 := MustOpen(t, st, d, instance.Options{})
		got, _, err := in2.Cookies.Open("__Host-qg-session", cookie)
		if err != nil || string(got) != "session" {
			t.Errorf("cookie from before the restart: got %q, %v", got, err)
		}
		if got, err := in2.Envelope.Open(blob, instance.DatasourceAD("ds_1")); err != nil || string(got) != "secret" {
			t.Errorf("blob from before the restart: got %q, %v", got, err)
		}
		after, err := os.ReadFile(d.KeyFile())
		if err != nil || !bytes.Equal(after, keyText) {
			t.Errorf("key file changed on reopen (%v)", err)
		}
	})

	t.Run("reopen with CreateKey", func(t *testing.T) {
		MustOpen(t, st, d, instance.Options{CreateKey: true})
		after, err := os.ReadFile(d.KeyFile())
		if err != nil || !bytes.Equal(after, keyText) {
			t.Errorf("key file changed on reopen (%v)", err)
		}
	})

	t.Run("same key, another store", func(t *testing.T) {
		// P4: another instance with the same master key (copied key
		// file) but its own salt cannot open this one's secrets.
		d2 := dataDir(t.TempDir())
		if err := os.WriteFile(d2.KeyFile(), keyText, 0o600); err != nil {
			t.Fatal(err)
		}
		in2 := MustOpen(t, MustOpenStore(t, d2), d2, instance.Options{})
		if _, err := in2.Envelope.Open(blob, instance.DatasourceAD("ds_1")); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("Open in another instance: got %v, want ErrOpen", err)
		}
		if _, _, err := in2.Cookies.Open("__Host-qg-session", cookie); err != seal.ErrCookie {
			t.Errorf("cookie in another instance: got %v, want ErrCookie", err)
		}
	})
}

func TestOpenWarnsAboutReadableKeyFile(t *testing.T) {
	d, _, _ := MustNewDataDir(t)
	if err := os.Chmod(d.KeyFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	log, logged := logBuffer()
	st := MustOpenStore(t, d)
	MustOpen(t, st, d, instance.Options{Logger: log})
	if out := logged.String(); !strings.Contains(out, "chmod 600") {
		t.Errorf("log: got %q, want a warning about the key file mode", out)
	}
}

func TestOpenWithoutKeyFile(t *testing.T) {
	t.Run("fresh store without CreateKey", func(t *testing.T) {
		d := dataDir(t.TempDir())
		st := MustOpenStore(t, d)
		_, err := instance.Open(t.Context(), st, instance.Options{KeyFile: d.KeyFile()})
		wantCode(t, err, querygate.EKEY)
		if _, err := os.Stat(d.KeyFile()); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("key file: got %v, want none made", err)
		}
		// Nothing was initialised either.
		MustOpen(t, st, d, instance.Options{CreateKey: true})
	})

	t.Run("initialised store", func(t *testing.T) {
		d, st, _ := MustNewDataDir(t)
		if err := os.Remove(d.KeyFile()); err != nil {
			t.Fatal(err)
		}
		for _, create := range []bool{false, true} {
			_, err := instance.Open(t.Context(), st, instance.Options{KeyFile: d.KeyFile(), CreateKey: create})
			wantCode(t, err, querygate.EKEY)
			if _, err := os.Stat(d.KeyFile()); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("CreateKey=%v: key file: got %v; a new key must never be made for an existing store", create, err)
			}
			if msg := querygate.ErrorMessage(err); !strings.Contains(msg, "missing") {
				t.Errorf("message: got %q, want it to say the key file is missing", msg)
			}
		}
	})

	t.Run("no key file named", func(t *testing.T) {
		d := dataDir(t.TempDir())
		st := MustOpenStore(t, d)
		if _, err := instance.Open(t.Context(), st, instance.Options{CreateKey: true}); err == nil {
			t.Error("Open without a key file or master key: got nil error")
		}
	})
}

// TestOpenWrongKey opens an initialised store with keys that do not fit it:
// each is refused with EKEY, and neither the store nor the key file change.
func TestOpenWrongKey(t *testing.T) {
	d, st, _ := MustNewDataDir(t)
	keyText, err := os.ReadFile(d.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	ring := mustReadKeyFile(t, d.KeyFile())
	before := instanceRows(t, st)

	writeRing := func(t *testing.T, r *seal.KeyRing) string {
		p := filepath.Join(t.TempDir(), "other.key")
		if err := instance.WriteKeyFile(p, r); err != nil {
			t.Fatal(err)
		}
		return p
	}
	otherKey := seal.GenerateKey()
	tests := []struct {
		name string
		o    func(t *testing.T) instance.Options
	}{
		{"another key file", func(t *testing.T) instance.Options {
			r, _ := seal.NewKeyRing(seal.GenerateKeyID(), otherKey)
			return instance.Options{KeyFile: writeRing(t, r)}
		}},
		{"another key under the same id", func(t *testing.T) instance.Options {
			r, _ := seal.NewKeyRing(ring.Primary(), otherKey)
			return instance.Options{KeyFile: writeRing(t, r)}
		}},
		{"QUERYGATE_MASTER_KEY, another key", func(t *testing.T) instance.Options {
			return instance.Options{KeyFile: d.KeyFile(), MasterKey: otherKey.Encode()}
		}},
		{"QUERYGATE_MASTER_KEY, another ring", func(t *testing.T) instance.Options {
			r, _ := seal.NewKeyRing(ring.Primary(), otherKey)
			return instance.Options{MasterKey: string(r.Marshal())}
		}},
		{"QUERYGATE_MASTER_KEY, not a key", func(t *testing.T) instance.Options {
			return instance.Options{MasterKey: base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))}
		}},
		{"key file not valid", func(t *testing.T) instance.Options {
			p := filepath.Join(t.TempDir(), "bad.key")
			if err := os.WriteFile(p, []byte("querygate-keyring v1\nprimary k1\nkey k1 "+base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return instance.Options{KeyFile: p}
		}},
		{"key file is a directory", func(t *testing.T) instance.Options {
			return instance.Options{KeyFile: t.TempDir()}
		}},
		{"missing key file, CreateKey", func(t *testing.T) instance.Options {
			return instance.Options{KeyFile: filepath.Join(t.TempDir(), "master.key"), CreateKey: true}
		}},
		{"another salt", func(t *testing.T) instance.Options {
			return instance.Options{KeyFile: d.KeyFile(), Salt: "an-operator-salt-that-does-not-fit"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o(t)
			in, err := instance.Open(t.Context(), st, o)
			if in != nil {
				t.Error("Open returned an instance with its error")
			}
			wantCode(t, err, querygate.EKEY)
			if err != nil {
				for _, k := range []string{otherKey.Encode(), o.MasterKey, "c2l4dGVlbiBieXRlIGtleQ"} {
					if k != "" && strings.Contains(err.Error(), k) {
						t.Errorf("error %q holds key material", err)
					}
				}
			}
			if o.KeyFile != "" && o.KeyFile != d.KeyFile() && strings.HasSuffix(o.KeyFile, "master.key") {
				if _, err := os.Stat(o.KeyFile); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a key file was made for an existing store: %v", err)
				}
			}
		})
	}
	if after, err := os.ReadFile(d.KeyFile()); err != nil || !bytes.Equal(after, keyText) {
		t.Errorf("key file changed (%v)", err)
	}
	if after := instanceRows(t, st); !equalRows(after, before) {
		t.Error("instance settings changed")
	}
	MustOpen(t, st, d, instance.Options{})
}

// TestOpenDamagedStore refuses to start when the store's own sealed values
// do not open.
func TestOpenDamagedStore(t *testing.T) {
	for _, name := range []string{store.InstanceKeyCheck, store.InstanceRootKey} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			d, st, _ := MustNewDataDir(t)
			err := st.Update(ctx, func(tx store.Tx) error {
				b, err := tx.Instance(ctx, name)
				if err != nil {
					return err
				}
				b[len(b)-1] ^= 1
				return tx.SetInstance(ctx, name, b)
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = instance.Open(ctx, st, instance.Options{KeyFile: d.KeyFile()})
			wantCode(t, err, querygate.EKEY)
		})
	}
}

func TestOpenOperatorSalt(t *testing.T) {
	ctx := t.Context()
	const salt = "operator-salt-Zq8v1r7KpW2x"
	d := dataDir(t.TempDir())
	st := MustOpenStore(t, d)
	in := MustOpen(t, st, d, instance.Options{CreateKey: true, Salt: salt})
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, 2, want)

	err := st.View(ctx, func(tx store.Tx) error {
		if _, err := tx.Instance(ctx, store.InstanceSalt); querygate.ErrorCode(err) != querygate.ENOTFOUND {
			t.Errorf("salt row: got %v, want none (the operator's salt must not be stored)", err)
		}
		src, err := tx.Instance(ctx, store.InstanceSaltSource)
		if err != nil || string(src) != "operator" {
			t.Errorf("salt_source: got %q, %v; want operator", src, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range instanceRows(t, st) {
		if bytes.Contains(v, []byte(salt)) {
			t.Errorf("instance setting %s holds the salt", name)
		}
	}
	for _, p := range d.StoreFiles(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(salt)) {
			t.Errorf("%s holds the operator's salt", filepath.Base(p))
		}
	}

	tests := []struct {
		name string
		salt string
		code string
	}{
		{"no salt", "", querygate.EKEY},
		{"another salt", "operator-salt-Zq8v1r7KpW2y", querygate.EKEY},
		{"salt too short", "short", querygate.EINVALID},
		{"same salt", salt, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in2, err := instance.Open(ctx, st, instance.Options{KeyFile: d.KeyFile(), Salt: tt.salt})
			wantCode(t, err, tt.code)
			if err != nil && strings.Contains(err.Error(), salt) {
				t.Errorf("error %q holds the salt", err)
			}
			if tt.code == "" {
				checkSecrets(t, st, in2.Envelope, want)
				checkVerify(t, st, in2, 2+2)
			}
		})
	}
}

func TestOpenMasterKeyFromEnvironment(t *testing.T) {
	k := seal.GenerateKey()
	raw, err := base64.StdEncoding.DecodeString(k.Encode())
	if err != nil {
		t.Fatal(err)
	}
	d := dataDir(t.TempDir())
	st := MustOpenStore(t, d)
	in := MustOpen(t, st, d, instance.Options{MasterKey: k.Encode(), CreateKey: true})
	if _, err := os.Stat(d.KeyFile()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("key file: got %v, want none made when the key comes from the environment", err)
	}
	if got, want := storePrimary(t, st), seal.KeyIDFor(k); got != want {
		t.Errorf("store primary: got %q, want %q", got, want)
	}
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, 2, want)

	sameRing, err := seal.NewKeyRing(seal.KeyIDFor(k), k)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]instance.Options{
		"same base64":                  {MasterKey: k.Encode()},
		"url alphabet, unpadded":       {MasterKey: base64.RawURLEncoding.EncodeToString(raw)},
		"with a newline":               {MasterKey: k.Encode() + "\n"},
		"as a ring":                    {MasterKey: string(sameRing.Marshal())},
		"moved into a key file":        {KeyFile: writeKeyFile(t, sameRing)},
		"environment wins over a file": {MasterKey: k.Encode(), KeyFile: writeKeyFile(t, mustRing(t, seal.GenerateKey()))},
	} {
		t.Run(name, func(t *testing.T) {
			in2, err := instance.Open(t.Context(), st, o)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			checkSecrets(t, st, in2.Envelope, want)
			checkVerify(t, st, in2, 2+2)
		})
	}

	t.Run("rotation needs a key file", func(t *testing.T) {
		_, _, err := in.Rotate(t.Context(), st, instance.RotateOptions{})
		wantCode(t, err, querygate.EINVALID)
		if got := storePrimary(t, st); got != seal.KeyIDFor(k) {
			t.Errorf("store primary changed to %q", got)
		}
	})
}

func mustRing(tb testing.TB, k seal.Key) *seal.KeyRing {
	tb.Helper()
	r, err := seal.NewKeyRing(seal.GenerateKeyID(), k)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func writeKeyFile(tb testing.TB, r *seal.KeyRing) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "master.key")
	if err := instance.WriteKeyFile(p, r); err != nil {
		tb.Fatal(err)
	}
	return p
}

// instanceRows returns every instance setting the instance package keeps.
func instanceRows(tb testing.TB, st store.Store) map[string][]byte {
	tb.Helper()
	ctx := tb.Context()
	out := map[string][]byte{}
	err := st.View(ctx, func(tx store.Tx) error {
		for _, name := range []string{store.InstanceSalt, store.InstanceSaltSource, store.InstanceKeyCheck,
			store.InstanceRootKey, store.InstancePrimaryKey, store.InstanceCreatedAt} {
			v, err := tx.Instance(ctx, name)
			if querygate.ErrorCode(err) == querygate.ENOTFOUND {
				continue
			} else if err != nil {
				return err
			}
			out[name] = v
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func equalRows(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "master.key")
	r := mustRing(t, seal.GenerateKey())
	if err := instance.WriteKeyFile(p, r); err != nil {
		t.Fatalf("WriteKeyFile: %v", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode: got %v, want 0600", got)
	}
	got := mustReadKeyFile(t, p)
	if got.Primary() != r.Primary() || len(got.IDs()) != 1 {
		t.Errorf("ReadKeyFile: got %v, want %v", got, r)
	}

	// Overwriting a file someone made readable gives a 0600 file again,
	// and leaves no temporary file behind.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	r2, err := r.With(seal.GenerateKeyID(), seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := instance.WriteKeyFile(p, r2); err != nil {
		t.Fatalf("WriteKeyFile: %v", err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after overwrite: got %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if got := mustReadKeyFile(t, p); got.Primary() != r2.Primary() || len(got.IDs()) != 2 {
		t.Errorf("ReadKeyFile after overwrite: got %v, want %v", got, r2)
	}
	entries, err := os.ReadDir(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only master.key", names)
	}

	t.Run("missing", func(t *testing.T) {
		_, err := instance.ReadKeyFile(filepath.Join(dir, "absent.key"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadKeyFile: got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("not valid", func(t *testing.T) {
		k := seal.GenerateKey().Encode()
		bad := filepath.Join(dir, "bad.key")
		if err := os.WriteFile(bad, []byte("querygate-keyring v1\nkey k1 "+k+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := instance.ReadKeyFile(bad)
		wantCode(t, err, querygate.EKEY)
		if err != nil && strings.Contains(err.Error(), k) {
			t.Errorf("error %q holds the key", err)
		}
	})
}

func TestPrimaryKeyIDUninitialised(t *testing.T) {
	ctx := t.Context()
	st := MustOpenStore(t, dataDir(t.TempDir()))
	err := st.View(ctx, func(tx store.Tx) error {
		_, err := instance.PrimaryKeyID(ctx, tx)
		return err
	})
	wantCode(t, err, querygate.ENOTFOUND)
}

func TestDatasourceAD(t *testing.T) {
	if got, want := string(instance.DatasourceAD("ds_1")), "datasource/ds_1/secrets"; got != want {
		t.Errorf("DatasourceAD: got %q, want %q", got, want)
	}
}

// TestStolenStore plays the thief who copies the store files: the
// secrets are not in them in clear, and without the master key nothing in
// them opens, not even with the salt the store holds.
func TestStolenStore(t *testing.T) {
	ctx := t.Context()
	d, st, in := MustNewDataDir(t)
	want := newWantSecrets()
	MustCreateDatasources(t, st, in, 6, want)
	// One more, edited after creation, so that old and new versions of a
	// row both pass through the WAL.
	ids := want.ids()
	edited := secretsJSON(ids[0], canary("edited"))
	if err := updateDatasourceSecrets(ctx, st, in.Envelope, ids[0], edited); err != nil {
		t.Fatal(err)
	}
	var canaries []string
	for _, id := range ids {
		canaries = append(canaries, string(want.get(id)), strings.Split(string(want.get(id)), `"password":"`)[1][:20])
	}
	canaries = append(canaries, string(edited))
	want.set(ids[0], edited)
	keyText, err := os.ReadFile(d.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	masterB64 := strings.Fields(string(keyText[bytes.LastIndex(keyText, []byte("key ")):]))[2]
	masterRaw, err := base64.StdEncoding.DecodeString(masterB64)
	if err != nil {
		t.Fatal(err)
	}

	sweep := func(t *testing.T) {
		files := d.StoreFiles(t)
		if len(files) == 0 {
			t.Fatal("no store files")
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range canaries {
				if bytes.Contains(b, []byte(c)) {
					t.Errorf("%s holds the secret %q in clear", filepath.Base(p), c)
				}
			}
			if bytes.Contains(b, []byte(masterB64)) || bytes.Contains(b, masterRaw) {
				t.Errorf("%s holds the master key", filepath.Base(p))
			}
		}
	}
	if len(d.StoreFiles(t)) != 3 {
		t.Fatalf("store files while open: got %v, want the database, its WAL and shared-memory files", d.StoreFiles(t))
	}
	t.Run("files while open", sweep)

	// The thief's copy: the store files only.
	thief := dataDir(t.TempDir())
	for _, p := range d.StoreFiles(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(string(thief), filepath.Base(p)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("files after close", sweep)

	tst := MustOpenStore(t, thief)
	t.Run("open with another master key", func(t *testing.T) {
		for _, o := range []instance.Options{
			{MasterKey: seal.GenerateKey().Encode()},
			{KeyFile: thief.KeyFile(), CreateKey: true},
		} {
			_, err := instance.Open(ctx, tst, o)
			wantCode(t, err, querygate.EKEY)
		}
	})
	t.Run("envelope with the stored salt and another key", func(t *testing.T) {
		var salt []byte
		if err := tst.View(ctx, func(tx store.Tx) (err error) {
			salt, err = tx.Instance(ctx, store.InstanceSalt)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		primary := storePrimary(t, tst)
		for name, k := range map[string]seal.Key{
			"random key":   seal.GenerateKey(),
			"key of zeros": mustParseKey(t, base64.StdEncoding.EncodeToString(make([]byte, 32))),
		} {
			ring, err := seal.NewKeyRing(primary, k)
			if err != nil {
				t.Fatal(err)
			}
			env, err := seal.NewEnvelope(seal.EnvelopeOptions{Ring: ring, Salt: salt})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				blob, err := readSecrets(ctx, tst, id)
				if err != nil {
					t.Fatal(err)
				}
				if pt, err := env.Open(blob, instance.DatasourceAD(id)); !errors.Is(err, seal.ErrOpen) {
					t.Errorf("%s: datasource %s: got %q, %v; want ErrOpen", name, id, pt, err)
				}
			}
		}
	})
	t.Run("the owner's key still opens the copy", func(t *testing.T) {
		in2 := MustOpen(t, tst, thief, instance.Options{KeyFile: d.KeyFile()})
		checkSecrets(t, tst, in2.Envelope, want)
	})
}

func mustParseKey(tb testing.TB, s string) seal.Key {
	tb.Helper()
	k, err := seal.ParseKey(s)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestVerify(t *testing.T) {
	ctx := t.Context()
	const n = 4
	setup := func(t *testing.T) (*instance.Instance, store.Store, *wantSecrets) {
		_, st, in := MustNewDataDir(t)
		want := newWantSecrets()
		MustCreateDatasources(t, st, in, n, want)
		// A datasource without secrets is not counted.
		err := st.Update(ctx, func(tx store.Tx) error {
			return tx.CreateDatasource(ctx, &store.Datasource{ID: "ds_nosecrets", Name: "no secrets", Kind: "sqlite",
				Custody: "server", Settings: []byte(`{}`), CreatedAt: time.Now(), UpdatedAt: time.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		return in, st, want
	}

	t.Run("all good", func(t *testing.T) {
		in, st, _ := setup(t)
		checkVerify(t, st, in, 2+n)
	})

	tests := []struct {
		name    string
		corrupt func(blob, other []byte) []byte
	}{
		{"flipped bit", func(b, _ []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 0x10; return b }},
		{"truncated", func(b, _ []byte) []byte { return b[:len(b)-1] }},
		{"empty", func(b, _ []byte) []byte { return []byte{} }},
		{"removed", func(b, _ []byte) []byte { return nil }},
		{"garbage", func(b, _ []byte) []byte { return []byte("not a sealed value") }},
		{"copied from another datasource", func(_, other []byte) []byte { return other }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, st, want := setup(t)
			ids := want.ids()
			victim := ids[1]
			blob, err := readSecrets(ctx, st, victim)
			if err != nil {
				t.Fatal(err)
			}
			other, err := readSecrets(ctx, st, ids[2])
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Update(ctx, func(tx store.Tx) error {
				return tx.SetDatasourceSecrets(ctx, victim, tt.corrupt(blob, other))
			}); err != nil {
				t.Fatal(err)
			}
			checked, failures, err := in.Verify(ctx, st)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if checked != 2+n {
				t.Errorf("checked: got %d, want %d", checked, 2+n)
			}
			if len(failures) != 1 {
				t.Fatalf("failures: got %v, want one", failures)
			}
			if got, want := failures[0].Place, "datasource/"+victim+"/secrets"; got != want {
				t.Errorf("failure place: got %q, want %q", got, want)
			}
			if failures[0].Err == "" {
				t.Error("failure has no description")
			}
			for _, id := range ids {
				if strings.Contains(failures[0].Err, string(want.get(id))) {
					t.Errorf("failure description %q holds a secret", failures[0].Err)
				}
			}
		})
	}

	t.Run("instance values", func(t *testing.T) {
		for _, name := range []string{store.InstanceKeyCheck, store.InstanceRootKey} {
			in, st, _ := setup(t)
			if err := st.Update(ctx, func(tx store.Tx) error {
				b, err := tx.Instance(ctx, name)
				if err != nil {
					return err
				}
				b[len(b)-1] ^= 1
				return tx.SetInstance(ctx, name, b)
			}); err != nil {
				t.Fatal(err)
			}
			_, failures, err := in.Verify(ctx, st)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantPlace := map[string]string{store.InstanceKeyCheck: "instance/key-check", store.InstanceRootKey: "instance/root-key"}[name]
			if len(failures) != 1 || failures[0].Place != wantPlace {
				t.Errorf("%s corrupted: failures %v, want one at %s", name, failures, wantPlace)
			}
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		in, st, _ := setup(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { checkVerify(t, st, in, 2+n) })
		}
		wg.Wait()
	})
}

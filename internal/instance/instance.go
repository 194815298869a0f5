// Package instance opens the keys of one querygate instance: it loads the
// master key ring, keeps the per-instance salt, proves at start that the key
// and salt fit the store (the sealed key check), and runs key rotation and
// verification. It must never log, return or store key material in clear.
package instance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

const keyCheckText = "querygate key check v1"

// Places (associated data) of the instance's own sealed values.
var (
	keyCheckAD = []byte("instance/key-check")
	rootKeyAD  = []byte("instance/root-key")
	// SSOSecretAD binds the sealed OIDC client secret to its place.
	SSOSecretAD = []byte("instance/sso-secret")
)

// Options says where the master key comes from and which salt to use.
type Options struct {
	// KeyFile is the key ring file (default <data dir>/master.key).
	KeyFile string
	// MasterKey, when set, is the key ring text or a bare base64 key given
	// through QUERYGATE_MASTER_KEY; it wins over KeyFile.
	MasterKey string
	// Salt, when set, overrides the salt kept in the store (at least 16 bytes).
	Salt string
	// CreateKey allows making a new key file when none exists and the store
	// is new. Only serve and user add (first use) set it.
	CreateKey bool
	Logger    *slog.Logger
}

// Instance holds the opened keys of an instance.
type Instance struct {
	// Envelope seals and opens datasource secrets.
	Envelope *seal.Envelope
	// Cookies seals and opens cookies.
	Cookies *seal.Cookies
	// AuditKey authenticates the audit trail's hash chain.
	AuditKey seal.Key
	keyFile  string
	fromEnv  bool
}

// Open loads the key ring, initialises the store's instance settings on
// first use, and proves the key and salt fit the store. It refuses, with an
// EKEY error, a key or salt that cannot open the store's key check: nothing
// ever runs with secrets it cannot open.
func Open(ctx context.Context, st store.Store, o Options) (*Instance, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Salt != "" && len(o.Salt) < 16 {
		return nil, querygate.Errorf(querygate.EINVALID, "The encryption salt must be at least 16 characters.")
	}
	var initialised bool
	if err := st.View(ctx, func(tx store.Tx) error {
		_, err := tx.Instance(ctx, store.InstanceSalt)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			_, err = tx.Instance(ctx, store.InstanceSaltSource)
		}
		initialised = err == nil
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return nil
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}

	ring, reload, err := loadRing(o, initialised)
	if err != nil {
		return nil, err
	}

	var salt []byte
	var inst *Instance
	err = st.Update(ctx, func(tx store.Tx) error {
		src, err := tx.Instance(ctx, store.InstanceSaltSource)
		switch {
		case querygate.ErrorCode(err) == querygate.ENOTFOUND:
			return initialise(ctx, tx, ring, o, &salt, &inst, reload)
		case err != nil:
			return err
		}
		if string(src) == "operator" {
			if o.Salt == "" {
				return querygate.Errorf(querygate.EKEY, "This store was set up with an operator-provided encryption salt; set QUERYGATE_ENCRYPTION_SALT (or --encryption-salt) to it.")
			}
			salt = []byte(o.Salt)
		} else if o.Salt != "" {
			salt = []byte(o.Salt)
		} else if salt, err = tx.Instance(ctx, store.InstanceSalt); err != nil {
			return err
		}
		inst, err = prove(ctx, tx, ring, salt, reload)
		return err
	})
	if err != nil {
		return nil, err
	}
	inst.keyFile, inst.fromEnv = o.KeyFile, o.MasterKey != ""
	return inst, nil
}

func initialise(ctx context.Context, tx store.Tx, ring *seal.KeyRing, o Options, salt *[]byte, inst **Instance, reload func() (*seal.KeyRing, error)) error {
	source := "store"
	if o.Salt != "" {
		*salt, source = []byte(o.Salt), "operator"
	} else {
		*salt = make([]byte, 32)
		rand.Read(*salt)
		if err := tx.SetInstance(ctx, store.InstanceSalt, *salt); err != nil {
			return err
		}
	}
	env, err := seal.NewEnvelope(seal.EnvelopeOptions{Ring: ring, Salt: *salt, Reload: reload})
	if err != nil {
		return err
	}
	check, err := env.Seal(ring.Primary(), []byte(keyCheckText), keyCheckAD)
	if err != nil {
		return err
	}
	root := seal.GenerateKey()
	sealedRoot, err := env.SealKey(ring.Primary(), root, rootKeyAD)
	if err != nil {
		return err
	}
	for name, v := range map[string][]byte{
		store.InstanceSaltSource: []byte(source),
		store.InstanceKeyCheck:   check,
		store.InstanceRootKey:    sealedRoot,
		store.InstancePrimaryKey: []byte(ring.Primary()),
		store.InstanceCreatedAt:  []byte(time.Now().UTC().Format(time.RFC3339)),
	} {
		if err := tx.SetInstance(ctx, name, v); err != nil {
			return err
		}
	}
	*inst = newInstance(env, root, *salt)
	return nil
}

var errKeyMismatch = querygate.Errorf(querygate.EKEY,
	"The master key or the encryption salt does not match this store, so its secrets cannot be opened. "+
		"Check --master-key-file / QUERYGATE_MASTER_KEY and QUERYGATE_ENCRYPTION_SALT; querygate will not start with keys that cannot open its secrets.")

// prove opens the key check and the root key.
func prove(ctx context.Context, tx store.Tx, ring *seal.KeyRing, salt []byte, reload func() (*seal.KeyRing, error)) (*Instance, error) {
	env, err := seal.NewEnvelope(seal.EnvelopeOptions{Ring: ring, Salt: salt, Reload: reload})
	if err != nil {
		return nil, err
	}
	check, err := tx.Instance(ctx, store.InstanceKeyCheck)
	if err != nil {
		return nil, err
	}
	pt, err := env.Open(check, keyCheckAD)
	if err != nil || string(pt) != keyCheckText {
		return nil, errKeyMismatch
	}
	sealedRoot, err := tx.Instance(ctx, store.InstanceRootKey)
	if err != nil {
		return nil, err
	}
	root, err := env.OpenKey(sealedRoot, rootKeyAD)
	if err != nil {
		return nil, errKeyMismatch
	}
	return newInstance(env, root, salt), nil
}

// newInstance derives the per-purpose keys from the root key.
func newInstance(env *seal.Envelope, root seal.Key, salt []byte) *Instance {
	return &Instance{Envelope: env, Cookies: seal.NewCookies(root, salt), AuditKey: seal.DeriveKey(root, salt, "querygate/audit/v1")}
}

// loadRing reads the key ring from the environment or the key file, making
// a new key file only for a store that has never been initialised.
func loadRing(o Options, initialised bool) (*seal.KeyRing, func() (*seal.KeyRing, error), error) {
	if o.MasterKey != "" {
		ring, err := seal.ParseKeyRing([]byte(o.MasterKey))
		if err != nil {
			return nil, nil, querygate.Errorf(querygate.EKEY, "QUERYGATE_MASTER_KEY is not a valid key: %s", safeKeyErr(err))
		}
		return ring, nil, nil
	}
	if o.KeyFile == "" {
		return nil, nil, errors.New("instance: no master key file")
	}
	reload := func() (*seal.KeyRing, error) { return ReadKeyFile(o.KeyFile) }
	ring, err := ReadKeyFile(o.KeyFile)
	if err == nil {
		if fi, serr := os.Stat(o.KeyFile); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			o.Logger.Warn("master key file is readable by other users; run chmod 600 on it", "path", o.KeyFile, "mode", fi.Mode().Perm().String())
		}
		return ring, reload, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if initialised {
		return nil, nil, querygate.Errorf(querygate.EKEY,
			"The master key file %s is missing, but this store already holds sealed secrets. Restore the key file from your backup (or set QUERYGATE_MASTER_KEY); querygate will not make a new key for an existing store.", o.KeyFile)
	}
	if !o.CreateKey {
		return nil, nil, querygate.Errorf(querygate.EKEY, "The master key file %s does not exist. Start the gateway once (querygate serve) to create it.", o.KeyFile)
	}
	ring, err = seal.NewKeyRing(seal.GenerateKeyID(), seal.GenerateKey())
	if err != nil {
		return nil, nil, err
	}
	if err := createKeyFile(o.KeyFile, ring); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, nil, err
		}
		// Another process starting on this data dir made the key file
		// first: use its key, never replace it.
		if ring, err = ReadKeyFile(o.KeyFile); err != nil {
			return nil, nil, err
		}
		return ring, reload, nil
	}
	o.Logger.Warn("created a new master key file: BACK IT UP NOW and keep it apart from the store; without it no sealed secret can ever be opened",
		"path", o.KeyFile, "key_id", ring.Primary())
	return ring, reload, nil
}

func safeKeyErr(err error) string {
	// seal's errors never echo key material; strip the package prefix.
	s := err.Error()
	if len(s) > 6 && s[:6] == "seal: " {
		s = s[6:]
	}
	return s
}

// ReadKeyFile reads and parses a key ring file.
func ReadKeyFile(path string) (*seal.KeyRing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("instance: key file %s: %w", path, fs.ErrNotExist)
		}
		return nil, querygate.Errorf(querygate.EKEY, "The master key file %s cannot be read: %v", path, errors.Unwrap(err))
	}
	ring, err := seal.ParseKeyRing(b)
	if err != nil {
		return nil, querygate.Errorf(querygate.EKEY, "The master key file %s is not valid: %s", path, safeKeyErr(err))
	}
	return ring, nil
}

// WriteKeyFile writes the ring atomically (temporary file, fsync, rename,
// fsync of the directory) with mode 0600, so that a crash leaves either the
// old or the new file, never a torn one.
func WriteKeyFile(path string, ring *seal.KeyRing) error {
	return writeKeyFile(path, ring, os.Rename)
}

// createKeyFile writes a new key file as WriteKeyFile does, but never
// replaces one: if the file exists, it fails with an error matching
// fs.ErrExist. Two processes starting at once on a new data dir each make a
// key; if the second replaced the file, the store would be sealed under a
// key that no file holds.
func createKeyFile(path string, ring *seal.KeyRing) error {
	return writeKeyFile(path, ring, func(tmp, path string) error {
		// link(2) fails if path exists, and publishes the whole, synced
		// file at once.
		err := os.Link(tmp, path)
		if err == nil || errors.Is(err, fs.ErrExist) {
			return err
		}
		// No hard links on this file system: create the file exclusively
		// instead (a crash while writing it can then leave it torn, which
		// the next start refuses to use).
		b, rerr := os.ReadFile(tmp)
		if rerr != nil {
			return err
		}
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if ferr != nil {
			return ferr
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// writeKeyFile writes the ring to a synced temporary file of mode 0600 in
// the directory of path, then calls publish to put it in place.
func writeKeyFile(path string, ring *seal.KeyRing, publish func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("instance: key file: %w", err)
	}
	f, err := os.CreateTemp(dir, ".master.key-*")
	if err != nil {
		return fmt.Errorf("instance: key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("instance: key file: %w", err)
	}
	if _, err := f.Write(ring.Marshal()); err != nil {
		f.Close()
		return fmt.Errorf("instance: key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("instance: key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("instance: key file: %w", err)
	}
	if err := publish(tmp, path); err != nil {
		return fmt.Errorf("instance: key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// PrimaryKeyID returns the id of the master key new seals must use, as the
// store records it. Reading it inside the write transaction that seals is
// what keeps rotation safe against concurrent writers.
func PrimaryKeyID(ctx context.Context, tx store.Tx) (string, error) {
	b, err := tx.Instance(ctx, store.InstancePrimaryKey)
	if err != nil {
		return "", fmt.Errorf("instance: primary key id: %w", err)
	}
	return string(b), nil
}

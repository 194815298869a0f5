package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// DatasourceAD is the place (associated data) of a datasource's sealed
// secrets: a blob copied to another row fails to open.
func DatasourceAD(id string) []byte { return []byte("datasource/" + id + "/secrets") }

// Failure is one sealed value that could not be opened.
type Failure struct {
	Place string // for example "datasource/ds.../secrets"
	Err   string // a safe description, never key material
}

// Verify opens every sealed value in the store and returns the ones that
// fail, and how many were checked.
func (in *Instance) Verify(ctx context.Context, st store.Store) (checked int, failures []Failure, err error) {
	err = st.View(ctx, func(tx store.Tx) error {
		for _, p := range sealedSettings {
			b, err := tx.Instance(ctx, p.name)
			if p.optional && querygate.ErrorCode(err) == querygate.ENOTFOUND {
				continue
			} else if err != nil {
				return err
			}
			checked++
			if _, err := in.Envelope.Open(b, p.ad); err != nil {
				failures = append(failures, Failure{Place: string(p.ad), Err: err.Error()})
			}
		}
		list, err := tx.ListDatasources(ctx)
		if err != nil {
			return err
		}
		for _, d := range list {
			if d.Secrets == nil {
				// A row that names secrets but holds no sealed value lost
				// them: report it rather than let it run without them.
				if len(d.SecretNames) > 0 {
					checked++
					failures = append(failures, Failure{Place: string(DatasourceAD(d.ID)), Err: "secrets are configured but no sealed value is stored"})
				}
				continue
			}
			checked++
			if _, err := in.Envelope.Open(d.Secrets, DatasourceAD(d.ID)); err != nil {
				failures = append(failures, Failure{Place: string(DatasourceAD(d.ID)), Err: err.Error()})
			}
		}
		return nil
	})
	return checked, failures, err
}

// sealedSettings are the instance settings that hold sealed values.
var sealedSettings = []struct {
	name     string
	ad       []byte
	optional bool // absent until configured
}{
	{store.InstanceKeyCheck, keyCheckAD, false},
	{store.InstanceRootKey, rootKeyAD, false},
	{store.InstanceSSOSecret, SSOSecretAD, true},
}

// RotateOptions configures Rotate.
type RotateOptions struct {
	Logger *slog.Logger
	// Step, if set, is called before each step with its name; a non-nil
	// error stops the rotation there, as a crash would. Tests use it.
	Step func(step string) error
}

// Rotate adds a new master key to the key file, makes it primary, re-seals
// every data key under it (the data itself is not re-encrypted), and then
// retires the old keys. It runs while gateways keep serving: they re-read the
// key file when they meet a key id they do not hold, and they seal under the
// primary key id the store names, which Rotate switches before re-sealing.
// It is safe to run again after a crash: it resumes with the newest key.
func (in *Instance) Rotate(ctx context.Context, st store.Store, o RotateOptions) (newID string, resealed int, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	step := func(name string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.Step != nil {
			return o.Step(name)
		}
		return nil
	}
	if in.fromEnv {
		return "", 0, querygate.Errorf(querygate.EINVALID, "Key rotation needs a key file; the master key was given through QUERYGATE_MASTER_KEY. Move it into a key file (--master-key-file) first.")
	}
	unlock, err := lockFile(in.keyFile + ".lock")
	if err != nil {
		return "", 0, err
	}
	defer unlock()

	ring, err := ReadKeyFile(in.keyFile)
	if err != nil {
		return "", 0, err
	}
	if len(ring.IDs()) > 1 {
		newID = ring.Primary()
		o.Logger.InfoContext(ctx, "resuming an unfinished key rotation", "new_key_id", newID)
	} else {
		if err := step("add-key"); err != nil {
			return "", 0, err
		}
		newID = seal.GenerateKeyID()
		if ring, err = ring.With(newID, seal.GenerateKey()); err != nil {
			return "", 0, err
		}
		if err := WriteKeyFile(in.keyFile, ring); err != nil {
			return "", 0, err
		}
		o.Logger.InfoContext(ctx, "added a new master key to the key file", "new_key_id", newID)
	}
	if err := in.Envelope.Reload(); err != nil {
		return "", 0, err
	}

	if err := step("switch-primary"); err != nil {
		return newID, 0, err
	}
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.SetInstance(ctx, store.InstancePrimaryKey, []byte(newID))
	}); err != nil {
		return newID, 0, fmt.Errorf("instance: rotate: %w", err)
	}

	// Re-seal until a full pass finds nothing under an old key. Writers
	// that committed before the switch are seen by the first pass; writers
	// after it already seal under newID.
	for pass := 0; ; pass++ {
		n, err := in.resealPass(ctx, st, newID, step)
		resealed += n
		if err != nil {
			return newID, resealed, err
		}
		if n == 0 {
			break
		}
		if pass == 5 {
			return newID, resealed, errors.New("instance: rotate: values keep appearing under an old key; run keys rotate again")
		}
	}

	// Before the old key goes, make sure the data keys it wrapped are gone
	// from the store files too: the replaced rows are zeroed in the
	// database file (the store runs with secure_delete) and the
	// write-ahead log, which still holds the pages as they were, is
	// emptied. Otherwise a copy of today's store files plus the retired
	// key would still open every secret.
	if err := step("checkpoint"); err != nil {
		return newID, resealed, err
	}
	if err := checkpoint(ctx, st); err != nil {
		return newID, resealed, err
	}

	if err := step("retire-old"); err != nil {
		return newID, resealed, err
	}
	for _, id := range ring.IDs() {
		if id != newID {
			if ring, err = ring.Without(id); err != nil {
				return newID, resealed, err
			}
			o.Logger.InfoContext(ctx, "retired a master key", "key_id", id)
		}
	}
	if err := WriteKeyFile(in.keyFile, ring); err != nil {
		return newID, resealed, err
	}
	return newID, resealed, in.Envelope.Reload()
}

// Checkpointer is a store that keeps a write-ahead log beside its data
// and can empty it into the data file (the SQLite store).
type Checkpointer interface {
	Checkpoint(ctx context.Context) error
}

// checkpoint empties the store's write-ahead log, retrying a few times while
// readers keep it busy. A store without one has nothing to do.
func checkpoint(ctx context.Context, st store.Store) error {
	c, ok := st.(Checkpointer)
	if !ok {
		return nil
	}
	var err error
	for try := range 5 {
		if err = c.Checkpoint(ctx); querygate.ErrorCode(err) != querygate.EUNAVAILABLE {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(try+1) * 200 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("instance: rotate: empty the write-ahead log (run keys rotate again): %w", err)
	}
	return nil
}

// resealPass rewraps every sealed value not under newID, one transaction per
// value, and returns how many it rewrapped.
func (in *Instance) resealPass(ctx context.Context, st store.Store, newID string, step func(string) error) (int, error) {
	n := 0
	for _, p := range sealedSettings {
		if err := step("reseal " + string(p.ad)); err != nil {
			return n, err
		}
		done, err := in.rewrapOne(ctx, st, newID,
			func(tx store.Tx) ([]byte, error) {
				b, err := tx.Instance(ctx, p.name)
				if p.optional && querygate.ErrorCode(err) == querygate.ENOTFOUND {
					return nil, nil
				}
				return b, err
			},
			func(tx store.Tx, b []byte) error { return tx.SetInstance(ctx, p.name, b) }, p.ad)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	var ids []string
	if err := st.View(ctx, func(tx store.Tx) error {
		list, err := tx.ListDatasources(ctx)
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		return err
	}); err != nil {
		return n, err
	}
	for _, id := range ids {
		if err := step("reseal datasource/" + id); err != nil {
			return n, err
		}
		done, err := in.rewrapOne(ctx, st, newID,
			func(tx store.Tx) ([]byte, error) {
				d, err := tx.FindDatasource(ctx, id)
				if querygate.ErrorCode(err) == querygate.ENOTFOUND {
					return nil, nil // deleted meanwhile
				} else if err != nil {
					return nil, err
				}
				return d.Secrets, nil
			},
			func(tx store.Tx, b []byte) error { return tx.SetDatasourceSecrets(ctx, id, b) }, DatasourceAD(id))
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

func (in *Instance) rewrapOne(ctx context.Context, st store.Store, newID string, get func(store.Tx) ([]byte, error), set func(store.Tx, []byte) error, ad []byte) (bool, error) {
	done := false
	err := st.Update(ctx, func(tx store.Tx) error {
		b, err := get(tx)
		if err != nil || b == nil {
			return err
		}
		id, err := seal.BlobKeyID(b)
		if err != nil {
			return fmt.Errorf("instance: rotate %s: %w", ad, err)
		}
		if id == newID {
			return nil
		}
		nb, err := in.Envelope.Rewrap(b, ad, newID)
		if err != nil {
			return fmt.Errorf("instance: rotate %s: %w", ad, err)
		}
		done = true
		return set(tx, nb)
	})
	return done, err
}

// lockFile takes an exclusive advisory lock so that two rotations never run
// at once on one key file.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("instance: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, querygate.Errorf(querygate.ECONFLICT, "Another key rotation is running on this key file.")
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

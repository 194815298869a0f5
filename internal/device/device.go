// Package device implements device custody (DESIGN section 3, promise P5):
// a datasource password sealed with a random key K that only the user's
// device holds, inside a sealed cookie. The store keeps only the
// ciphertext, so neither the server alone nor a thief with the store and
// the master key can open it.
//
// K is made by crypto/rand at unlock, put in the cookie and forgotten: it
// is never stored, logged or returned in a body. Each request brings the
// cookie; Open gives the password for that request only.
package device

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// MaxRemember is the longest a device may stay unlocked.
const MaxRemember = 60 * 24 * time.Hour

// MaxPassword bounds a password given at unlock.
const MaxPassword = 4096

// MaxDevices is how many devices one user keeps unlocked for one
// datasource. An unlock beyond it forgets the device unused for longest
// rather than refuse: a browser closed without "forget" leaves its
// credential until it expires (up to MaxRemember), so refusing would lock
// people out of a new device for credentials they can no longer use,
// while the forgotten device only has to enter the password again.
const MaxDevices = 10

// Options configure a Service.
type Options struct {
	Store   store.Store
	Cookies *seal.Cookies
	// Secure is true when serving HTTPS: cookie names then carry the
	// __Host- prefix.
	Secure bool
	// Remember is how long a device stays unlocked with "remember" (at
	// most MaxRemember); Session is how long it does without (the cookie
	// is then a browser-session cookie, and the sealed expiry bounds it).
	Remember time.Duration
	Session  time.Duration
	Now      func() time.Time
}

// Service unlocks, opens and forgets device credentials.
type Service struct {
	o Options
}

// NewService returns a Service.
func NewService(o Options) *Service {
	if o.Remember <= 0 || o.Remember > MaxRemember {
		o.Remember = MaxRemember
	}
	if o.Session <= 0 || o.Session > o.Remember {
		o.Session = min(12*time.Hour, o.Remember)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o}
}

// CookiePrefix is the start of every device cookie's name.
func (s *Service) CookiePrefix() string {
	if s.o.Secure {
		return "__Host-qg-dk-"
	}
	return "qg-dk-"
}

// CookieName is the name of the device cookie of a datasource.
func (s *Service) CookieName(datasourceID string) string { return s.CookiePrefix() + datasourceID }

// Record is a device credential as the store keeps it: its metadata and
// the password sealed under the device's key (never the key).
type Record = store.DeviceCredential

// Cookie is a device cookie to set.
type Cookie struct {
	Name, Value string
	Expires     time.Time
	// Persistent is true for "remember": the cookie then carries Expires;
	// otherwise it is a browser-session cookie.
	Persistent bool
}

// Credential is an opened device credential, for one request.
type Credential struct {
	ID       string
	Password seal.Secret
}

// Locked is the refusal for a missing, altered, expired, moved or
// forgotten device cookie: one answer for all, so nothing is revealed.
func Locked() error {
	return querygate.Errorf(querygate.EDEVICELOCKED, "This datasource's password is kept on your devices only: enter it on this device to unlock the datasource.")
}

// ad binds a sealed password to its datasource, user and device.
func ad(datasourceID, userID, deviceID string) []byte {
	return []byte("device/" + datasourceID + "/" + userID + "/" + deviceID)
}

// newID returns a random device id.
func newID() string { return "dv" + strings.ToLower(rand.Text()) }

// Unlock seals password for userID on datasourceID with a fresh key K,
// stores the ciphertext, and returns the cookie that carries K. The caller
// has tested the password against the datasource first. When the user
// already has MaxDevices devices unlocked for the datasource, the ones
// unused for longest are forgotten in the same transaction; their ids are
// returned in forgotten.
func (s *Service) Unlock(ctx context.Context, userID, datasourceID string, password seal.Secret, remember bool) (c Cookie, d *store.DeviceCredential, forgotten []string, err error) {
	if password.IsZero() {
		return Cookie{}, nil, nil, querygate.FieldErrorf("password", "password: must not be empty")
	}
	if len(password.Reveal()) > MaxPassword {
		return Cookie{}, nil, nil, querygate.FieldErrorf("password", "password: at most %d bytes", MaxPassword)
	}
	now := s.o.Now().UTC().Truncate(time.Millisecond)
	ttl := s.o.Session
	if remember {
		ttl = s.o.Remember
	}
	k := seal.GenerateKey()
	d = &store.DeviceCredential{
		ID: newID(), UserID: userID, DatasourceID: datasourceID,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	d.Sealed = seal.SealWithKey(k, []byte(password.Reveal()), ad(datasourceID, userID, d.ID))
	err = s.o.Store.Update(ctx, func(tx store.Tx) error {
		forgotten = nil // the transaction may be retried
		if err := tx.DeleteExpiredDeviceCredentials(ctx, now); err != nil {
			return err
		}
		list, err := tx.ListDeviceCredentials(ctx, userID, datasourceID)
		if err != nil {
			return err
		}
		slices.SortFunc(list, func(a, b *store.DeviceCredential) int { return lastUse(a).Compare(lastUse(b)) })
		for _, old := range list[:max(0, len(list)-(MaxDevices-1))] {
			if err := tx.DeleteDeviceCredential(ctx, old.ID); err != nil {
				return err
			}
			forgotten = append(forgotten, old.ID)
		}
		return tx.CreateDeviceCredential(ctx, d)
	})
	if err != nil {
		return Cookie{}, nil, nil, err
	}
	name := s.CookieName(datasourceID)
	c = Cookie{Name: name, Value: s.o.Cookies.Seal(name, []byte(k.Encode()+"."+d.ID), d.ExpiresAt),
		Expires: d.ExpiresAt, Persistent: remember}
	return c, d, forgotten, nil
}

// lastUse is when a device credential was last used, or made.
func lastUse(d *store.DeviceCredential) time.Time {
	if d.LastUsedAt.After(d.CreatedAt) {
		return d.LastUsedAt
	}
	return d.CreatedAt
}

// payload reads a device cookie: the key K and the device id.
func (s *Service) payload(datasourceID, value string) (seal.Key, string, error) {
	b, _, err := s.o.Cookies.Open(s.CookieName(datasourceID), value)
	if err != nil {
		return seal.Key{}, "", Locked()
	}
	enc, id, ok := strings.Cut(string(b), ".")
	if !ok {
		return seal.Key{}, "", Locked()
	}
	k, err := seal.ParseKey(enc)
	if err != nil {
		return seal.Key{}, "", Locked()
	}
	return k, id, nil
}

// Open returns the password of a device credential for one request: the
// cookie must open, name a credential of this user and datasource that is
// not expired, and its key must open the ciphertext.
func (s *Service) Open(ctx context.Context, userID, datasourceID, cookieValue string) (Credential, error) {
	k, id, err := s.payload(datasourceID, cookieValue)
	if err != nil {
		return Credential{}, err
	}
	var d *store.DeviceCredential
	err = s.o.Store.View(ctx, func(tx store.Tx) error {
		var err error
		d, err = tx.FindDeviceCredential(ctx, id)
		return err
	})
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return Credential{}, Locked()
	} else if err != nil {
		return Credential{}, err
	}
	now := s.o.Now()
	if d.UserID != userID || d.DatasourceID != datasourceID || !now.Before(d.ExpiresAt) {
		return Credential{}, Locked()
	}
	pw, err := seal.OpenWithKey(k, d.Sealed, ad(datasourceID, userID, id))
	if err != nil {
		return Credential{}, Locked()
	}
	if now.Sub(d.LastUsedAt) > time.Minute {
		// Best effort: a failed touch must not fail the query.
		s.o.Store.Update(ctx, func(tx store.Tx) error {
			return tx.TouchDeviceCredential(ctx, id, now.UTC().Truncate(time.Millisecond))
		})
	}
	return Credential{ID: id, Password: seal.NewSecret(string(pw))}, nil
}

// CookieDevice returns the device id a valid cookie names.
func (s *Service) CookieDevice(datasourceID, cookieValue string) (string, bool) {
	_, id, err := s.payload(datasourceID, cookieValue)
	return id, err == nil
}

// Forget deletes the credential a device cookie names, when the cookie is
// valid (which proves the caller holds it), and returns its id. An invalid
// cookie forgets nothing.
func (s *Service) Forget(ctx context.Context, datasourceID, cookieValue string) (string, bool) {
	_, id, err := s.payload(datasourceID, cookieValue)
	if err != nil {
		return "", false
	}
	err = s.o.Store.Update(ctx, func(tx store.Tx) error { return tx.DeleteDeviceCredential(ctx, id) })
	return id, err == nil
}

// List returns the credentials of a user, or of a datasource (either may
// be empty), without their ciphertext.
func (s *Service) List(ctx context.Context, userID, datasourceID string) ([]*store.DeviceCredential, error) {
	var out []*store.DeviceCredential
	err := s.o.Store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListDeviceCredentials(ctx, userID, datasourceID)
		return err
	})
	for _, d := range out {
		d.Sealed = nil
	}
	return out, err
}

// Find returns one credential without its ciphertext.
func (s *Service) Find(ctx context.Context, id string) (*store.DeviceCredential, error) {
	var d *store.DeviceCredential
	err := s.o.Store.View(ctx, func(tx store.Tx) error {
		var err error
		d, err = tx.FindDeviceCredential(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.Sealed = nil
	return d, nil
}

// Delete deletes one credential.
func (s *Service) Delete(ctx context.Context, id string) error {
	return s.o.Store.Update(ctx, func(tx store.Tx) error { return tx.DeleteDeviceCredential(ctx, id) })
}

// DeleteAll deletes every credential of a datasource (an admin's "revoke
// every device") and returns their ids.
func (s *Service) DeleteAll(ctx context.Context, datasourceID string) ([]string, error) {
	var ids []string
	err := s.o.Store.Update(ctx, func(tx store.Tx) error {
		list, err := tx.ListDeviceCredentials(ctx, "", datasourceID)
		if err != nil {
			return err
		}
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		_, err = tx.DeleteDeviceCredentials(ctx, "", datasourceID)
		return err
	})
	return ids, err
}

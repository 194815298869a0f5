package datasource

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// Service is the datasource catalogue.
type Service struct {
	store     store.Store
	env       *seal.Envelope
	now       func() time.Time
	preflight func(ctx context.Context, kind string, settings map[string]any) error
	kinds     *kind.Registry

	// rows keeps datasource rows by id, and levels the grant levels per
	// user and datasource, while the store's change sequence stays the
	// same: every change to datasources, grants, groups or users (on any
	// replica) raises it, so a revoked grant stops working at the next
	// request.
	rows   *store.Cache[string, *store.Datasource]
	levels *store.Cache[levelsKey, map[string]string]
}

type levelsKey struct{ userID, datasourceID string }

// maxCached bounds each cache of the catalogue.
const maxCached = 10000

// ServiceOptions configures NewService.
type ServiceOptions struct {
	Store    store.Store
	Envelope *seal.Envelope
	// Preflight, when set, checks a datasource's kind and settings before
	// a create or a settings change is stored: the operator's network and
	// TLS rules, told before any connection is tried.
	Preflight func(ctx context.Context, kind string, settings map[string]any) error
	// Kinds are the kinds the gateway serves (the one list main makes).
	Kinds *kind.Registry
}

// NewService returns the catalogue.
func NewService(o ServiceOptions) *Service {
	if o.Kinds == nil {
		o.Kinds = kind.NewRegistry()
	}
	return &Service{store: o.Store, env: o.Envelope, now: nowMS, preflight: o.Preflight, kinds: o.Kinds,
		rows: store.NewCache[string, *store.Datasource](maxCached), levels: store.NewCache[levelsKey, map[string]string](maxCached)}
}

// CreateInput is what a caller gives to create a datasource.
type CreateInput struct {
	Name     string                     `json:"name"`
	Kind     string                     `json:"kind"`
	Custody  string                     `json:"custody"`
	ReadOnly bool                       `json:"read_only"`
	Settings map[string]json.RawMessage `json:"settings"`
	Secrets  map[string]json.RawMessage `json:"secrets"`
}

// UpdateInput is a partial update. Absent fields keep their value. In
// Settings, null resets a field to its default. In Secrets, an absent field
// keeps the stored secret, a value replaces it and null clears it.
type UpdateInput struct {
	Name     *string                    `json:"name"`
	Kind     *string                    `json:"kind"`
	Custody  *string                    `json:"custody"`
	ReadOnly *bool                      `json:"read_only"`
	Settings map[string]json.RawMessage `json:"settings"`
	Secrets  map[string]json.RawMessage `json:"secrets"`
}

// NewID returns a fresh datasource id: "ds" and 16 characters of a-z2-7,
// usable in a cookie name.
func NewID() string { return newID("ds") }

func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

var isNull = func(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// applySettings validates the given settings over base (nil for a new
// datasource) and returns the result with defaults filled in.
func applySettings(k *Kind, base map[string]any, in map[string]json.RawMessage) (map[string]any, error) {
	out := map[string]any{}
	maps.Copy(out, base)
	for _, name := range slices.Sorted(maps.Keys(in)) {
		f, ok := k.Field(name)
		if !ok {
			return nil, querygate.FieldErrorf("settings."+name, "settings.%s: is not a setting of a %s datasource", name, k.Name)
		}
		if f.Secret {
			return nil, querygate.FieldErrorf("settings."+name, "settings.%s: is a secret; send it in secrets", name)
		}
		if isNull(in[name]) {
			delete(out, name)
			continue
		}
		v, err := decodeValue("settings", f, in[name])
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	for _, f := range k.Fields {
		if f.Secret {
			continue
		}
		if _, ok := out[f.Name]; !ok {
			if f.Required {
				return nil, querygate.FieldErrorf("settings."+f.Name, "settings.%s: is required", f.Name)
			}
			if f.Default != nil {
				out[f.Name] = f.Default
			}
		}
	}
	return out, nil
}

// applySecrets validates the given secrets over base.
func applySecrets(k *Kind, custody string, base Secrets, in map[string]json.RawMessage) (Secrets, error) {
	out := Secrets{m: map[string]any{}}
	maps.Copy(out.m, base.m)
	for _, name := range slices.Sorted(maps.Keys(in)) {
		f, ok := k.Field(name)
		if !ok {
			return Secrets{}, querygate.FieldErrorf("secrets."+name, "secrets.%s: is not a secret of a %s datasource", name, k.Name)
		}
		if !f.Secret {
			return Secrets{}, querygate.FieldErrorf("secrets."+name, "secrets.%s: is not secret; send it in settings", name)
		}
		if isNull(in[name]) {
			delete(out.m, name)
			continue
		}
		if custody == CustodyDevice && name == k.DevicePassword {
			return Secrets{}, querygate.FieldErrorf("secrets."+name, "secrets.%s: this datasource is in device custody: the %s is entered on each device (unlock), never stored on the server", name, name)
		}
		v, err := decodeValue("secrets", f, in[name])
		if err != nil {
			return Secrets{}, err
		}
		switch v := v.(type) {
		case string:
			out.m[name] = seal.NewSecret(v)
		case map[string]string:
			h := make(map[string]seal.Secret, len(v))
			for hk, hv := range v {
				h[hk] = seal.NewSecret(hv)
			}
			out.m[name] = h
		}
	}
	return out, nil
}

// crossCheck applies rules that span fields.
func crossCheck(k *Kind, settings map[string]any, secrets Secrets) error {
	if k.Name != KindHTTP {
		return nil
	}
	if _, ok := secrets.Get("basic_password"); ok && settings["basic_user"] == nil {
		return querygate.FieldErrorf("settings.basic_user", "settings.basic_user: is required with a basic auth password")
	}
	if _, ok := secrets.Get("api_key"); ok && settings["api_key_name"] == nil {
		return querygate.FieldErrorf("settings.api_key_name", "settings.api_key_name: is required with an API key")
	}
	return nil
}

func validCustody(c string) (string, error) {
	switch c {
	case "":
		return CustodyServer, nil
	case CustodyServer, CustodyDevice:
		return c, nil
	}
	return "", querygate.FieldErrorf("custody", "custody: must be %q or %q", CustodyServer, CustodyDevice)
}

// Kinds returns the kinds the gateway serves, in a stable order.
func (s *Service) Kinds() []*Kind { return s.kinds.All() }

// CreatableKinds returns the kinds a datasource can be created of (the
// kinds not turned off), in a stable order: the API's list and the form's.
func (s *Service) CreatableKinds() []*Kind { return s.kinds.Creatable() }

// FindKind returns the kind with that name.
func (s *Service) FindKind(name string) (*Kind, bool) { return s.kinds.Find(name) }

func (s *Service) findKind(name string) (*Kind, error) {
	k, ok := s.kinds.Find(name)
	if !ok {
		var names []string
		for _, k := range s.kinds.All() {
			names = append(names, k.Name)
		}
		return nil, querygate.FieldErrorf("kind", "kind: must be one of %s", strings.Join(names, ", "))
	}
	return k, nil
}

// validate checks a new datasource's kind, settings and secrets (in the
// custody given) and the operator's network and TLS rules.
func (s *Service) validate(ctx context.Context, in CreateInput, custody string) (*Kind, map[string]any, Secrets, error) {
	k, err := s.findKind(in.Kind)
	if err != nil {
		return nil, nil, Secrets{}, err
	}
	if k.Off != "" {
		return nil, nil, Secrets{}, querygate.FieldErrorf("kind", "%s", k.Off)
	}
	settings, err := applySettings(k, nil, in.Settings)
	if err != nil {
		return nil, nil, Secrets{}, err
	}
	secrets, err := applySecrets(k, custody, Secrets{}, in.Secrets)
	if err != nil {
		return nil, nil, Secrets{}, err
	}
	if err := crossCheck(k, settings, secrets); err != nil {
		return nil, nil, Secrets{}, err
	}
	if s.preflight != nil {
		if err := s.preflight(ctx, k.Name, settings); err != nil {
			return nil, nil, Secrets{}, err
		}
	}
	return k, settings, secrets, nil
}

// Draft validates a datasource that is not saved, as Create would (its
// name apart, which a test does not need), and returns it with its
// secrets opened, for a connection test before saving. Nothing is stored
// or sealed. The device password of a device-custody draft is accepted
// here, where Create refuses it: the person testing types it, and it is
// dropped with the test.
func (s *Service) Draft(ctx context.Context, in CreateInput) (*Datasource, Secrets, error) {
	custody, err := validCustody(in.Custody)
	if err != nil {
		return nil, Secrets{}, err
	}
	k, settings, secrets, err := s.validate(ctx, in, CustodyServer)
	if err != nil {
		return nil, Secrets{}, err
	}
	return &Datasource{Name: in.Name, Kind: k.Name, Custody: custody, ReadOnly: in.ReadOnly, Settings: settings,
		SecretNames: secrets.Names()}, secrets, nil
}

// Create validates and stores a new datasource owned by ownerID, its
// secrets sealed. Bad input changes nothing.
func (s *Service) Create(ctx context.Context, ownerID string, in CreateInput) (*Datasource, error) {
	if err := validName(in.Name); err != nil {
		return nil, err
	}
	custody, err := validCustody(in.Custody)
	if err != nil {
		return nil, err
	}
	k, settings, secrets, err := s.validate(ctx, in, custody)
	if err != nil {
		return nil, err
	}
	settingsJSON, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("datasource: create: %w", err)
	}
	now := s.now()
	row := &store.Datasource{
		ID: NewID(), Name: in.Name, Kind: k.Name, Custody: custody, ReadOnly: in.ReadOnly,
		Settings: settingsJSON, SecretNames: secrets.Names(), OwnerID: ownerID, CreatedAt: now, UpdatedAt: now,
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if row.Secrets, err = s.seal(ctx, tx, row.ID, secrets); err != nil {
			return err
		}
		return tx.CreateDatasource(ctx, row)
	})
	if err != nil {
		if querygate.ErrorCode(err) == querygate.ECONFLICT {
			return nil, &querygate.Error{Code: querygate.ECONFLICT, Field: "name", Message: "name: a datasource with that name already exists"}
		}
		return nil, fmt.Errorf("datasource: create: %w", err)
	}
	return fromRow(row)
}

// seal seals the secrets for a datasource under the primary key the store
// names, inside the caller's write transaction (see instance.Rotate).
func (s *Service) seal(ctx context.Context, tx store.Tx, id string, secrets Secrets) ([]byte, error) {
	if len(secrets.m) == 0 {
		return nil, nil
	}
	keyID, err := instance.PrimaryKeyID(ctx, tx)
	if err != nil {
		return nil, err
	}
	pt := secrets.plaintext()
	defer clear(pt)
	return s.env.Seal(keyID, pt, instance.DatasourceAD(id))
}

// Find returns one datasource. The row is kept in memory while the store's
// change sequence stays the same (its secrets stay sealed there).
func (s *Service) Find(ctx context.Context, id string) (*Datasource, error) {
	seq, err := s.store.ChangeSeq(ctx)
	if err != nil {
		return nil, err
	}
	row, ok := s.rows.Get(seq, id)
	if !ok {
		err := s.store.View(ctx, func(tx store.Tx) (err error) {
			row, err = tx.FindDatasource(ctx, id)
			return err
		})
		if err != nil {
			return nil, err
		}
		s.rows.Put(seq, id, row)
	}
	return fromRow(row)
}

// List returns every datasource. Callers filter by what the user may see.
func (s *Service) List(ctx context.Context) ([]*Datasource, error) {
	var rows []*store.Datasource
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		rows, err = tx.ListDatasources(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Datasource, 0, len(rows))
	for _, r := range rows {
		d, err := fromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Update applies a partial update. Bad input changes nothing.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*Datasource, error) {
	if s.preflight != nil && len(in.Settings) > 0 {
		// Checked before the write transaction (the check may look a name
		// up); the transaction validates the same change again.
		if err := s.preflightUpdate(ctx, id, in); err != nil {
			return nil, err
		}
	}
	var out *Datasource
	err := s.store.Update(ctx, func(tx store.Tx) error {
		row, err := tx.FindDatasource(ctx, id)
		if err != nil {
			return err
		}
		k, err := s.findKind(row.Kind)
		if err != nil {
			return err
		}
		if in.Kind != nil && *in.Kind != row.Kind {
			return querygate.FieldErrorf("kind", "kind: cannot be changed; create a new datasource instead")
		}
		if in.Custody != nil && *in.Custody != row.Custody {
			return querygate.FieldErrorf("custody", "custody: is chosen at creation and cannot be changed")
		}
		if in.Name != nil {
			if err := validName(*in.Name); err != nil {
				return err
			}
			row.Name = *in.Name
		}
		if in.ReadOnly != nil {
			row.ReadOnly = *in.ReadOnly
		}
		oldSettings := row.Settings
		base, err := decodeSettings(row.Settings)
		if err != nil {
			return err
		}
		settings, err := applySettings(k, base, in.Settings)
		if err != nil {
			return err
		}
		if err := guardSecrets(k, base, settings, row.SecretNames, in.Secrets); err != nil {
			return err
		}
		secrets := Secrets{m: map[string]any{}}
		if len(in.Secrets) > 0 && row.Secrets != nil {
			if secrets, err = s.open(row); err != nil {
				return err
			}
		}
		if len(in.Secrets) > 0 {
			if secrets, err = applySecrets(k, row.Custody, secrets, in.Secrets); err != nil {
				return err
			}
			if row.Secrets, err = s.seal(ctx, tx, row.ID, secrets); err != nil {
				return err
			}
			row.SecretNames = secrets.Names()
		} else if row.Secrets != nil {
			// Secrets unchanged: check the cross-field rules against the
			// names only, without opening anything.
			for _, n := range row.SecretNames {
				secrets.m[n] = seal.Secret{}
			}
		}
		if err := crossCheck(k, settings, secrets); err != nil {
			return err
		}
		if row.Settings, err = json.Marshal(settings); err != nil {
			return err
		}
		if row.Custody == CustodyDevice && !bytes.Equal(oldSettings, row.Settings) {
			// A password unlocked for one host and user must never be
			// replayed against another: every device unlocks again.
			if _, err := tx.DeleteDeviceCredentials(ctx, "", row.ID); err != nil {
				return err
			}
		}
		row.UpdatedAt = nextVersion(row.UpdatedAt, s.now())
		if err := tx.UpdateDatasource(ctx, row); err != nil {
			if querygate.ErrorCode(err) == querygate.ECONFLICT {
				return &querygate.Error{Code: querygate.ECONFLICT, Field: "name", Message: "name: a datasource with that name already exists"}
			}
			return err
		}
		out, err = fromRow(row)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("datasource: update: %w", err)
	}
	return out, nil
}

// preflightUpdate runs the preflight on the settings an update would give.
func (s *Service) preflightUpdate(ctx context.Context, id string, in UpdateInput) error {
	var row *store.Datasource
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { row, err = tx.FindDatasource(ctx, id); return err }); err != nil {
		return err
	}
	k, err := s.findKind(row.Kind)
	if err != nil {
		return err
	}
	base, err := decodeSettings(row.Settings)
	if err != nil {
		return err
	}
	settings, err := applySettings(k, base, in.Settings)
	if err != nil {
		return err
	}
	return s.preflight(ctx, k.Name, settings)
}

// Delete removes a datasource and its sealed secrets.
func (s *Service) Delete(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return tx.DeleteDatasource(ctx, id) })
}

// OpenSecrets opens the sealed secrets of a datasource. Only connectors and
// key verification call it; the values never go back to a client.
func (s *Service) OpenSecrets(ctx context.Context, id string) (Secrets, error) {
	for attempt := 0; ; attempt++ {
		var row *store.Datasource
		if err := s.store.View(ctx, func(tx store.Tx) (err error) {
			row, err = tx.FindDatasource(ctx, id)
			return err
		}); err != nil {
			return Secrets{}, err
		}
		if row.Secrets == nil {
			return Secrets{m: map[string]any{}}, nil
		}
		sec, err := s.open(row)
		var unknown *seal.UnknownKeyError
		if errors.As(err, &unknown) && attempt == 0 {
			// A rotation retired the key between our read and our open:
			// the row now holds the blob rewrapped under the new key.
			continue
		}
		return sec, err
	}
}

func (s *Service) open(row *store.Datasource) (Secrets, error) {
	pt, err := s.env.Open(row.Secrets, instance.DatasourceAD(row.ID))
	if err != nil {
		// Never fall back to anything: a secret we cannot open stops here.
		return Secrets{}, fmt.Errorf("datasource %s: open secrets: %w", row.ID, err)
	}
	defer clear(pt)
	return parseSecrets(pt)
}

func decodeSettings(b []byte) (map[string]any, error) {
	m := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("datasource: stored settings: %w", err)
	}
	// Normalise numbers to int64 so settings compare and marshal the same
	// way whether they were just validated or read back.
	for k, v := range m {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				m[k] = i
			}
		}
		if h, ok := v.(map[string]any); ok {
			hs := make(map[string]string, len(h))
			for hk, hv := range h {
				hs[hk], _ = hv.(string)
			}
			m[k] = hs
		}
	}
	return m, nil
}

func fromRow(r *store.Datasource) (*Datasource, error) {
	settings, err := decodeSettings(r.Settings)
	if err != nil {
		return nil, err
	}
	return &Datasource{
		ID: r.ID, Name: r.Name, Kind: r.Kind, Custody: r.Custody, ReadOnly: r.ReadOnly,
		Settings: settings, SecretNames: slices.Clone(r.SecretNames), OwnerID: r.OwnerID,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}

// guardSecrets refuses a change of where or how secrets are sent (a Guards
// setting) unless the update also sends, or clears, every stored secret.
// Otherwise anyone allowed to edit settings could point the stored password
// at a server of their own.
func guardSecrets(k *Kind, before, after map[string]any, stored []string, in map[string]json.RawMessage) error {
	if len(stored) == 0 {
		return nil
	}
	for _, f := range k.Fields {
		if !f.Guards || fmt.Sprint(before[f.Name]) == fmt.Sprint(after[f.Name]) {
			continue
		}
		for _, name := range stored {
			if _, ok := in[name]; !ok {
				return querygate.FieldErrorf("secrets."+name, "secrets.%s: changing settings.%s changes where or how the stored secrets are sent, so send every stored secret again (or null to clear it) in the same update", name, f.Name)
			}
		}
	}
	return nil
}

// nowMS is the current time at the store's precision (milliseconds), so
// that what a call returns equals what a later read finds.
func nowMS() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// nextVersion is the UpdatedAt of a changed datasource: now, but always
// later than prev at the store's millisecond precision. UpdatedAt is the
// version every replica's pools are checked against, so two versions in
// one millisecond would let a pool opened with the old settings and
// secrets live on.
func nextVersion(prev, now time.Time) time.Time {
	now = now.Truncate(time.Millisecond)
	if p := prev.Truncate(time.Millisecond); !now.After(p) {
		return p.Add(time.Millisecond)
	}
	return now
}

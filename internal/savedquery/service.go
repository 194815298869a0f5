package savedquery

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

// Query is a saved query with one of its versions (the current one unless
// asked otherwise).
type Query struct {
	ID           string
	DatasourceID string
	Name         string
	Description  string
	OwnerID      string
	// CurrentVersion is the version that runs by default.
	CurrentVersion int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Version is the version Definition belongs to.
	Version    Version
	Definition Definition
}

// Version describes one version.
type Version struct {
	Number    int
	CreatedBy string
	CreatedAt time.Time
}

// Service keeps saved queries in the store. It does not authorize: the
// caller checks the datasource first.
type Service struct {
	store store.Store
	now   func() time.Time
}

// NewService returns a Service on st.
func NewService(st store.Store) *Service {
	return &Service{store: st, now: func() time.Time { return time.Now().UTC() }}
}

// NewID returns a new saved query id.
func NewID() string { return "sq" + strings.ToLower(rand.Text()) }

// CreateInput is a new saved query.
type CreateInput struct {
	DatasourceID string
	Name         string
	Description  string
	Definition   Definition
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 128 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return querygate.FieldErrorf("name", "name: must be 1 to 128 characters, without control characters")
	}
	return nil
}

func checkDescription(d string) error {
	if len(d) > 4096 || !utf8.ValidString(d) {
		return querygate.FieldErrorf("description", "description: must be valid UTF-8 of at most 4096 bytes")
	}
	return nil
}

func marshalDefinition(d *Definition) (body, params []byte, err error) {
	if body, err = json.Marshal(d.Body); err != nil {
		return nil, nil, err
	}
	ps := d.Parameters
	if ps == nil {
		ps = []Param{}
	}
	params, err = json.Marshal(ps)
	return body, params, err
}

func unmarshalDefinition(v *store.SavedQueryVersion) (Definition, error) {
	var d Definition
	if err := json.Unmarshal(v.Body, &d.Body); err != nil {
		return d, fmt.Errorf("savedquery: stored body: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(v.Parameters)))
	dec.UseNumber()
	if err := dec.Decode(&d.Parameters); err != nil {
		return d, fmt.Errorf("savedquery: stored parameters: %w", err)
	}
	return d, nil
}

func conflict(err error) error {
	if querygate.ErrorCode(err) == querygate.ECONFLICT {
		return &querygate.Error{Code: querygate.ECONFLICT, Field: "name", Message: "name: a saved query with that name already exists on this datasource"}
	}
	return err
}

// Create checks and stores a new saved query on a datasource written in
// lang.
func (s *Service) Create(ctx context.Context, lang Language, userID string, in CreateInput) (*Query, error) {
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if err := checkDescription(in.Description); err != nil {
		return nil, err
	}
	if err := in.Definition.Check(lang); err != nil {
		return nil, err
	}
	body, params, err := marshalDefinition(&in.Definition)
	if err != nil {
		return nil, fmt.Errorf("savedquery: create: %w", err)
	}
	now := s.now()
	row := &store.SavedQuery{ID: NewID(), DatasourceID: in.DatasourceID, Name: in.Name, Description: in.Description,
		OwnerID: userID, CurrentVersion: 1, CreatedAt: now, UpdatedAt: now}
	v := &store.SavedQueryVersion{Body: body, Parameters: params, CreatedBy: userID, CreatedAt: now}
	if err := s.store.Update(ctx, func(tx store.Tx) error { return tx.CreateSavedQuery(ctx, row, v) }); err != nil {
		return nil, conflict(err)
	}
	return fromRows(row, v)
}

func fromRows(q *store.SavedQuery, v *store.SavedQueryVersion) (*Query, error) {
	d, err := unmarshalDefinition(v)
	if err != nil {
		return nil, err
	}
	return &Query{ID: q.ID, DatasourceID: q.DatasourceID, Name: q.Name, Description: q.Description, OwnerID: q.OwnerID,
		CurrentVersion: q.CurrentVersion, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt,
		Version: Version{Number: v.Version, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}, Definition: d}, nil
}

// Find returns a saved query at a version (0: the current one).
func (s *Service) Find(ctx context.Context, id string, version int) (*Query, error) {
	var q *store.SavedQuery
	var v *store.SavedQueryVersion
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		if q, err = tx.FindSavedQuery(ctx, id); err != nil {
			return err
		}
		if version == 0 {
			version = q.CurrentVersion
		}
		v, err = tx.FindSavedQueryVersion(ctx, id, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	return fromRows(q, v)
}

// List returns the saved queries of a datasource ("" for all), each at its
// current version.
func (s *Service) List(ctx context.Context, datasourceID string) ([]*Query, error) {
	var out []*Query
	err := s.store.View(ctx, func(tx store.Tx) error {
		rows, err := tx.ListSavedQueries(ctx, datasourceID)
		if err != nil {
			return err
		}
		for _, q := range rows {
			v, err := tx.FindSavedQueryVersion(ctx, q.ID, q.CurrentVersion)
			if err != nil {
				return err
			}
			sq, err := fromRows(q, v)
			if err != nil {
				return err
			}
			out = append(out, sq)
		}
		return nil
	})
	return out, err
}

// Versions returns every version of a saved query, oldest first.
func (s *Service) Versions(ctx context.Context, id string) ([]*Query, error) {
	var out []*Query
	err := s.store.View(ctx, func(tx store.Tx) error {
		q, err := tx.FindSavedQuery(ctx, id)
		if err != nil {
			return err
		}
		vs, err := tx.ListSavedQueryVersions(ctx, id)
		if err != nil {
			return err
		}
		for _, v := range vs {
			sq, err := fromRows(q, v)
			if err != nil {
				return err
			}
			out = append(out, sq)
		}
		return nil
	})
	return out, err
}

// UpdateInput is a partial change. Name and description change in place;
// a new body or new parameters make a new version (the other part is
// carried over from the current version).
type UpdateInput struct {
	Name        *string
	Description *string
	Body        *Body
	Parameters  *[]Param
}

// Update applies a change to a saved query on a datasource written in lang. Bad
// input changes nothing.
func (s *Service) Update(ctx context.Context, lang Language, userID, id string, in UpdateInput) (*Query, error) {
	if in.Name != nil {
		if err := checkName(*in.Name); err != nil {
			return nil, err
		}
	}
	if in.Description != nil {
		if err := checkDescription(*in.Description); err != nil {
			return nil, err
		}
	}
	var out *Query
	err := s.store.Update(ctx, func(tx store.Tx) error {
		q, err := tx.FindSavedQuery(ctx, id)
		if err != nil {
			return err
		}
		cur, err := tx.FindSavedQueryVersion(ctx, id, q.CurrentVersion)
		if err != nil {
			return err
		}
		if in.Name != nil {
			q.Name = *in.Name
		}
		if in.Description != nil {
			q.Description = *in.Description
		}
		q.UpdatedAt = s.now()
		v := cur
		if in.Body != nil || in.Parameters != nil {
			def, err := unmarshalDefinition(cur)
			if err != nil {
				return err
			}
			if in.Body != nil {
				def.Body = *in.Body
			}
			if in.Parameters != nil {
				def.Parameters = *in.Parameters
			}
			if err := def.Check(lang); err != nil {
				return err
			}
			body, params, err := marshalDefinition(&def)
			if err != nil {
				return fmt.Errorf("savedquery: update: %w", err)
			}
			q.CurrentVersion++
			v = &store.SavedQueryVersion{QueryID: id, Version: q.CurrentVersion, Body: body, Parameters: params, CreatedBy: userID, CreatedAt: q.UpdatedAt}
			if err := tx.AddSavedQueryVersion(ctx, v); err != nil {
				return err
			}
		}
		if err := tx.UpdateSavedQuery(ctx, q); err != nil {
			return conflict(err)
		}
		out, err = fromRows(q, v)
		return err
	})
	return out, err
}

// Delete deletes a saved query and all its versions.
func (s *Service) Delete(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return tx.DeleteSavedQuery(ctx, id) })
}

package datasource

import (
	"context"
	"fmt"
	"maps"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/store"
)

// Grant gives a user or a group a level of access to a datasource.
type Grant struct {
	Type  string `json:"type"` // "user" or "group"
	ID    string `json:"id"`
	Level string `json:"level"` // "run", "use" or "manage"
}

// MaxGrants bounds the grants of one datasource.
const MaxGrants = 1000

// Grants returns the grants of a datasource.
func (s *Service) Grants(ctx context.Context, id string) ([]Grant, error) {
	var rows []store.Grant
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		rows, err = tx.ListGrants(ctx, id)
		return err
	})
	out := make([]Grant, 0, len(rows))
	for _, g := range rows {
		out = append(out, Grant{Type: g.SubjectType, ID: g.SubjectID, Level: g.Level})
	}
	return out, err
}

// SetGrants replaces the grants of a datasource. Every user and group must
// exist; a subject named twice is refused. Bad input changes nothing.
func (s *Service) SetGrants(ctx context.Context, id string, grants []Grant) error {
	if len(grants) > MaxGrants {
		return querygate.FieldErrorf("grants", "grants: at most %d", MaxGrants)
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.FindDatasource(ctx, id); err != nil {
			return err
		}
		seen := map[string]bool{}
		rows := make([]store.Grant, 0, len(grants))
		for i, g := range grants {
			field := fmt.Sprintf("grants[%d]", i)
			if !accounts.ValidLevel(g.Level) {
				return querygate.FieldErrorf(field+".level", "%s.level: must be run, use or manage", field)
			}
			var err error
			switch g.Type {
			case "user":
				_, err = tx.FindUser(ctx, g.ID)
			case "group":
				_, err = tx.FindGroup(ctx, g.ID)
			default:
				return querygate.FieldErrorf(field+".type", "%s.type: must be user or group", field)
			}
			if querygate.ErrorCode(err) == querygate.ENOTFOUND {
				return querygate.FieldErrorf(field+".id", "%s.id: no such %s", field, g.Type)
			} else if err != nil {
				return err
			}
			if seen[g.Type+"/"+g.ID] {
				return querygate.FieldErrorf(field+".id", "%s.id: is granted twice", field)
			}
			seen[g.Type+"/"+g.ID] = true
			rows = append(rows, store.Grant{DatasourceID: id, SubjectType: g.Type, SubjectID: g.ID, Level: g.Level})
		}
		return tx.SetGrants(ctx, id, rows)
	})
}

// Levels returns the highest level granted to a user on each datasource
// (datasourceID "" for all, else that one only), directly or through a
// group.
//
// The answer is kept in memory while the store's change sequence stays the
// same: every change to grants, groups, group members, datasources or
// users raises it.
func (s *Service) Levels(ctx context.Context, userID, datasourceID string) (map[string]string, error) {
	seq, err := s.store.ChangeSeq(ctx)
	if err != nil {
		return map[string]string{}, err
	}
	key := levelsKey{userID, datasourceID}
	if out, ok := s.levels.Get(seq, key); ok {
		return maps.Clone(out), nil
	}
	var rows []store.Grant
	err = s.store.View(ctx, func(tx store.Tx) error {
		var err error
		rows, err = tx.UserGrantLevels(ctx, userID, datasourceID)
		return err
	})
	out := map[string]string{}
	if err != nil {
		return out, err
	}
	for _, g := range rows {
		out[g.DatasourceID] = accounts.HigherLevel(out[g.DatasourceID], g.Level)
	}
	s.levels.Put(seq, key, maps.Clone(out))
	return out, nil
}

package accounts

import (
	"context"
	"slices"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

// Group is a named set of users that grants can name.
type Group struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Members []string `json:"members"` // user ids
}

func validGroupName(n string) error {
	if strings.TrimSpace(n) == "" || len(n) > 64 {
		return querygate.FieldErrorf("name", "name: must be 1 to 64 characters")
	}
	for _, c := range n {
		if c < 0x20 || c == 0x7f {
			return querygate.FieldErrorf("name", "name: must not hold control characters")
		}
	}
	return nil
}

// CreateGroup makes an empty group.
func (s *Service) CreateGroup(ctx context.Context, name string) (*Group, error) {
	if err := validGroupName(name); err != nil {
		return nil, err
	}
	g := &store.Group{ID: newID("g"), Name: name, CreatedAt: s.now().UTC()}
	err := s.store.Update(ctx, func(tx store.Tx) error { return tx.CreateGroup(ctx, g) })
	if querygate.ErrorCode(err) == querygate.ECONFLICT {
		return nil, &querygate.Error{Code: querygate.ECONFLICT, Field: "name", Message: "name: a group with that name already exists"}
	} else if err != nil {
		return nil, err
	}
	return &Group{ID: g.ID, Name: g.Name, Members: []string{}}, nil
}

// ListGroups returns every group with its members.
func (s *Service) ListGroups(ctx context.Context) ([]*Group, error) {
	var out []*Group
	err := s.store.View(ctx, func(tx store.Tx) error {
		list, err := tx.ListGroups(ctx)
		if err != nil {
			return err
		}
		for _, g := range list {
			m, err := tx.ListGroupMembers(ctx, g.ID)
			if err != nil {
				return err
			}
			out = append(out, &Group{ID: g.ID, Name: g.Name, Members: append([]string{}, m...)})
		}
		return nil
	})
	return out, err
}

// DeleteGroup deletes a group and its grants.
func (s *Service) DeleteGroup(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return tx.DeleteGroup(ctx, id) })
}

// SetGroupMembers replaces a group's members; every user must exist.
func (s *Service) SetGroupMembers(ctx context.Context, id string, userIDs []string) (*Group, error) {
	if len(userIDs) > 10000 {
		return nil, querygate.FieldErrorf("user_ids", "user_ids: at most 10000")
	}
	ids := slices.Compact(slices.Sorted(slices.Values(userIDs)))
	var out *Group
	err := s.store.Update(ctx, func(tx store.Tx) error {
		g, err := tx.FindGroup(ctx, id)
		if err != nil {
			return err
		}
		for _, u := range ids {
			if _, err := tx.FindUser(ctx, u); querygate.ErrorCode(err) == querygate.ENOTFOUND {
				return querygate.FieldErrorf("user_ids", "user_ids: no user %s", u)
			} else if err != nil {
				return err
			}
		}
		if err := tx.SetGroupMembers(ctx, id, ids); err != nil {
			return err
		}
		out = &Group{ID: g.ID, Name: g.Name, Members: append([]string{}, ids...)}
		return nil
	})
	return out, err
}

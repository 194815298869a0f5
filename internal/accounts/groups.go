package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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

// External is a person an identity provider vouched for (single sign-on).
type External struct {
	Issuer      string   // the provider
	Subject     string   // the provider's stable id of the person
	Username    string   // the verified email
	Role        string   // the role the provider's claims map to; "" for none
	DefaultRole string   // the role of a new user whose claims map to none
	Groups      []string // the groups (by name) the claims put the user in
	Managed     []string // every group the mapping names
}

// errIdentityMismatch refuses an email that now belongs to another person
// at the provider than the one first linked to the querygate user.
var errIdentityMismatch = querygate.Errorf(querygate.ECONFLICT, "This email address is linked to another account at the identity provider.")

// ErrLinkRequired refuses a first single sign-on whose email is the name
// of an existing querygate user that no account at the provider is
// linked to yet. The provider vouching for an email is not proof enough to
// take a local account over (an admin's, one with a password): its owner
// links single sign-on to it explicitly (LinkExternal).
var ErrLinkRequired = querygate.Errorf(querygate.ECONFLICT,
	"A querygate account with this email address already exists. Sign in to it, then link single sign-on on your account page.")

// ErrIdentityLinked refuses to link a provider account that already signs
// in another user (LinkExternal).
var ErrIdentityLinked = querygate.Errorf(querygate.ECONFLICT, "That account at the identity provider is already linked to another querygate user.")

// ErrUserLinked refuses to link a second provider account to a user
// (LinkExternal): a user has at most one account per provider.
var ErrUserLinked = querygate.Errorf(querygate.ECONFLICT, "Your account is already linked to another account at this identity provider.")

// SignInExternal finds or creates the user an identity provider vouched
// for, in one transaction. The provider's account (issuer and subject)
// decides who the user is: it is linked to a user created at its first
// sign-in, or explicitly by LinkExternal, and the same account signs in
// the same user even after an email change. It never takes over an
// existing user by email: a first sign-in whose email names an existing
// user is refused with ErrLinkRequired (or errIdentityMismatch when that
// user is linked to another account at the provider), and changes
// nothing. A new user gets the mapped role (else the default) and a
// password nobody knows; an existing one takes the mapped role when the
// claims map to one (a change ends their sessions, as any role change
// does); membership of the managed groups follows the claims, other groups
// are left alone. A managed group that does not exist is skipped.
func (s *Service) SignInExternal(ctx context.Context, ext External) (*User, error) {
	if err := validUsername(ext.Username); err != nil {
		return nil, err
	}
	if ext.Subject == "" || ext.Issuer == "" {
		return nil, querygate.Errorf(querygate.EINVALID, "The identity provider named no subject.")
	}
	role := ext.Role
	if role == "" {
		role = ext.DefaultRole
	}
	if !ValidRole(role) {
		return nil, querygate.FieldErrorf("role", "role: must be admin, editor or viewer")
	}
	// A password nobody knows: an SSO user signs in through the provider.
	unusable := make([]byte, 32)
	rand.Read(unusable)
	hash, err := s.hashPassword(ctx, base64.RawURLEncoding.EncodeToString(unusable))
	if err != nil {
		return nil, err
	}
	var out *store.User
	err = s.store.Update(ctx, func(tx store.Tx) error {
		now := s.now()
		var u *store.User
		linked, err := tx.FindIdentity(ctx, ext.Issuer, ext.Subject)
		switch {
		case err == nil:
			u, err = tx.FindUser(ctx, linked)
		case querygate.ErrorCode(err) == querygate.ENOTFOUND:
			u, err = tx.FindUserByName(ctx, ext.Username)
			if err == nil {
				// An existing user that this provider account is not
				// linked to: never bound silently.
				if _, lerr := tx.UserIdentity(ctx, ext.Issuer, u.ID); lerr == nil {
					return errIdentityMismatch // linked to another subject
				} else if querygate.ErrorCode(lerr) != querygate.ENOTFOUND {
					return lerr
				}
				return ErrLinkRequired
			}
		}
		switch {
		case querygate.ErrorCode(err) == querygate.ENOTFOUND:
			u = &store.User{ID: newID("u"), Username: ext.Username, PasswordHash: hash, Role: role, CreatedAt: now, UpdatedAt: now}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := tx.LinkIdentity(ctx, ext.Issuer, ext.Subject, u.ID, now); err != nil {
				return err
			}
		case err != nil:
			return err
		case ext.Role != "" && ext.Role != u.Role:
			if u.Role == RoleAdmin {
				if err := s.keepAnAdmin(ctx, tx, u.ID); err != nil {
					return err
				}
			}
			if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
				return err
			}
			u.Role, u.UpdatedAt = ext.Role, now
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		out = u
		groups, err := tx.ListGroups(ctx)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if !slices.Contains(ext.Managed, g.Name) {
				continue
			}
			members, err := tx.ListGroupMembers(ctx, g.ID)
			if err != nil {
				return err
			}
			in, want := slices.Contains(members, u.ID), slices.Contains(ext.Groups, g.Name)
			switch {
			case want && !in:
				members = append(members, u.ID)
			case !want && in:
				members = slices.DeleteFunc(members, func(id string) bool { return id == u.ID })
			default:
				continue
			}
			if err := tx.SetGroupMembers(ctx, g.ID, members); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fromRow(out), nil
}

// LinkExternal links the provider account an identity provider just
// vouched for to the user userID, who asked for it while signed in (the
// caller checks that the flow was started by that user, in that browser).
// It changes nothing else: the role and groups follow the claims from the
// next single sign-on. Linking the account already linked to the user
// again is a no-op; the account linked to another user is refused with
// ErrIdentityLinked, a second account at the same provider with
// ErrUserLinked.
func (s *Service) LinkExternal(ctx context.Context, userID string, ext External) (*User, error) {
	if ext.Subject == "" || ext.Issuer == "" {
		return nil, querygate.Errorf(querygate.EINVALID, "The identity provider named no subject.")
	}
	var out *store.User
	err := s.store.Update(ctx, func(tx store.Tx) error {
		u, err := tx.FindUser(ctx, userID)
		if err != nil {
			return err
		}
		out = u
		switch linked, err := tx.FindIdentity(ctx, ext.Issuer, ext.Subject); {
		case err == nil && linked == u.ID:
			return nil
		case err == nil:
			return ErrIdentityLinked
		case querygate.ErrorCode(err) != querygate.ENOTFOUND:
			return err
		}
		if _, err := tx.UserIdentity(ctx, ext.Issuer, u.ID); err == nil {
			return ErrUserLinked
		} else if querygate.ErrorCode(err) != querygate.ENOTFOUND {
			return err
		}
		return tx.LinkIdentity(ctx, ext.Issuer, ext.Subject, u.ID, s.now())
	})
	if err != nil {
		return nil, err
	}
	return fromRow(out), nil
}

// ExternalLinked reports whether an account at the provider issuer is
// linked to the user userID.
func (s *Service) ExternalLinked(ctx context.Context, issuer, userID string) (bool, error) {
	var linked bool
	err := s.store.View(ctx, func(tx store.Tx) error {
		_, err := tx.UserIdentity(ctx, issuer, userID)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return nil
		}
		linked = err == nil
		return err
	})
	return linked, err
}

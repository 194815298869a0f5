package accounts

import (
	"context"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/audit"
)

// This file holds the account use cases of the API: users (admins),
// API tokens, sessions and one's own password. Each takes the actor and,
// in this one place, authorizes, acts and records exactly one audit
// event, for success and for every refusal (P14). Front ends only
// decode, call and encode (and set or clear cookies).

// Recorder records audit events (audit.Log).
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) error
}

// errSignIn refuses a use case without a user.
var errSignIn = querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in.")

var (
	errTokenFromToken    = querygate.Errorf(querygate.EFORBIDDEN, "Create API tokens from a signed-in session, not with an API token.")
	errPasswordFromToken = querygate.Errorf(querygate.EFORBIDDEN, "Change your password in a signed-in session, not with an API token.")
)

// record marks the request as audited and records ev for the actor with
// err's code as outcome (nothing is written without a recorder).
func (s *Service) record(ctx context.Context, a Actor, ev audit.Event, err error) {
	audit.RecordOutcome(ctx, s.recorder(), a.Who(), ev, err)
}

// authorizeAdmin refuses an actor who may not manage users.
func authorizeAdmin(a Actor) error {
	if a.User == nil {
		return errSignIn
	}
	return Authorize(a.User, ActionAdmin, Resource{})
}

// AddUser is the create-user use case (admins).
func (s *Service) AddUser(ctx context.Context, a Actor, in CreateUserInput) (*User, error) {
	ev := audit.Event{Action: audit.UserCreate, Details: map[string]any{"role": in.Role}}
	err := authorizeAdmin(a)
	var u *User
	if err == nil {
		u, err = s.CreateUser(ctx, in)
	}
	if u != nil {
		ev.Target = u.ID
	}
	s.record(ctx, a, ev, err)
	return u, err
}

// EditUser is the update-user use case (admins): role and password. A new
// password ends every session of the user and revokes their tokens; a new
// role ends their sessions.
func (s *Service) EditUser(ctx context.Context, a Actor, id string, in UpdateUserInput) (*User, error) {
	var fields []string
	if in.Role != nil {
		fields = append(fields, "role")
	}
	if in.Password != nil {
		fields = append(fields, "password")
	}
	err := authorizeAdmin(a)
	var u *User
	if err == nil {
		u, err = s.UpdateUser(ctx, id, in)
	}
	s.record(ctx, a, audit.Event{Action: audit.UserUpdate, Target: id, Details: map[string]any{"fields": fields}}, err)
	return u, err
}

// RemoveUser is the delete-user use case (admins).
func (s *Service) RemoveUser(ctx context.Context, a Actor, id string) error {
	err := authorizeAdmin(a)
	if err == nil {
		err = s.DeleteUser(ctx, id)
	}
	s.record(ctx, a, audit.Event{Action: audit.UserDelete, Target: id}, err)
	return err
}

// ResetPassword is the admin password reset use case: the user gets the
// new password and, as with any password change, every session of theirs
// ends and every API token of theirs is revoked.
func (s *Service) ResetPassword(ctx context.Context, a Actor, id, password string) (*User, error) {
	err := authorizeAdmin(a)
	var u *User
	if err == nil {
		u, err = s.UpdateUser(ctx, id, UpdateUserInput{Password: &password})
	}
	s.record(ctx, a, audit.Event{Action: audit.PasswordReset, Target: audit.ClientID(id)}, err)
	return u, err
}

// IssueToken is the create-token use case: an API token for the actor,
// expiring after expiresInDays (0: never). An actor proved by a token may
// not make one: a leaked token must not be able to mint itself a
// successor that outlives its expiry or its revocation. It returns the
// token's value, shown once.
func (s *Service) IssueToken(ctx context.Context, a Actor, name string, expiresInDays int) (string, *Token, error) {
	ev := audit.Event{Action: audit.TokenCreate, Details: map[string]any{"expires_in_days": expiresInDays}}
	var (
		value string
		t     *Token
		err   error
	)
	switch {
	case a.User == nil:
		err = errSignIn
	case a.Via == ViaToken:
		err = errTokenFromToken
	case expiresInDays < 0 || expiresInDays > 3650:
		err = querygate.FieldErrorf("expires_in_days", "expires_in_days: must be between 0 (never) and 3650")
	default:
		value, t, err = s.CreateToken(ctx, a.User.ID, name, time.Duration(expiresInDays)*24*time.Hour)
	}
	if t != nil {
		ev.Target = t.ID
	}
	s.record(ctx, a, ev, err)
	return value, t, err
}

// RevokeToken is the revoke-token use case: the actor's own token, or
// anyone's for an admin; any other id is not found.
func (s *Service) RevokeToken(ctx context.Context, a Actor, id string) error {
	var err error = errSignIn
	if a.User != nil {
		err = s.DeleteToken(ctx, a.User, id)
	}
	s.record(ctx, a, audit.Event{Action: audit.TokenDelete, Target: id}, err)
	return err
}

// CloseSession is the revoke-session use case: the session with that public
// handle, the actor's own or (for admins) anyone's; any other is not found.
func (s *Service) CloseSession(ctx context.Context, a Actor, publicID string) error {
	var owner string
	var err error = errSignIn
	if a.User != nil {
		owner, err = s.RevokeSession(ctx, a.User, publicID)
	}
	s.record(ctx, a, audit.Event{Action: audit.SessionRevoke, Target: owner, Details: map[string]any{"session": publicID}}, err)
	return err
}

// LogOutEverywhere ends every session of a user: the actor's own, or (for
// admins) anyone's.
func (s *Service) LogOutEverywhere(ctx context.Context, a Actor, userID string) error {
	var err error
	switch {
	case a.User == nil:
		err = errSignIn
	case userID != a.User.ID:
		err = Authorize(a.User, ActionAdmin, Resource{})
	}
	if err == nil {
		err = s.EndUserSessions(ctx, userID)
	}
	s.record(ctx, a, audit.Event{Action: audit.LogoutAll, Target: userID}, err)
	return err
}

// ChangeOwnPassword is the change-password use case: the actor's own
// password, after the current one is checked. Every session and API token
// of the user ends. An actor proved by a token may not change it.
func (s *Service) ChangeOwnPassword(ctx context.Context, a Actor, current, next string) (*User, error) {
	var (
		u   *User
		err error
	)
	switch {
	case a.User == nil:
		err = errSignIn
	case a.Via == ViaToken:
		err = errPasswordFromToken
	default:
		u, err = s.ChangePassword(ctx, a.User.ID, current, next)
	}
	s.record(ctx, a, audit.Event{Action: audit.PasswordChange, Target: a.UserID()}, err)
	return u, err
}

// recorder is the audit log the use cases record to, or nil for none.
func (s *Service) recorder() audit.Recorder {
	if s.audit == nil {
		return nil
	}
	return s.audit
}

// AddGroup is the create-group use case (admins).
func (s *Service) AddGroup(ctx context.Context, a Actor, name string) (*Group, error) {
	err := authorizeAdmin(a)
	var g *Group
	if err == nil {
		g, err = s.CreateGroup(ctx, name)
	}
	ev := audit.Event{Action: audit.GroupCreate}
	if g != nil {
		ev.Target = g.ID
	}
	s.record(ctx, a, ev, err)
	return g, err
}

// EditGroupMembers is the set-members use case (admins): the group's
// members become exactly userIDs.
func (s *Service) EditGroupMembers(ctx context.Context, a Actor, id string, userIDs []string) (*Group, error) {
	err := authorizeAdmin(a)
	var g *Group
	if err == nil {
		g, err = s.SetGroupMembers(ctx, id, userIDs)
	}
	s.record(ctx, a, audit.Event{Action: audit.GroupUpdate, Target: audit.ClientID(id), Details: map[string]any{"members": len(userIDs)}}, err)
	return g, err
}

// RemoveGroup is the delete-group use case (admins).
func (s *Service) RemoveGroup(ctx context.Context, a Actor, id string) error {
	err := authorizeAdmin(a)
	if err == nil {
		err = s.DeleteGroup(ctx, id)
	}
	s.record(ctx, a, audit.Event{Action: audit.GroupDelete, Target: audit.ClientID(id)}, err)
	return err
}

package accounts

import (
	"context"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/audit"
)

// errWireLogin answers every failed wire sign-in alike: an unknown user, a
// wrong or expired token and another user's token are not told apart.
var errWireLogin = querygate.Errorf(querygate.EUNAUTHORIZED, "The user name or API token is not valid.")

// WireLogin is the sign-in of a PostgreSQL wire client (package pgwire):
// the querygate user name, and one of that user's API tokens as the
// password. A failure is audited (login.failure, via pgwire), in the
// background, so that looking the name up adds nothing to the answer's
// timing; the attempted name is recorded only when it is a user's.
func (s *Service) WireLogin(ctx context.Context, remote, username, token string) (*User, error) {
	u, err := s.TokenUser(ctx, token)
	if err == nil && !strings.EqualFold(u.Username, username) {
		err = errWireLogin
	}
	if err == nil {
		return u, nil
	}
	if querygate.ErrorCode(err) == querygate.EUNAUTHORIZED {
		err = errWireLogin
	}
	ev := audit.Event{Action: audit.LoginFailure, Remote: remote, Outcome: querygate.ErrorCode(err), Details: map[string]any{"via": "pgwire"}}
	ctx = context.WithoutCancel(ctx)
	go func() {
		if u, err := s.FindUserByName(ctx, username); err == nil {
			ev.ActorID, ev.ActorName, ev.Target = u.ID, u.Username, u.ID
		} else {
			ev.Details["unknown_user"] = true
		}
		if r := s.recorder(); r != nil {
			r.Record(ctx, ev)
		}
	}()
	return nil, err
}

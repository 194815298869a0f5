package accounts

import (
	"context"
	"sync"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/audit"
)

// events is a Recorder that keeps what it is given.
type events struct {
	mu   sync.Mutex
	list []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
	return nil
}

// take returns the events recorded since the last take.
func (e *events) take() []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.list
	e.list = nil
	return out
}

// TestUseCasesRecordOneEvent checks that every account use case records
// exactly one audit event, with its action, target and outcome, for
// success and for every refusal (P14), including the refusals that used
// to leave none (an API token minting a token or changing a password, an
// out-of-range expiry, a non-admin acting on another user).
func TestUseCasesRecordOneEvent(t *testing.T) {
	s, _ := MustService(t)
	rec := &events{}
	s.audit = rec
	ctx := t.Context()
	admin := MustCreateUser(t, s, "admin", RoleAdmin)
	ed := MustCreateUser(t, s, "ed", RoleEditor)
	other := MustCreateUser(t, s, "other", RoleViewer)
	asAdmin := Actor{User: admin, Via: ViaSession, Remote: "192.0.2.1", RequestID: "r1"}
	asEd := Actor{User: ed, Via: ViaSession}
	edToken := Actor{User: ed, Via: ViaToken}
	_, adminTok, err := s.CreateToken(ctx, admin.ID, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	newPw := "another horse battery staple"
	editor := RoleEditor

	for _, tc := range []struct {
		name   string
		do     func() error
		action string
		target string
		code   string
	}{
		{"add user", func() error {
			_, err := s.AddUser(ctx, asAdmin, CreateUserInput{Username: "new", Password: goodPassword, Role: RoleViewer})
			return err
		}, audit.UserCreate, "", audit.OK},
		{"add user as editor", func() error {
			_, err := s.AddUser(ctx, asEd, CreateUserInput{Username: "new2", Password: goodPassword, Role: RoleViewer})
			return err
		}, audit.UserCreate, "", querygate.EFORBIDDEN},
		{"edit role", func() error {
			_, err := s.EditUser(ctx, asAdmin, other.ID, UpdateUserInput{Role: &editor})
			return err
		}, audit.UserUpdate, other.ID, audit.OK},
		{"edit as editor", func() error { _, err := s.EditUser(ctx, asEd, other.ID, UpdateUserInput{Role: &editor}); return err },
			audit.UserUpdate, other.ID, querygate.EFORBIDDEN},
		{"reset password", func() error { _, err := s.ResetPassword(ctx, asAdmin, other.ID, newPw); return err },
			audit.PasswordReset, other.ID, audit.OK},
		{"reset unknown", func() error { _, err := s.ResetPassword(ctx, asAdmin, "nope", newPw); return err },
			audit.PasswordReset, "nope", querygate.ENOTFOUND},
		{"token from token", func() error { _, _, err := s.IssueToken(ctx, edToken, "x", 0); return err },
			audit.TokenCreate, "", querygate.EFORBIDDEN},
		{"token expiry out of range", func() error { _, _, err := s.IssueToken(ctx, asEd, "x", 3651); return err },
			audit.TokenCreate, "", querygate.EINVALID},
		{"revoke another's token", func() error { return s.RevokeToken(ctx, asEd, adminTok.ID) },
			audit.TokenDelete, adminTok.ID, querygate.ENOTFOUND},
		{"revoke own token as admin", func() error { return s.RevokeToken(ctx, asAdmin, adminTok.ID) },
			audit.TokenDelete, adminTok.ID, audit.OK},
		{"unknown session", func() error { return s.CloseSession(ctx, asEd, "nope") },
			audit.SessionRevoke, "", querygate.ENOTFOUND},
		{"log out another user", func() error { return s.LogOutEverywhere(ctx, asEd, other.ID) },
			audit.LogoutAll, other.ID, querygate.EFORBIDDEN},
		{"log out everywhere", func() error { return s.LogOutEverywhere(ctx, asEd, ed.ID) },
			audit.LogoutAll, ed.ID, audit.OK},
		{"password from token", func() error { _, err := s.ChangeOwnPassword(ctx, edToken, goodPassword, newPw); return err },
			audit.PasswordChange, ed.ID, querygate.EFORBIDDEN},
		{"wrong current password", func() error { _, err := s.ChangeOwnPassword(ctx, asEd, "wrong password here", newPw); return err },
			audit.PasswordChange, ed.ID, querygate.EINVALID},
		{"remove user", func() error { return s.RemoveUser(ctx, asAdmin, other.ID) },
			audit.UserDelete, other.ID, audit.OK},
		{"no actor", func() error { return s.RemoveUser(ctx, Actor{}, ed.ID) },
			audit.UserDelete, ed.ID, querygate.EUNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if got := querygate.ErrorCode(err); (tc.code == audit.OK) != (err == nil) || (err != nil && got != tc.code) {
				t.Fatalf("err = %v (%s), want code %s", err, got, tc.code)
			}
			evs := rec.take()
			if len(evs) != 1 {
				t.Fatalf("recorded %d events, want 1: %+v", len(evs), evs)
			}
			ev := evs[0]
			if want := tc.name == "add user"; want && (ev.ActorID != admin.ID || ev.Remote != "192.0.2.1" || ev.RequestID != "r1") {
				t.Errorf("event actor = %q %q %q, want the actor's", ev.ActorID, ev.Remote, ev.RequestID)
			}
			if ev.Action != tc.action || ev.Outcome != tc.code || (tc.target != "" && ev.Target != tc.target) {
				t.Errorf("event = %s %s target %q, want %s %s target %q", ev.Action, ev.Outcome, ev.Target, tc.action, tc.code, tc.target)
			}
		})
	}
}

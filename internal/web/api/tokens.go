package api

import (
	"net/http"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/web/kit"
)

type TokenResponse struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	// Token is the value, present only in the answer to its creation.
	Token string `json:"token,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func NewTokenResponse(t *accounts.Token) TokenResponse {
	return TokenResponse{ID: t.ID, UserID: t.UserID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: optTime(t.ExpiresAt), LastUsedAt: optTime(t.LastUsedAt)}
}

// listTokens lists the caller's tokens; an admin may name another user
// with ?user_id=.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	owner := u.ID
	if id := r.URL.Query().Get("user_id"); id != "" && id != u.ID {
		if err := accounts.Authorize(u, accounts.ActionAdmin, accounts.Resource{}); err != nil {
			return err
		}
		if _, err := s.accounts.FindUser(r.Context(), id); err != nil {
			return err
		}
		owner = id
	}
	return s.writeTokens(w, r, owner)
}

// writeTokens answers with a user's tokens (never their values).
func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, owner string) error {
	list, err := s.accounts.ListTokens(r.Context(), owner)
	if err != nil {
		return err
	}
	out := make([]TokenResponse, len(list))
	for i, t := range list {
		out[i] = NewTokenResponse(t)
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

type createTokenRequest struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expires_in_days"`
}

var errTokenFromToken = querygate.Errorf(querygate.EFORBIDDEN, "Create API tokens from a signed-in session, not with an API token.")

// createToken makes an API token for the caller. A request authenticated
// by a token may not make one: a leaked token must not be able to mint
// itself a successor that outlives its expiry or its revocation.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if kit.ViaToken(r) {
		return errTokenFromToken
	}
	var req createTokenRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if req.ExpiresInDays < 0 || req.ExpiresInDays > 3650 {
		return querygate.FieldErrorf("expires_in_days", "expires_in_days: must be between 0 (never) and 3650")
	}
	value, t, err := s.accounts.CreateToken(r.Context(), u.ID, req.Name, time.Duration(req.ExpiresInDays)*24*time.Hour)
	ev := audit.Event{Action: audit.TokenCreate, Details: map[string]any{"expires_in_days": req.ExpiresInDays}}
	if t != nil {
		ev.Target = t.ID
	}
	s.record(r, u, ev, err)
	if err != nil {
		return err
	}
	resp := NewTokenResponse(t)
	resp.Token = value
	kit.WriteJSON(w, http.StatusCreated, resp)
	return nil
}

// deleteToken revokes a token: the caller's own, or any user's for an
// admin; any other id is not found.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	err := s.accounts.DeleteToken(r.Context(), u, r.PathValue("id"))
	s.record(r, u, audit.Event{Action: audit.TokenDelete, Target: r.PathValue("id")}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

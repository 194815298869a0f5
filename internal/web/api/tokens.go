package api

import (
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/accounts"
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

// createToken makes an API token for the caller (accounts.IssueToken:
// not with a request authenticated by a token).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req createTokenRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	value, t, err := s.accounts.IssueToken(r.Context(), s.Actor(r, u), req.Name, req.ExpiresInDays)
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
	if err := s.accounts.RevokeToken(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package web

import (
	"net/http"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
)

type tokenResponse struct {
	ID         string     `json:"id"`
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

func newTokenResponse(t *accounts.Token) tokenResponse {
	return tokenResponse{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: optTime(t.ExpiresAt), LastUsedAt: optTime(t.LastUsedAt)}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.accounts.ListTokens(r.Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]tokenResponse, len(list))
	for i, t := range list {
		out[i] = newTokenResponse(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

type createTokenRequest struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expires_in_days"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req createTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.ExpiresInDays < 0 || req.ExpiresInDays > 3650 {
		return querygate.FieldErrorf("expires_in_days", "expires_in_days: must be between 0 (never) and 3650")
	}
	value, t, err := s.accounts.CreateToken(r.Context(), u.ID, req.Name, time.Duration(req.ExpiresInDays)*24*time.Hour)
	if err != nil {
		return err
	}
	resp := newTokenResponse(t)
	resp.Token = value
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.accounts.DeleteToken(r.Context(), u.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package api

import (
	"net/http"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/web/kit"
)

// readSchema answers GET /api/datasources/{id}/schema: what the schema
// use case reads (it authorizes, reads through the datasource's pool and
// audits). The answer is never cached nor kept.
func (s *Server) readSchema(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	sc, err := s.queries.Schema(r.Context(), s.Actor(r, u), r.PathValue("id"), s.DeviceKeys(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	kit.WriteJSON(w, http.StatusOK, sc)
	return nil
}

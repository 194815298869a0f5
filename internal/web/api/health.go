package api

import (
	"github.com/querygate/querygate/internal/web/kit"
	"net/http"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	kit.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.ready.Ping(r.Context()); err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

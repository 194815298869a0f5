package api

import (
	"encoding/json"
	"net/http"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/web/kit"
)

// Dashboards: definitions only. Viewing one runs each panel's saved query
// through POST /api/queries/{id}/run from the browser, under the viewer's
// own grants; nothing of a result passes through these handlers.

// dashboardCases returns the dashboard use cases, with saved queries
// resolved by the query service as the actor sees them.
func (s *Server) dashboardCases() *dashboard.UseCases {
	var rec dashboard.Recorder
	if s.audit != nil {
		rec = s.audit
	}
	return dashboard.NewUseCases(s.dashboards, s.queries, rec)
}

// MayCreateDashboards reports whether u may create dashboards.
func MayCreateDashboards(u *accounts.User) error {
	return accounts.Authorize(u, accounts.ActionDashboardCreate, accounts.Resource{})
}

// VisibleDashboards lists the dashboards the caller may view, by name.
func (s *Server) VisibleDashboards(r *http.Request, u *accounts.User) ([]dashboard.View, error) {
	return s.dashboardCases().List(r.Context(), s.Actor(r, u))
}

// DashboardWithQueries reads the dashboard {id}, which the caller's access
// must allow need for, with each panel's saved query as they see it.
func (s *Server) DashboardWithQueries(r *http.Request, u *accounts.User, need dashboard.Need) (dashboard.View, error) {
	return s.dashboardCases().Find(r.Context(), s.Actor(r, u), r.PathValue("id"), need)
}

func (s *Server) listDashboards(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.VisibleDashboards(r, u)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"dashboards": list})
	return nil
}

func (s *Server) createDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req dashboard.CreateInput
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.dashboardCases().Create(r.Context(), s.Actor(r, u), req)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) findDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	v, err := s.DashboardWithQueries(r, u, dashboard.NeedView)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) updateDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req dashboard.Update
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.dashboardCases().Update(r.Context(), s.Actor(r, u), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deleteDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.dashboardCases().Delete(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDashboardGrants(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	gs, err := s.dashboardCases().Grants(r.Context(), s.Actor(r, u), r.PathValue("id"))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"grants": gs})
	return nil
}

func (s *Server) setDashboardGrants(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req struct {
		Grants []dashboard.Grant `json:"grants"`
	}
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	gs, err := s.dashboardCases().SetGrants(r.Context(), s.Actor(r, u), r.PathValue("id"), req.Grants)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"grants": gs})
	return nil
}

func (s *Server) exportDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	out, err := s.dashboardCases().Export(r.Context(), s.Actor(r, u), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="dashboard.json"`)
	kit.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) importDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var in dashboard.Export
	if err := kit.Decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.dashboardCases().Import(r.Context(), s.Actor(r, u), in)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, v)
	return nil
}

// JSONRaw is a helper for templates that hand JSON to scripts.
func JSONRaw(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

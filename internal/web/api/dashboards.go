package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/web/kit"
)

// Dashboards: definitions only. Viewing one runs each panel's saved query
// through POST /api/queries/{id}/run from the browser, under the viewer's
// own grants; nothing of a result passes through these handlers.

var errDashboardNotFound = querygate.Errorf(querygate.ENOTFOUND, "Dashboard not found.")

// panelQuery is what a viewer may know of a panel's saved query: enough
// to run it and draw its parameters, or only that they cannot run it.
type panelQuery struct {
	CanRun         bool               `json:"can_run"`
	Name           string             `json:"name,omitempty"`
	DatasourceID   string             `json:"datasource_id,omitempty"`
	DatasourceName string             `json:"datasource_name,omitempty"`
	Custody        string             `json:"custody,omitempty"`
	Parameters     []savedquery.Param `json:"parameters,omitempty"`
}

type dashboardResponse struct {
	*dashboard.Dashboard
	Access  dashboard.Access      `json:"access"`
	Queries map[string]panelQuery `json:"queries,omitempty"` // by panel id
}

// dashboardAuthorized loads {id} and checks the caller's access; a
// dashboard the caller may not view does not exist for them.
func (s *Server) dashboardAuthorized(r *http.Request, u *accounts.User, need func(dashboard.Access) bool) (*dashboard.Dashboard, dashboard.Access, error) {
	d, err := s.dashboards.Find(r.Context(), r.PathValue("id"))
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, dashboard.Access{}, errDashboardNotFound
	} else if err != nil {
		return nil, dashboard.Access{}, err
	}
	levels, err := s.dashboards.Levels(r.Context(), u.ID)
	if err != nil {
		return nil, dashboard.Access{}, err
	}
	a := dashboard.AccessOf(u, d, levels[d.ID])
	if !a.View {
		return nil, a, errDashboardNotFound
	}
	if !need(a) {
		return nil, a, querygate.Errorf(querygate.EFORBIDDEN, "Your access to this dashboard does not allow this.")
	}
	return d, a, nil
}

// panelQueries resolves each panel's saved query as the caller sees it.
func (s *Server) panelQueries(r *http.Request, u *accounts.User, d *dashboard.Dashboard) (map[string]panelQuery, error) {
	visible, err := s.VisibleDatasources(r, u)
	if err != nil {
		return nil, err
	}
	byID := map[string]VisibleDatasource{}
	for _, v := range visible {
		byID[v.ID] = v
	}
	out := map[string]panelQuery{}
	for _, p := range d.Definition.Panels {
		q, err := s.savedQueries.Find(r.Context(), p.QueryID, 0)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			out[p.ID] = panelQuery{}
			continue
		} else if err != nil {
			return nil, err
		}
		v, ok := byID[q.DatasourceID]
		if !ok {
			out[p.ID] = panelQuery{} // the datasource does not exist for the caller
			continue
		}
		ps := q.Definition.Parameters
		if ps == nil {
			ps = []savedquery.Param{}
		}
		out[p.ID] = panelQuery{CanRun: true, Name: q.Name, DatasourceID: v.ID, DatasourceName: v.Name, Custody: v.Custody, Parameters: ps}
	}
	return out, nil
}

// checkPanels refuses panels whose saved query the caller cannot see, so
// that nobody builds a dashboard over queries they could not run.
func (s *Server) checkPanels(r *http.Request, u *accounts.User, def *dashboard.Definition) error {
	d := &dashboard.Dashboard{Definition: *def}
	qs, err := s.panelQueries(r, u, d)
	if err != nil {
		return err
	}
	for i, p := range def.Panels {
		if !qs[p.ID].CanRun {
			f := fmt.Sprintf("definition.panels[%d].query_id", i)
			return querygate.FieldErrorf(f, "%s: no saved query you can run has that id", f)
		}
	}
	return nil
}

func MayCreateDashboards(u *accounts.User) error {
	return accounts.Authorize(u, accounts.ActionDashboardCreate, accounts.Resource{})
}

// VisibleDashboard is a dashboard the caller may view, with their access.
type VisibleDashboard struct {
	*dashboard.Dashboard
	Access dashboard.Access
}

// VisibleDashboards lists the dashboards the caller may view, by name.
func (s *Server) VisibleDashboards(r *http.Request, u *accounts.User) ([]VisibleDashboard, error) {
	list, err := s.dashboards.List(r.Context())
	if err != nil {
		return nil, err
	}
	levels, err := s.dashboards.Levels(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := []VisibleDashboard{}
	for _, d := range list {
		if a := dashboard.AccessOf(u, d, levels[d.ID]); a.View {
			out = append(out, VisibleDashboard{d, a})
		}
	}
	return out, nil
}

func (s *Server) listDashboards(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.VisibleDashboards(r, u)
	if err != nil {
		return err
	}
	out := make([]dashboardResponse, 0, len(list))
	for _, v := range list {
		out = append(out, dashboardResponse{Dashboard: v.Dashboard, Access: v.Access})
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"dashboards": out})
	return nil
}

type createDashboardRequest struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Definition  dashboard.Definition `json:"definition"`
}

func (s *Server) createDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req createDashboardRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if err := req.Definition.Check(); err != nil {
		return err
	}
	if err := s.checkPanels(r, u, &req.Definition); err != nil {
		return err
	}
	d, err := s.dashboards.Create(r.Context(), u.ID, req.Name, req.Description, req.Definition)
	ev := audit.Event{Action: audit.DashboardCreate}
	if d != nil {
		ev.Target, ev.Details = d.ID, map[string]any{"panels": len(d.Definition.Panels)}
	}
	s.record(r, u, ev, err)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, dashboardResponse{Dashboard: d, Access: dashboard.AccessOf(u, d, "")})
	return nil
}

// dashboardWithQueries is dashboardAuthorized with each panel's saved
// query resolved as the caller sees it.
func (s *Server) DashboardWithQueries(r *http.Request, u *accounts.User, need func(dashboard.Access) bool) (dashboardResponse, error) {
	d, a, err := s.dashboardAuthorized(r, u, need)
	if err != nil {
		return dashboardResponse{}, err
	}
	qs, err := s.panelQueries(r, u, d)
	if err != nil {
		return dashboardResponse{}, err
	}
	return dashboardResponse{Dashboard: d, Access: a, Queries: qs}, nil
}

func (s *Server) findDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	resp, err := s.DashboardWithQueries(r, u, func(a dashboard.Access) bool { return a.View })
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) updateDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, a, err := s.dashboardAuthorized(r, u, func(a dashboard.Access) bool { return a.Edit })
	if err != nil {
		return err
	}
	var req dashboard.Update
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if req.Definition != nil {
		if err := req.Definition.Check(); err != nil {
			return err
		}
		// Panels already there stay even when the editor cannot run their
		// queries; new ones must be runnable by the editor.
		old := map[string]string{}
		for _, p := range d.Definition.Panels {
			old[p.ID] = p.QueryID
		}
		added := dashboard.Definition{}
		for _, p := range req.Definition.Panels {
			if old[p.ID] != p.QueryID {
				added.Panels = append(added.Panels, p)
			}
		}
		if err := s.checkPanels(r, u, &added); err != nil {
			return err
		}
	}
	nd, fields, err := s.dashboards.Apply(r.Context(), d.ID, req)
	s.record(r, u, audit.Event{Action: audit.DashboardUpdate, Target: d.ID, Details: map[string]any{"fields": fields}}, err)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, dashboardResponse{Dashboard: nd, Access: a})
	return nil
}

func (s *Server) deleteDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, _, err := s.dashboardAuthorized(r, u, func(a dashboard.Access) bool { return a.Own })
	if err != nil {
		return err
	}
	err = s.dashboards.Delete(r.Context(), d.ID)
	s.record(r, u, audit.Event{Action: audit.DashboardDelete, Target: d.ID}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDashboardGrants(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, _, err := s.dashboardAuthorized(r, u, func(a dashboard.Access) bool { return a.Own })
	if err != nil {
		return err
	}
	gs, err := s.dashboards.Grants(r.Context(), d.ID)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"grants": gs})
	return nil
}

func (s *Server) setDashboardGrants(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, _, err := s.dashboardAuthorized(r, u, func(a dashboard.Access) bool { return a.Own })
	if err != nil {
		return err
	}
	var req struct {
		Grants []dashboard.Grant `json:"grants"`
	}
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	err = s.dashboards.SetGrants(r.Context(), d.ID, req.Grants)
	s.record(r, u, audit.Event{Action: audit.DashboardGrants, Target: d.ID, Details: map[string]any{"grants": len(req.Grants)}}, err)
	if err != nil {
		return err
	}
	gs, err := s.dashboards.Grants(r.Context(), d.ID)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"grants": gs})
	return nil
}

// The export names each panel's saved query by its datasource's name and
// its own, so that it imports into another gateway that holds the same
// saved queries (themselves exported with GET /api/queries/export).
const dashboardFormat = "querygate.dashboard/v1"

type queryRef struct {
	Datasource string `json:"datasource"`
	Query      string `json:"query"`
}

type exportedPanel struct {
	dashboard.Panel
	QueryID string    `json:"query_id,omitempty"`
	Query   *queryRef `json:"query,omitempty"`
}

type dashboardExport struct {
	Format      string            `json:"format"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Inputs      []dashboard.Input `json:"inputs"`
	Panels      []exportedPanel   `json:"panels"`
}

func (s *Server) exportDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, _, err := s.dashboardAuthorized(r, u, func(a dashboard.Access) bool { return a.View })
	if err != nil {
		return err
	}
	qs, err := s.panelQueries(r, u, d)
	if err != nil {
		return err
	}
	out := dashboardExport{Format: dashboardFormat, Name: d.Name, Description: d.Description, Inputs: d.Definition.Inputs, Panels: []exportedPanel{}}
	for _, p := range d.Definition.Panels {
		q := qs[p.ID]
		if !q.CanRun {
			return querygate.Errorf(querygate.EFORBIDDEN, "A panel runs a saved query you cannot see, so the dashboard cannot be exported by you.")
		}
		ep := exportedPanel{Panel: p, Query: &queryRef{Datasource: q.DatasourceName, Query: q.Name}}
		ep.Panel.QueryID = ""
		out.Panels = append(out.Panels, ep)
	}
	w.Header().Set("Content-Disposition", `attachment; filename="dashboard.json"`)
	kit.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) importDashboard(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var in dashboardExport
	if err := kit.Decode(w, r, &in); err != nil {
		return err
	}
	if in.Format != dashboardFormat {
		return querygate.FieldErrorf("format", "format: must be %s", dashboardFormat)
	}
	visible, err := s.VisibleDatasources(r, u)
	if err != nil {
		return err
	}
	def := dashboard.Definition{Inputs: in.Inputs}
	for i, ep := range in.Panels {
		f := fmt.Sprintf("panels[%d].query", i)
		if ep.Query == nil {
			return querygate.FieldErrorf(f, "%s: names the saved query as {datasource, query}", f)
		}
		i := slices.IndexFunc(visible, func(v VisibleDatasource) bool { return v.Name == ep.Query.Datasource })
		if i < 0 {
			return querygate.FieldErrorf(f, "%s: no datasource of that name that you can see", f)
		}
		qs, err := s.savedQueries.List(r.Context(), visible[i].ID)
		if err != nil {
			return err
		}
		j := slices.IndexFunc(qs, func(q *savedquery.Query) bool { return q.Name == ep.Query.Query })
		if j < 0 {
			return querygate.FieldErrorf(f, "%s: the datasource has no saved query of that name (import the saved queries first)", f)
		}
		p := ep.Panel
		p.QueryID = qs[j].ID
		def.Panels = append(def.Panels, p)
	}
	if err := def.Check(); err != nil {
		return err
	}
	d, err := s.dashboards.Create(r.Context(), u.ID, in.Name, in.Description, def)
	ev := audit.Event{Action: audit.DashboardCreate, Details: map[string]any{"import": true}}
	if d != nil {
		ev.Target = d.ID
	}
	s.record(r, u, ev, err)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, dashboardResponse{Dashboard: d, Access: dashboard.AccessOf(u, d, "")})
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

package ui

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/web/api"
)

// The dashboard pages: the list, a view (the definition goes to the
// script as JSON; the panels run in the browser), and the editor.

func (s *Server) dashboardsPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.VisibleDashboards(r, u)
	if err != nil {
		return err
	}
	type row struct {
		dashboard.View
		Owner string
	}
	data := struct {
		Dashboards []row
		CanCreate  bool
	}{CanCreate: api.MayCreateDashboards(u) == nil}
	owners := map[string]string{}
	for _, v := range list {
		if _, ok := owners[v.OwnerID]; !ok {
			owners[v.OwnerID] = ""
			if o, err := s.accounts.FindUser(r.Context(), v.OwnerID); err == nil {
				owners[v.OwnerID] = o.Username
			}
		}
		data.Dashboards = append(data.Dashboards, row{v, owners[v.OwnerID]})
	}
	s.render(w, r, http.StatusOK, "dashboards", withUser(page{Title: "Dashboards", Nav: "dashboards", Script: "dashboards.js", Data: data}, u))
	return nil
}

// dashboardView is a dashboard page's data: the JSON the script reads,
// and the panels for the server-drawn frame.
type dashboardView struct {
	Dashboard *dashboard.Dashboard
	Access    dashboard.Access
	JSON      string
	Types     []string
}

func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	resp, err := s.DashboardWithQueries(r, u, dashboard.NeedView)
	if err != nil {
		return err
	}
	d := resp.Dashboard
	// Panels in reading order: by row, then as the definition lists
	// them (the grid places each in its columns).
	slices.SortStableFunc(d.Definition.Panels, func(a, b dashboard.Panel) int { return cmp.Compare(a.Layout.Y, b.Layout.Y) })
	data := dashboardView{Dashboard: d, Access: resp.Access, JSON: api.JSONRaw(resp)}
	s.render(w, r, http.StatusOK, "dashboard", withUser(page{Title: d.Name, Nav: "dashboards", Script: "dashboard.js", Data: data}, u))
	return nil
}

func (s *Server) editDashboardPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	dr, err := s.DashboardWithQueries(r, u, dashboard.NeedEdit)
	if err != nil {
		return err
	}
	d, a := dr.Dashboard, dr.Access
	resp := map[string]any{"dashboard": dr, "viz_types": dashboard.VizTypes()}
	if a.Own {
		gs, err := s.dashboards.Grants(r.Context(), d.ID)
		if err != nil {
			return err
		}
		subjects, err := s.subjects(r, d.OwnerID)
		if err != nil {
			return err
		}
		resp["grants"], resp["subjects"] = gs, subjects
	}
	data := dashboardView{Dashboard: d, Access: a, JSON: api.JSONRaw(resp)}
	s.render(w, r, http.StatusOK, "dashboard_edit", withUser(page{Title: "Edit " + d.Name, Nav: "dashboards", Script: "dashboard_edit.js", Data: data}, u))
	return nil
}

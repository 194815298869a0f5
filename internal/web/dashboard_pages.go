package web

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/dashboard"
)

// The dashboard pages: the list, a view (the definition goes to the
// script as JSON; the panels run in the browser), and the editor.

func (s *Server) dashboardsPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.dashboards.List(r.Context())
	if err != nil {
		return err
	}
	levels, err := s.dashboards.Levels(r.Context(), u.ID)
	if err != nil {
		return err
	}
	type row struct {
		*dashboard.Dashboard
		Access dashboard.Access
		Owner  string
	}
	data := struct {
		Dashboards []row
		CanCreate  bool
	}{CanCreate: mayCreateDashboards(u) == nil}
	owners := map[string]string{}
	for _, d := range list {
		a := dashboard.AccessOf(u, d, levels[d.ID])
		if !a.View {
			continue
		}
		if _, ok := owners[d.OwnerID]; !ok {
			owners[d.OwnerID] = ""
			if o, err := s.accounts.FindUser(r.Context(), d.OwnerID); err == nil {
				owners[d.OwnerID] = o.Username
			}
		}
		data.Dashboards = append(data.Dashboards, row{d, a, owners[d.OwnerID]})
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
	d, a, err := s.dashboardAuthorized(r, u, func(a dashboard.Access) bool { return a.View })
	if err != nil {
		return err
	}
	qs, err := s.panelQueries(r, u, d)
	if err != nil {
		return err
	}
	// Panels in reading order: by row, then column.
	slices.SortStableFunc(d.Definition.Panels, func(a, b dashboard.Panel) int {
		return cmp.Or(cmp.Compare(a.Layout.Y, b.Layout.Y), cmp.Compare(a.Layout.X, b.Layout.X))
	})
	data := dashboardView{Dashboard: d, Access: a, JSON: jsonRaw(dashboardResponse{Dashboard: d, Access: a, Queries: qs})}
	s.render(w, r, http.StatusOK, "dashboard", withUser(page{Title: d.Name, Nav: "dashboards", Script: "dashboard.js", Data: data}, u))
	return nil
}

func (s *Server) editDashboardPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, a, err := s.dashboardAuthorized(r, u, func(a dashboard.Access) bool { return a.Edit })
	if err != nil {
		return err
	}
	qs, err := s.panelQueries(r, u, d)
	if err != nil {
		return err
	}
	resp := map[string]any{"dashboard": dashboardResponse{Dashboard: d, Access: a, Queries: qs}, "viz_types": dashboard.VizTypes()}
	if a.Own {
		gs, err := s.dashboards.Grants(r.Context(), d.ID)
		if err != nil {
			return err
		}
		users, err := s.accounts.ListUsers(r.Context())
		if err != nil {
			return err
		}
		groups, err := s.accounts.ListGroups(r.Context())
		if err != nil {
			return err
		}
		var subjects []subject
		for _, g := range groups {
			subjects = append(subjects, subject{Type: "group", ID: g.ID, Name: g.Name})
		}
		for _, x := range users {
			if x.ID != d.OwnerID {
				subjects = append(subjects, subject{Type: "user", ID: x.ID, Name: x.Username})
			}
		}
		resp["grants"], resp["subjects"] = gs, subjects
	}
	data := dashboardView{Dashboard: d, Access: a, JSON: jsonRaw(resp)}
	s.render(w, r, http.StatusOK, "dashboard_edit", withUser(page{Title: "Edit " + d.Name, Nav: "dashboards", Script: "dashboard_edit.js", Data: data}, u))
	return nil
}

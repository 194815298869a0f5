package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/web/api"
)

// The admin pages that read what the API manages: groups, a datasource's
// grants, the audit trail and the effective network policy.

// subject is a user or group a grant can name, as a picker shows it.
type subject struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// groupRow is one group with a checkbox per user.
type groupRow struct {
	accounts.Group
	Members map[string]bool
}

func (s *Server) groupsPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	users, err := s.accounts.ListUsers(r.Context())
	if err != nil {
		return err
	}
	groups, err := s.accounts.ListGroups(r.Context())
	if err != nil {
		return err
	}
	data := struct {
		Groups []groupRow
		Users  []api.UserResponse
	}{}
	for _, x := range users {
		data.Users = append(data.Users, api.NewUserResponse(x))
	}
	for _, g := range groups {
		row := groupRow{Group: *g, Members: map[string]bool{}}
		for _, id := range g.Members {
			row.Members[id] = true
		}
		data.Groups = append(data.Groups, row)
	}
	s.render(w, r, http.StatusOK, "groups", withUser(page{Title: "Groups", Nav: "groups", Script: "groups.js", Data: data}, u))
	return nil
}

// subjects lists who a grant can name: every group, then every user but
// the owner (who has full access anyway).
func (s *Server) subjects(r *http.Request, owner string) ([]subject, error) {
	users, err := s.accounts.ListUsers(r.Context())
	if err != nil {
		return nil, err
	}
	groups, err := s.accounts.ListGroups(r.Context())
	if err != nil {
		return nil, err
	}
	out := []subject{}
	for _, g := range groups {
		out = append(out, subject{Type: "group", ID: g.ID, Name: g.Name})
	}
	for _, x := range users {
		if x.ID != owner {
			out = append(out, subject{Type: "user", ID: x.ID, Name: x.Username})
		}
	}
	return out, nil
}

// accessData is the grants section of a datasource's edit page: shown to
// those who manage the datasource, who may pick any user or group.
type accessData struct {
	Grants   []grantRow
	Subjects []subject
	Levels   []string
}

type grantRow struct {
	datasource.Grant
	Name string
}

func (s *Server) accessFor(r *http.Request, d *datasource.Datasource) (*accessData, error) {
	grants, err := s.datasources.Grants(r.Context(), d.ID)
	if err != nil {
		return nil, err
	}
	subjects, err := s.subjects(r, d.OwnerID)
	if err != nil {
		return nil, err
	}
	out := &accessData{Levels: []string{accounts.LevelRun, accounts.LevelUse, accounts.LevelManage}, Subjects: subjects}
	names := map[string]string{}
	for _, x := range subjects {
		names[x.Type+":"+x.ID] = x.Name
	}
	for _, g := range grants {
		out.Grants = append(out.Grants, grantRow{Grant: g, Name: names[g.Type+":"+g.ID]})
	}
	return out, nil
}

// auditPageSize is how many events one audit page shows.
const auditPageSize = 50

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	q := r.URL.Query()
	f := audit.Filter{Action: strings.TrimSpace(q.Get("action")), Outcome: strings.TrimSpace(q.Get("outcome")),
		DatasourceID: strings.TrimSpace(q.Get("datasource_id")), Limit: auditPageSize}
	actor := strings.TrimSpace(q.Get("actor"))
	if actor != "" {
		x, err := s.accounts.FindUserByName(r.Context(), actor)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return querygate.FieldErrorf("actor", "actor: there is no such user")
		} else if err != nil {
			return err
		}
		f.ActorID = x.ID
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return querygate.FieldErrorf("before", "before: must be a positive event number")
		}
		f.BeforeSeq = n
	}
	events, err := s.audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	type row struct {
		*audit.Stored
		Details string
	}
	data := struct {
		Events  []row
		Action  string
		Outcome string
		Actor   string
		DSID    string
		Older   string // the query of the next (older) page, "" at the end
		Newest  bool
		Actions []string
	}{Action: f.Action, Outcome: f.Outcome, Actor: actor, DSID: f.DatasourceID, Newest: f.BeforeSeq == 0,
		Actions: []string{"login.", "logout", "user.", "token.", "group.", "grant.", "datasource.", "device.", "keys.", "query", "savedquery."}}
	for _, e := range events {
		d := e.Details
		if d == "{}" {
			d = ""
		}
		data.Events = append(data.Events, row{Stored: e, Details: d})
	}
	if len(events) == auditPageSize {
		next := url.Values{}
		for k, v := range map[string]string{"action": f.Action, "outcome": f.Outcome, "actor": actor, "datasource_id": f.DatasourceID} {
			if v != "" {
				next.Set(k, v)
			}
		}
		next.Set("before", strconv.FormatInt(events[len(events)-1].Seq, 10))
		data.Older = next.Encode()
	}
	s.render(w, r, http.StatusOK, "audit", withUser(page{Title: "Audit trail", Nav: "audit", Data: data}, u))
	return nil
}

func (s *Server) networkPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var egress any
	if s.egress != nil {
		egress = s.egress()
	}
	prefixes := func(ps []string) []string { slices.Sort(ps); return ps }
	var allow, proxies []string
	for _, p := range s.IngressPolicy().AllowClients {
		allow = append(allow, p.String())
	}
	for _, p := range s.IngressPolicy().TrustedProxies {
		proxies = append(proxies, p.String())
	}
	hosts := []string{}
	for _, h := range s.AllowedHosts() {
		hosts = append(hosts, h)
	}
	data := struct {
		Egress         any
		AllowClients   []string
		TrustedProxies []string
		AllowedHosts   []string
		Secure         bool
		Now            time.Time
	}{egress, prefixes(allow), prefixes(proxies), prefixes(hosts), s.Secure(), time.Now()}
	s.render(w, r, http.StatusOK, "network", withUser(page{Title: "Network policy", Nav: "network", Data: data}, u))
	return nil
}

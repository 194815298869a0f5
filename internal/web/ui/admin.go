package ui

import (
	"encoding/json"
	"maps"
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

// auditDate is the layout of the audit page's from and to dates.
const auditDate = "2006-01-02"

// auditRow is one event as the audit page shows it: the names of what it
// names (the ids stay for what has since been deleted) and its details as
// fields.
type auditRow struct {
	*audit.Stored
	TargetName     string
	DatasourceName string
	Details        []detailField
}

// detailField is one entry of an event's details, as people read it.
type detailField struct {
	Name, Value string
}

// detailFields turns an event's details (a JSON object of small metadata)
// into fields sorted by name: lists joined with commas, numbers as they
// are, anything nested as compact JSON.
func detailFields(details string) []detailField {
	var m map[string]any
	if err := json.Unmarshal([]byte(details), &m); err != nil || len(m) == 0 {
		if details == "" || details == "{}" || details == "null" {
			return nil
		}
		return []detailField{{Name: "details", Value: details}}
	}
	out := make([]detailField, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, detailField{Name: strings.ReplaceAll(k, "_", " "), Value: detailValue(m[k])})
	}
	return out
}

func detailValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "none"
	case string:
		return v
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []any:
		if len(v) == 0 {
			return "none"
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = detailValue(x)
		}
		return strings.Join(parts, ", ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// auditNames maps the ids an event can name (users, groups, datasources)
// to their names.
func (s *Server) auditNames(r *http.Request) (users, datasources map[string]string, err error) {
	users, datasources = map[string]string{}, map[string]string{}
	us, err := s.accounts.ListUsers(r.Context())
	if err != nil {
		return nil, nil, err
	}
	for _, x := range us {
		users[x.ID] = x.Username
	}
	gs, err := s.accounts.ListGroups(r.Context())
	if err != nil {
		return nil, nil, err
	}
	for _, x := range gs {
		users[x.ID] = x.Name
	}
	ds, err := s.datasources.List(r.Context())
	if err != nil {
		return nil, nil, err
	}
	for _, x := range ds {
		datasources[x.ID] = x.Name
	}
	return users, datasources, nil
}

// parseAuditDates reads the from and to dates (inclusive, UTC) of the
// audit page into the filter's since and until.
func parseAuditDates(from, to string, f *audit.Filter) error {
	if from != "" {
		t, err := time.Parse(auditDate, from)
		if err != nil {
			return querygate.FieldErrorf("from", "from: must be a date such as 2026-01-02")
		}
		f.Since = t
	}
	if to != "" {
		t, err := time.Parse(auditDate, to)
		if err != nil {
			return querygate.FieldErrorf("to", "to: must be a date such as 2026-01-02")
		}
		f.Until = t.AddDate(0, 0, 1) // the whole day: until is exclusive
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return querygate.FieldErrorf("to", "to: must not be before from")
	}
	return nil
}

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
	from, to := strings.TrimSpace(q.Get("from")), strings.TrimSpace(q.Get("to"))
	if err := parseAuditDates(from, to, &f); err != nil {
		return err
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
	users, dsNames, err := s.auditNames(r)
	if err != nil {
		return err
	}
	data := struct {
		Events      []auditRow
		Action      string
		Outcome     string
		Actor       string
		DSID        string
		From, To    string
		Datasources []subject // the datasource filter's choices, by name
		Older       string    // the query of the next (older) page, "" at the end
		Newest      bool
		Actions     []string
	}{Action: f.Action, Outcome: f.Outcome, Actor: actor, DSID: f.DatasourceID, From: from, To: to, Newest: f.BeforeSeq == 0,
		Actions: []string{"login.", "logout", "user.", "token.", "group.", "grant.", "datasource.", "device.", "keys.", "query", "savedquery."}}
	for id, name := range dsNames {
		data.Datasources = append(data.Datasources, subject{Type: "datasource", ID: id, Name: name})
	}
	if _, ok := dsNames[f.DatasourceID]; f.DatasourceID != "" && !ok {
		data.Datasources = append(data.Datasources, subject{Type: "datasource", ID: f.DatasourceID, Name: f.DatasourceID})
	}
	slices.SortFunc(data.Datasources, func(a, b subject) int { return strings.Compare(a.Name, b.Name) })
	for _, e := range events {
		row := auditRow{Stored: e, DatasourceName: dsNames[e.DatasourceID], Details: detailFields(e.Details)}
		if n, ok := users[e.Target]; ok {
			row.TargetName = n
		} else if n, ok := dsNames[e.Target]; ok {
			row.TargetName = n
		}
		data.Events = append(data.Events, row)
	}
	if len(events) == auditPageSize {
		next := url.Values{}
		for k, v := range map[string]string{"action": f.Action, "outcome": f.Outcome, "actor": actor, "datasource_id": f.DatasourceID,
			"from": from, "to": to} {
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
	hosts := append([]string{}, s.AllowedHosts()...)
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

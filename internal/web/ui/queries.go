package ui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/web/api"
)

// The saved-query pages: a list, a page that runs one query from a form
// generated from its typed parameters, and a form that creates or edits one
// (each save of a new text or new parameters is a new version).

// kindShape tells which request shape a datasource kind takes.
func kindShape(kind string) (sql, http, redis bool) {
	switch kind {
	case datasource.KindRedis:
		return false, false, true
	case datasource.KindHTTP:
		return false, true, false
	}
	return true, false, false
}

// savedQueryRow is one line of the saved-query list.
type savedQueryRow struct {
	api.SavedQueryResponse
	DatasourceName string
	KindLabel      string
	CanManage      bool
}

// datasourceOption is a datasource in a picker.
type datasourceOption struct {
	ID, Name, KindLabel string
	Selected            bool
}

func (s *Server) savedQueriesPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	visible, err := s.VisibleDatasources(r, u)
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("datasource")
	byID := map[string]api.VisibleDatasource{}
	data := struct {
		Queries     []savedQueryRow
		Datasources []datasourceOption
		Filter      string
		FilterName  string
		CanCreate   bool
	}{Filter: filter}
	for _, v := range visible {
		byID[v.ID] = v
		data.Datasources = append(data.Datasources, datasourceOption{ID: v.ID, Name: v.Name, KindLabel: s.kindLabel(v.Kind), Selected: v.ID == filter})
		if v.May(u, accounts.ActionDatasourceManage) && (filter == "" || v.ID == filter) {
			data.CanCreate = true
		}
	}
	if filter != "" {
		v, ok := byID[filter]
		if !ok {
			return api.ErrDatasourceNotFound
		}
		data.FilterName = v.Name
	}
	qs, err := s.savedQueries.List(r.Context(), filter)
	if err != nil {
		return err
	}
	for _, q := range qs {
		v, ok := byID[q.DatasourceID]
		if !ok {
			continue
		}
		data.Queries = append(data.Queries, savedQueryRow{SavedQueryResponse: api.NewSavedQueryResponse(q), DatasourceName: v.Name,
			KindLabel: s.kindLabel(v.Kind), CanManage: v.May(u, accounts.ActionDatasourceManage)})
	}
	s.render(w, r, http.StatusOK, "queries", withUser(page{Title: "Saved queries", Nav: "queries", Script: "queries.js", Data: data}, u))
	return nil
}

// paramField is one input of a saved query's run form.
type paramField struct {
	savedquery.Param
	ID        string // the input's id
	Key       string // "params.<name>", as the API names it in errors
	Input     string // the input type: number, text, date, datetime-local, select
	Step      string // for numbers: "1" (int) or "any"
	Default   string // the default as text ("" for none)
	HasDetail bool
	Detail    string // the constraints in words
}

func paramFields(ps []savedquery.Param) []paramField {
	out := make([]paramField, 0, len(ps))
	for _, p := range ps {
		f := paramField{Param: p, ID: "p-" + p.Name, Key: "params." + p.Name, Input: "text"}
		var details []string
		switch p.Type {
		case savedquery.TypeInt:
			f.Input, f.Step = "number", "1"
		case savedquery.TypeNumber:
			f.Input, f.Step = "number", "any"
		case savedquery.TypeDate:
			f.Input = "date"
		case savedquery.TypeTimestamp:
			f.Input = "datetime-local"
			details = append(details, "in your time zone")
		case savedquery.TypeEnum, savedquery.TypeBool:
			f.Input = "select"
		case savedquery.TypeUUID:
			details = append(details, "a UUID such as 123e4567-e89b-12d3-a456-426614174000")
		}
		if p.Min != "" {
			details = append(details, "at least "+p.Min.String())
		}
		if p.Max != "" {
			details = append(details, "at most "+p.Max.String())
		}
		if p.MaxLength > 0 {
			details = append(details, "up to "+strconv.Itoa(p.MaxLength)+" characters")
		}
		if p.Pattern != "" {
			details = append(details, "matching "+p.Pattern)
		}
		if len(p.Default) > 0 && string(p.Default) != "null" {
			var v any
			if json.Unmarshal(p.Default, &v) == nil {
				switch v := v.(type) {
				case string:
					f.Default = v
				default:
					f.Default = strings.TrimSpace(string(p.Default))
				}
			}
		}
		f.Detail = strings.Join(details, "; ")
		f.HasDetail = f.Detail != "" || p.Description != ""
		out = append(out, f)
	}
	return out
}

// savedQueryPageData is the run page of one saved query.
type savedQueryPageData struct {
	Query      api.SavedQueryResponse
	Datasource api.DatasourceResponse
	KindLabel  string
	SQL        bool
	HTTP       bool
	Redis      bool
	Params     []paramField
	Versions   []api.SavedQueryResponse
	Template   string // the request or command template, as indented JSON
	CanManage  bool
	CanUse     bool
	Old        bool // an older version than the current one is shown
	// ExportLimit is the rows an export asks for when no limit is set.
	ExportLimit int64
}

func (s *Server) savedQueryPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return querygate.FieldErrorf("version", "version: must be a positive integer")
		}
		version = n
	}
	q, d, err := s.SavedQueryAuthorized(r, u, version, accounts.ActionDatasourceRead)
	if err != nil {
		return err
	}
	res, err := s.ResourceFor(r, u, d)
	if err != nil {
		return err
	}
	vs, err := s.savedQueries.Versions(r.Context(), q.ID)
	if err != nil {
		return err
	}
	data := savedQueryPageData{Query: api.NewSavedQueryResponse(q), Datasource: s.DatasourceResponse(d), KindLabel: s.kindLabel(d.Kind),
		Params:    paramFields(q.Definition.Parameters),
		CanManage: accounts.Authorize(u, accounts.ActionDatasourceManage, res) == nil,
		CanUse:    accounts.Authorize(u, accounts.ActionDatasourceUse, res) == nil,
		Old:       q.Version.Number != q.CurrentVersion, ExportLimit: s.queries.Limits().MaxRows}
	data.SQL, data.HTTP, data.Redis = kindShape(d.Kind)
	for i := len(vs) - 1; i >= 0; i-- {
		data.Versions = append(data.Versions, api.NewSavedQueryResponse(vs[i]))
	}
	switch {
	case q.Definition.Request != nil:
		data.Template = indentJSON(q.Definition.Request)
	case q.Definition.Command != nil:
		data.Template = indentJSON(q.Definition.Command)
	}
	s.render(w, r, http.StatusOK, "query", withUser(page{Title: q.Name, Nav: "queries", Script: "query.js", Data: data}, u))
	return nil
}

func indentJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}

// savedQueryFormData is the create and edit form. The current definition
// goes to the script as JSON in data attributes (html/template escapes it).
type savedQueryFormData struct {
	Query       *api.SavedQueryResponse // nil when creating
	Datasources []datasourceOption      // the ones the caller manages, to pick from when creating
	Datasource  *api.DatasourceResponse
	KindLabel   string
	SQL         bool
	HTTP        bool
	Redis       bool
	Types       []string
	Definition  string // {"query"|"request"|"command", "parameters"} as JSON
}

func (s *Server) newSavedQueryPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	visible, err := s.VisibleDatasources(r, u)
	if err != nil {
		return err
	}
	dsID := r.URL.Query().Get("datasource")
	data := savedQueryFormData{Types: savedquery.Types(), Definition: `{"parameters":[]}`}
	for _, v := range visible {
		if v.May(u, accounts.ActionDatasourceManage) {
			data.Datasources = append(data.Datasources, datasourceOption{ID: v.ID, Name: v.Name, KindLabel: s.kindLabel(v.Kind), Selected: v.ID == dsID})
		}
	}
	if dsID != "" {
		d, err := s.AuthorizedDatasource(r, u, dsID, accounts.ActionDatasourceManage)
		if err != nil {
			return err
		}
		resp := s.DatasourceResponse(d)
		data.Datasource, data.KindLabel = &resp, s.kindLabel(d.Kind)
		data.SQL, data.HTTP, data.Redis = kindShape(d.Kind)
	} else if len(data.Datasources) == 0 {
		return querygate.Errorf(querygate.EFORBIDDEN, "You manage no datasource: saved queries are created by those who manage a datasource.")
	}
	s.render(w, r, http.StatusOK, "query_form", withUser(page{Title: "New saved query", Nav: "queries", Script: "query_form.js", Data: data}, u))
	return nil
}

func (s *Server) editSavedQueryPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	q, d, err := s.SavedQueryAuthorized(r, u, 0, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	resp := api.NewSavedQueryResponse(q)
	ds := s.DatasourceResponse(d)
	def, err := json.Marshal(struct {
		Query      string              `json:"query,omitempty"`
		Request    *savedquery.Request `json:"request,omitempty"`
		Command    []string            `json:"command,omitempty"`
		Parameters []savedquery.Param  `json:"parameters"`
	}{resp.Query, resp.Request, resp.Command, resp.Parameters})
	if err != nil {
		return err
	}
	data := savedQueryFormData{Query: &resp, Datasource: &ds, KindLabel: s.kindLabel(d.Kind), Types: savedquery.Types(), Definition: string(def)}
	data.SQL, data.HTTP, data.Redis = kindShape(d.Kind)
	s.render(w, r, http.StatusOK, "query_form", withUser(page{Title: "Edit " + q.Name, Nav: "queries", Script: "query_form.js", Data: data}, u))
	return nil
}

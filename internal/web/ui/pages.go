package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/web/api"
	"github.com/querygate/querygate/internal/web/kit"
)

// The pages are server-rendered with html/template; small ES modules under
// static/js talk to the JSON API. Nothing is built: the files below are
// served as they are.
//
//go:embed templates static
var uiFiles embed.FS

// pageCSP is the policy of every page: scripts, styles and fetches from
// this origin only, no inline script or style, no eval, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageFiles lists each page's template; each is parsed with the layout at
// start, so a broken template stops the gateway instead of a request.
var pageFiles = []string{"setup", "login", "datasources", "datasource_form", "workspace", "users", "tokens", "devices", "error",
	"queries", "query", "query_form", "groups", "audit", "network", "account", "sso", "dashboards", "dashboard", "dashboard_edit"}

var pageTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		// asset is the content-hashed URL of a static file ("css/app.css").
		"asset": staticAssets.URL,
		"fmtTime": func(t any) string {
			switch t := t.(type) {
			case time.Time:
				if t.IsZero() {
					return "never"
				}
				return t.UTC().Format("2006-01-02 15:04 UTC")
			case *time.Time:
				if t == nil || t.IsZero() {
					return "never"
				}
				return t.UTC().Format("2006-01-02 15:04 UTC")
			}
			return ""
		},
	}
	out := map[string]*template.Template{}
	for _, name := range pageFiles {
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(uiFiles, "templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
	}
	return out
}()

// page is what every page template gets; Data is the page's own struct.
type page struct {
	Title  string
	Nav    string // the active nav entry
	Script string // the page's module under /static/js/, if any
	User   *api.UserResponse
	Admin  bool
	Data   any
}

// pageFunc is a page handler for a logged-in user.
type pageFunc func(w http.ResponseWriter, r *http.Request, u *accounts.User) error

// render executes a page into a buffer, then writes it with the page CSP.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var buf bytes.Buffer
	if err := pageTemplates[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.LogError(r, "template failed: "+name, err)
		http.Error(w, "An internal error occurred.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func withUser(p page, u *accounts.User) page {
	if u != nil {
		ur := api.NewUserResponse(u)
		p.User = &ur
		p.Admin = accounts.Authorize(u, accounts.ActionAdmin, accounts.Resource{}) == nil
	}
	return p
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, u *accounts.User, err error) {
	code := querygate.ErrorCode(err)
	msg := querygate.ErrorMessage(err)
	if code == querygate.EINTERNAL || code == querygate.EUNAVAILABLE || code == querygate.EKEY {
		s.LogError(r, "page failed", err)
		code, msg = querygate.EINTERNAL, "An internal error occurred."
	}
	s.render(w, r, kit.StatusOf(code), "error", withUser(page{Title: "Error", Data: kit.ErrorDetail{Code: code, Message: msg}}, u))
}

// needsSetup reports whether the gateway has no user yet.
func (s *Server) needsSetup(r *http.Request) bool {
	return s.setup.NeedsSetup(r.Context())
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	if !s.needsSetup(r) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "setup", page{Title: "Set up querygate", Script: "setup.js"})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.needsSetup(r) {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	next := safeNext(r.URL.Query().Get("next"))
	if _, err := s.Authenticate(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	data := loginData{LocalLogin: s.LocalLoginAllowed(r), Error: api.SSOErrors[r.URL.Query().Get("sso_error")], Next: next}
	if r.URL.Query().Get("sso_error") != "" && data.Error == "" {
		data.Error = api.SSOErrors["unavailable"]
	}
	if s.sso != nil {
		if st, err := s.sso.Load(r.Context()); err == nil {
			data.SSO = st.Enabled
		}
	}
	s.render(w, r, http.StatusOK, "login", page{Title: "Log in", Script: "login.js", Data: data})
}

// loginURL is the login page for a visitor without a session, keeping the
// page they asked for (a GET) to return to after login.
func loginURL(r *http.Request) string {
	if r.Method != http.MethodGet || safeNext(r.URL.RequestURI()) != r.URL.RequestURI() || r.URL.Path == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(r.URL.RequestURI())
}

// safeNext returns next when it is a path on this site ("/queries/x?a=b"),
// and otherwise the datasource list: never another site ("//evil.example",
// "https://evil.example", "/\evil.example"), so that a link to the login
// page cannot send a person elsewhere after they signed in.
func safeNext(next string) string {
	const home = "/datasources"
	if len(next) < 2 || next[0] != '/' || next[1] == '/' || next[1] == '\\' || len(next) > 2000 {
		return home
	}
	if strings.ContainsAny(next, "\\\x00\r\n\t") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return home
	}
	return next
}

// datasourceRow is one line of the datasource list.
type datasourceRow struct {
	api.DatasourceResponse
	KindLabel string
	Owner     string
	CanUse    bool
	CanManage bool
}

// kindLabel is the name of a datasource kind as people read it.
func (s *Server) kindLabel(kind string) string {
	if k, ok := s.datasources.FindKind(kind); ok {
		return k.Label
	}
	return kind
}

// kindDialect is the SQL dialect of a kind ("postgres", "mysql",
// "sqlite"), or "" for the other shapes.
func (s *Server) kindDialect(kind string) string {
	if k, ok := s.datasources.FindKind(kind); ok {
		return k.Dialect
	}
	return ""
}

func (s *Server) datasourcesPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.VisibleDatasources(r, u)
	if err != nil {
		return err
	}
	owners := map[string]string{}
	rows := []datasourceRow{}
	for _, v := range list {
		d := v.Datasource
		if _, ok := owners[d.OwnerID]; !ok {
			owners[d.OwnerID] = d.OwnerID
			if o, err := s.accounts.FindUser(r.Context(), d.OwnerID); err == nil {
				owners[d.OwnerID] = o.Username
			}
		}
		rows = append(rows, datasourceRow{DatasourceResponse: s.DatasourceResponse(d), KindLabel: s.kindLabel(d.Kind), Owner: owners[d.OwnerID],
			CanUse: v.May(u, accounts.ActionDatasourceUse), CanManage: v.May(u, accounts.ActionDatasourceManage)})
	}
	data := struct {
		Datasources []datasourceRow
		CanCreate   bool
	}{rows, accounts.Authorize(u, accounts.ActionDatasourceCreate, accounts.Resource{}) == nil}
	s.render(w, r, http.StatusOK, "datasources", withUser(page{Title: "Datasources", Nav: "datasources", Script: "datasources.js", Data: data}, u))
	return nil
}

// formField is one field of a datasource form, generated from the kind's
// schema. Value holds a plain setting's current value; a secret's value is
// never here: only whether one is stored (Configured).
type formField struct {
	datasource.Field
	ID             string
	Key            string // "settings.host" or "secrets.password", as the API names it in errors
	Value          string
	Checked        bool
	Configured     bool
	DevicePassword bool // the secret that device custody keeps on devices
	Options        []string
}

type datasourceForm struct {
	Kinds      []*datasource.Kind
	Kind       *datasource.Kind
	Datasource *api.DatasourceResponse // nil when creating
	Settings   []formField
	Secrets    []formField
	Created    bool
	Saved      bool
	Access     *accessData // grants, when editing
}

func (s *Server) newDatasourcePage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	data := datasourceForm{Kinds: s.datasources.CreatableKinds()}
	if name := r.URL.Query().Get("kind"); name != "" {
		k, ok := s.datasources.FindKind(name)
		if !ok || k.Off != "" {
			return querygate.Errorf(querygate.ENOTFOUND, "No such datasource kind.")
		}
		data.Kind = k
		data.Settings, data.Secrets = formFields(k, nil)
	}
	s.render(w, r, http.StatusOK, "datasource_form", withUser(page{Title: "New datasource", Nav: "datasources", Script: "datasource_form.js", Data: data}, u))
	return nil
}

func (s *Server) editDatasourcePage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.FindAuthorized(r, u, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	k, ok := s.datasources.FindKind(d.Kind)
	if !ok {
		return querygate.Errorf(querygate.EINTERNAL, "unknown kind")
	}
	resp := s.DatasourceResponse(d)
	data := datasourceForm{Kinds: s.datasources.Kinds(), Kind: k, Datasource: &resp, Created: r.URL.Query().Get("created") != "",
		Saved: r.URL.Query().Get("saved") != ""}
	data.Settings, data.Secrets = formFields(k, &resp)
	if data.Access, err = s.accessFor(r, d); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "datasource_form", withUser(page{Title: "Edit " + d.Name, Nav: "datasources", Script: "datasource_form.js", Data: data}, u))
	return nil
}

// formFields builds the form of a kind, filled from d's plain settings
// when editing.
func formFields(k *datasource.Kind, d *api.DatasourceResponse) (settings, secrets []formField) {
	for _, f := range k.Fields {
		prefix := "settings"
		if f.Secret {
			prefix = "secrets"
		}
		ff := formField{Field: f, ID: "f-" + prefix + "-" + f.Name, Key: prefix + "." + f.Name, Options: f.Enum,
			DevicePassword: f.Secret && f.Name == k.DevicePassword}
		var v any = f.Default
		if d != nil {
			v = d.Settings[f.Name]
		}
		if f.Secret {
			if d != nil {
				ff.Configured = d.Secrets[f.Name].Configured
			}
			secrets = append(secrets, ff)
			continue
		}
		switch v := v.(type) {
		case nil:
		case bool:
			ff.Checked = v
		case map[string]string:
			for _, name := range slices.Sorted(maps.Keys(v)) {
				ff.Value += name + ": " + v[name] + "\n"
			}
		case map[string]any:
			for _, name := range slices.Sorted(maps.Keys(v)) {
				ff.Value += fmt.Sprintf("%s: %v\n", name, v[name])
			}
		default:
			ff.Value = fmt.Sprint(v)
		}
		if f.Type == datasource.TypeEnum && ff.Value == "" && f.Default != nil {
			ff.Value = fmt.Sprint(f.Default)
		}
		// On a new form a default shows as the placeholder: left empty,
		// the gateway applies it.
		if d == nil && f.Type != datasource.TypeEnum && f.Type != datasource.TypeBool {
			ff.Value = ""
		}
		settings = append(settings, ff)
	}
	return settings, secrets
}

type workspaceData struct {
	Datasource   api.DatasourceResponse
	KindLabel    string
	SQL          bool
	Redis        bool
	HTTP         bool
	CanManage    bool
	SavedQueries []api.SavedQueryResponse
	ExportLimit  int64  // the rows an export asks for when no limit is set
	Dialect      string // the SQL dialect of a SQL kind, for the editor
}

func (s *Server) workspacePage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.FindAuthorized(r, u, accounts.ActionDatasourceUse)
	if err != nil {
		return err
	}
	res, err := s.ResourceFor(r, u, d)
	if err != nil {
		return err
	}
	data := workspaceData{Datasource: s.DatasourceResponse(d), KindLabel: s.kindLabel(d.Kind),
		CanManage: accounts.Authorize(u, accounts.ActionDatasourceManage, res) == nil, ExportLimit: s.queries.Limits().MaxRows}
	data.SQL, data.HTTP, data.Redis = kindShape(d.Kind)
	data.Dialect = s.kindDialect(d.Kind)
	qs, err := s.savedQueries.List(r.Context(), d.ID)
	if err != nil {
		return err
	}
	for _, q := range qs {
		data.SavedQueries = append(data.SavedQueries, api.NewSavedQueryResponse(q))
	}
	s.render(w, r, http.StatusOK, "workspace", withUser(page{Title: d.Name, Nav: "datasources", Script: "workspace.js", Data: data}, u))
	return nil
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.accounts.ListUsers(r.Context())
	if err != nil {
		return err
	}
	users := make([]api.UserResponse, len(list))
	for i, x := range list {
		users[i] = api.NewUserResponse(x)
	}
	data := struct {
		Users []api.UserResponse
		Roles []string
		Self  string
	}{users, []string{accounts.RoleAdmin, accounts.RoleEditor, accounts.RoleViewer}, u.ID}
	s.render(w, r, http.StatusOK, "users", withUser(page{Title: "Users", Nav: "users", Script: "users.js", Data: data}, u))
	return nil
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.accounts.ListTokens(r.Context(), u.ID)
	if err != nil {
		return err
	}
	tokens := make([]api.TokenResponse, len(list))
	for i, t := range list {
		tokens[i] = api.NewTokenResponse(t)
	}
	s.render(w, r, http.StatusOK, "tokens", withUser(page{Title: "API tokens", Nav: "tokens", Script: "tokens.js", Data: tokens}, u))
	return nil
}

func (s *Server) devicesPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.devices.List(r.Context(), u.ID, "")
	if err != nil {
		return err
	}
	names := map[string]string{}
	if all, err := s.datasources.List(r.Context()); err == nil {
		for _, d := range all {
			names[d.ID] = d.Name
		}
	}
	out := make([]api.DeviceResponse, 0, len(list))
	for _, d := range list {
		out = append(out, s.NewDeviceResponse(r, d, names))
	}
	s.render(w, r, http.StatusOK, "devices", withUser(page{Title: "My devices", Nav: "devices", Script: "devices.js", Data: out}, u))
	return nil
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.accounts.ListSessions(r.Context(), u.ID, s.CurrentSessionID(r))
	if err != nil {
		return err
	}
	data := struct {
		Sessions  []api.SessionResponse
		Idle, TTL string
		SSO       api.AccountSSO
	}{api.NewSessionResponses(list), humanDuration(s.accounts.SessionIdle()), humanDuration(s.accounts.SessionTTL()), s.AccountSSO(r, u)}
	s.render(w, r, http.StatusOK, "account", withUser(page{Title: "Your account", Nav: "account", Script: "account.js", Data: data}, u))
	return nil
}

// humanDuration writes 2h0m0s as "2 hours", 90m as "1h30m".
func humanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0 && d < time.Hour:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// loginData is the login page: which ways in are open, and why a single
// sign-on just failed (a fixed sentence per reason, never the IdP's text).
type loginData struct {
	// Next is where a successful login goes: the page the visitor was
	// sent here from (a same-site path, see safeNext).
	Next       string
	LocalLogin bool
	SSO        bool
	Error      string
}

func (s *Server) ssoPage(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	st, err := s.sso.Load(r.Context())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(api.SSOSettingsResponse{Settings: st, CallbackURL: s.CallbackURL(r, st.Config), LocalLoginForced: s.forceLocalLogin})
	s.render(w, r, http.StatusOK, "sso", withUser(page{Title: "Single sign-on", Nav: "sso", Script: "sso.js", Data: string(b)}, u))
	return nil
}

package dashboard

import (
	"context"
	"fmt"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/savedquery"
)

// This file holds the dashboard use cases: listing and reading dashboards
// as the actor may see them, creating, importing, changing, deleting and
// granting them. Each takes the actor and, in this one place, authorizes,
// checks that every new panel's saved query is one the actor can run,
// acts, and records exactly one audit event for every change and every
// refused change (P14). Front ends only decode, call and encode.

// PanelQuery is what a viewer may know of a panel's saved query: enough
// to run it and draw its parameters, or only that they cannot run it.
type PanelQuery struct {
	CanRun         bool               `json:"can_run"`
	Name           string             `json:"name,omitempty"`
	DatasourceID   string             `json:"datasource_id,omitempty"`
	DatasourceName string             `json:"datasource_name,omitempty"`
	Custody        string             `json:"custody,omitempty"`
	Parameters     []savedquery.Param `json:"parameters,omitempty"`
}

// Queries resolves saved queries as the actor sees them (query.Service):
// a saved query on a datasource the actor may not read is not runnable
// (PanelQuery.CanRun false), like one that does not exist.
type Queries interface {
	PanelQuery(ctx context.Context, a accounts.Actor, queryID string) (PanelQuery, error)
	// SavedQueryID finds the saved query named queryName on the
	// datasource named datasourceName that the actor may read: an error
	// coded ENOTFOUND says which of the two is missing.
	SavedQueryID(ctx context.Context, a accounts.Actor, datasourceName, queryName string) (string, error)
}

// Recorder records audit events (audit.Log).
type Recorder = audit.Recorder

// UseCases are the dashboard use cases on a Service.
type UseCases struct {
	dashboards *Service
	queries    Queries
	audit      Recorder
}

// NewUseCases returns the dashboard use cases; rec may be nil (nothing is
// recorded).
func NewUseCases(dashboards *Service, q Queries, rec Recorder) *UseCases {
	return &UseCases{dashboards: dashboards, queries: q, audit: rec}
}

// View is a dashboard as the actor sees it: their access and, when asked
// for, each panel's saved query as they see it (by panel id).
type View struct {
	*Dashboard
	Access  Access                `json:"access"`
	Queries map[string]PanelQuery `json:"queries,omitempty"`
}

var (
	errNotFound  = querygate.Errorf(querygate.ENOTFOUND, "Dashboard not found.")
	errSignIn    = querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in.")
	errNoAccess  = querygate.Errorf(querygate.EFORBIDDEN, "Your access to this dashboard does not allow this.")
	errNotViewed = querygate.Errorf(querygate.EFORBIDDEN, "A panel runs a saved query you cannot see, so the dashboard cannot be exported by you.")
)

// Need is what a use case needs of the actor's access to a dashboard.
type Need func(Access) bool

// Needs.
var (
	NeedView Need = func(a Access) bool { return a.View }
	NeedEdit Need = func(a Access) bool { return a.Edit }
	NeedOwn  Need = func(a Access) bool { return a.Own }
)

func (u *UseCases) record(ctx context.Context, a accounts.Actor, ev audit.Event, err error) {
	audit.RecordOutcome(ctx, u.audit, a.Who(), ev, err)
}

// authorized loads dashboard id and checks the actor's access: a
// dashboard the actor may not view does not exist for them.
func (u *UseCases) authorized(ctx context.Context, a accounts.Actor, id string, need Need) (*Dashboard, Access, error) {
	if a.User == nil {
		return nil, Access{}, errSignIn
	}
	d, err := u.dashboards.Find(ctx, id)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, Access{}, errNotFound
	} else if err != nil {
		return nil, Access{}, err
	}
	levels, err := u.dashboards.Levels(ctx, a.User.ID)
	if err != nil {
		return nil, Access{}, err
	}
	acc := AccessOf(a.User, d, levels[d.ID])
	if !acc.View {
		return nil, acc, errNotFound
	}
	if !need(acc) {
		return nil, acc, errNoAccess
	}
	return d, acc, nil
}

// panels resolves each panel's saved query as the actor sees it.
func (u *UseCases) panels(ctx context.Context, a accounts.Actor, ps []Panel) (map[string]PanelQuery, error) {
	out := map[string]PanelQuery{}
	for _, p := range ps {
		q, err := u.queries.PanelQuery(ctx, a, p.QueryID)
		if err != nil {
			return nil, err
		}
		out[p.ID] = q
	}
	return out, nil
}

// checkPanels refuses panels whose saved query the actor cannot run, so
// that nobody builds a dashboard over queries they could not run.
func (u *UseCases) checkPanels(ctx context.Context, a accounts.Actor, ps []Panel) error {
	qs, err := u.panels(ctx, a, ps)
	if err != nil {
		return err
	}
	for i, p := range ps {
		if !qs[p.ID].CanRun {
			f := fmt.Sprintf("definition.panels[%d].query_id", i)
			return querygate.FieldErrorf(f, "%s: no saved query you can run has that id", f)
		}
	}
	return nil
}

// List lists the dashboards the actor may view, by name, with their access.
func (u *UseCases) List(ctx context.Context, a accounts.Actor) ([]View, error) {
	if a.User == nil {
		return nil, errSignIn
	}
	list, err := u.dashboards.List(ctx)
	if err != nil {
		return nil, err
	}
	levels, err := u.dashboards.Levels(ctx, a.User.ID)
	if err != nil {
		return nil, err
	}
	out := []View{}
	for _, d := range list {
		if acc := AccessOf(a.User, d, levels[d.ID]); acc.View {
			out = append(out, View{Dashboard: d, Access: acc})
		}
	}
	return out, nil
}

// Find reads dashboard id, which the actor's access must allow need for,
// with each panel's saved query as the actor sees it.
func (u *UseCases) Find(ctx context.Context, a accounts.Actor, id string, need Need) (View, error) {
	d, acc, err := u.authorized(ctx, a, id, need)
	if err != nil {
		return View{}, err
	}
	qs, err := u.panels(ctx, a, d.Definition.Panels)
	if err != nil {
		return View{}, err
	}
	return View{Dashboard: d, Access: acc, Queries: qs}, nil
}

// CreateInput is a new dashboard.
type CreateInput struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Definition  Definition `json:"definition"`
}

// Create makes a dashboard owned by the actor. One audit event.
func (u *UseCases) Create(ctx context.Context, a accounts.Actor, in CreateInput) (View, error) {
	v, err := u.create(ctx, a, in)
	ev := audit.Event{Action: audit.DashboardCreate}
	if err == nil {
		ev.Target, ev.Details = v.ID, map[string]any{"panels": len(v.Definition.Panels)}
	}
	u.record(ctx, a, ev, err)
	return v, err
}

func (u *UseCases) create(ctx context.Context, a accounts.Actor, in CreateInput) (View, error) {
	if a.User == nil {
		return View{}, errSignIn
	}
	if err := accounts.Authorize(a.User, accounts.ActionDashboardCreate, accounts.Resource{}); err != nil {
		return View{}, err
	}
	if err := in.Definition.Check(); err != nil {
		return View{}, err
	}
	if err := u.checkPanels(ctx, a, in.Definition.Panels); err != nil {
		return View{}, err
	}
	d, err := u.dashboards.Create(ctx, a.User.ID, in.Name, in.Description, in.Definition)
	if err != nil {
		return View{}, err
	}
	return View{Dashboard: d, Access: AccessOf(a.User, d, "")}, nil
}

// Update changes dashboard id (edit access). Panels already there stay
// even when the actor cannot run their queries; new or changed ones must
// be runnable by the actor. One audit event.
func (u *UseCases) Update(ctx context.Context, a accounts.Actor, id string, in Update) (View, error) {
	ev := audit.Event{Action: audit.DashboardUpdate, Target: audit.ClientID(id)}
	v, fields, err := u.update(ctx, a, id, in)
	if err == nil {
		ev.Target, ev.Details = v.ID, map[string]any{"fields": fields}
	}
	u.record(ctx, a, ev, err)
	return v, err
}

func (u *UseCases) update(ctx context.Context, a accounts.Actor, id string, in Update) (View, []string, error) {
	d, acc, err := u.authorized(ctx, a, id, NeedEdit)
	if err != nil {
		return View{}, nil, err
	}
	if in.Definition != nil {
		if err := in.Definition.Check(); err != nil {
			return View{}, nil, err
		}
		old := map[string]string{}
		for _, p := range d.Definition.Panels {
			old[p.ID] = p.QueryID
		}
		var added []Panel
		for _, p := range in.Definition.Panels {
			if old[p.ID] != p.QueryID {
				added = append(added, p)
			}
		}
		if err := u.checkPanels(ctx, a, added); err != nil {
			return View{}, nil, err
		}
	}
	nd, fields, err := u.dashboards.Apply(ctx, d.ID, in)
	if err != nil {
		return View{}, nil, err
	}
	return View{Dashboard: nd, Access: acc}, fields, nil
}

// Delete deletes dashboard id (owner access). One audit event.
func (u *UseCases) Delete(ctx context.Context, a accounts.Actor, id string) error {
	d, _, err := u.authorized(ctx, a, id, NeedOwn)
	if err == nil {
		err = u.dashboards.Delete(ctx, d.ID)
	}
	u.record(ctx, a, audit.Event{Action: audit.DashboardDelete, Target: audit.ClientID(id)}, err)
	return err
}

// Grants lists the grants of dashboard id (owner access).
func (u *UseCases) Grants(ctx context.Context, a accounts.Actor, id string) ([]Grant, error) {
	d, _, err := u.authorized(ctx, a, id, NeedOwn)
	if err != nil {
		return nil, err
	}
	return u.dashboards.Grants(ctx, d.ID)
}

// SetGrants replaces the grants of dashboard id (owner access) and
// returns them. One audit event.
func (u *UseCases) SetGrants(ctx context.Context, a accounts.Actor, id string, grants []Grant) ([]Grant, error) {
	d, _, err := u.authorized(ctx, a, id, NeedOwn)
	if err == nil {
		err = u.dashboards.SetGrants(ctx, d.ID, grants)
	}
	u.record(ctx, a, audit.Event{Action: audit.DashboardGrants, Target: audit.ClientID(id), Details: map[string]any{"grants": len(grants)}}, err)
	if err != nil {
		return nil, err
	}
	return u.dashboards.Grants(ctx, d.ID)
}

// Format names the dashboard export format. The export names each
// panel's saved query by its datasource's name and its own, so that it
// imports into another gateway that holds the same saved queries
// (themselves exported with GET /api/queries/export).
const Format = "querygate.dashboard/v1"

// QueryRef names a saved query by its datasource's name and its own.
type QueryRef struct {
	Datasource string `json:"datasource"`
	Query      string `json:"query"`
}

// ExportedPanel is a panel of an export.
type ExportedPanel struct {
	Panel
	QueryID string    `json:"query_id,omitempty"`
	Query   *QueryRef `json:"query,omitempty"`
}

// Export is a dashboard as exported and imported.
type Export struct {
	Format      string          `json:"format"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Inputs      []Input         `json:"inputs"`
	Panels      []ExportedPanel `json:"panels"`
}

// Export exports dashboard id (view access); every panel's saved query
// must be one the actor can see.
func (u *UseCases) Export(ctx context.Context, a accounts.Actor, id string) (Export, error) {
	v, err := u.Find(ctx, a, id, NeedView)
	if err != nil {
		return Export{}, err
	}
	out := Export{Format: Format, Name: v.Name, Description: v.Description, Inputs: v.Definition.Inputs, Panels: []ExportedPanel{}}
	for _, p := range v.Definition.Panels {
		q := v.Queries[p.ID]
		if !q.CanRun {
			return Export{}, errNotViewed
		}
		ep := ExportedPanel{Panel: p, Query: &QueryRef{Datasource: q.DatasourceName, Query: q.Name}}
		ep.Panel.QueryID = ""
		out.Panels = append(out.Panels, ep)
	}
	return out, nil
}

// Import makes a dashboard from an export, each panel's saved query found
// by name among those the actor can see. One audit event.
func (u *UseCases) Import(ctx context.Context, a accounts.Actor, in Export) (View, error) {
	v, err := u.importExport(ctx, a, in)
	ev := audit.Event{Action: audit.DashboardCreate, Details: map[string]any{"import": true}}
	if err == nil {
		ev.Target = v.ID
	}
	u.record(ctx, a, ev, err)
	return v, err
}

func (u *UseCases) importExport(ctx context.Context, a accounts.Actor, in Export) (View, error) {
	if a.User == nil {
		return View{}, errSignIn
	}
	if err := accounts.Authorize(a.User, accounts.ActionDashboardCreate, accounts.Resource{}); err != nil {
		return View{}, err
	}
	if in.Format != Format {
		return View{}, querygate.FieldErrorf("format", "format: must be %s", Format)
	}
	def := Definition{Inputs: in.Inputs}
	for i, ep := range in.Panels {
		f := fmt.Sprintf("panels[%d].query", i)
		if ep.Query == nil {
			return View{}, querygate.FieldErrorf(f, "%s: names the saved query as {datasource, query}", f)
		}
		id, err := u.queries.SavedQueryID(ctx, a, ep.Query.Datasource, ep.Query.Query)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return View{}, querygate.FieldErrorf(f, "%s: %s", f, querygate.ErrorMessage(err))
		} else if err != nil {
			return View{}, err
		}
		p := ep.Panel
		p.QueryID = id
		def.Panels = append(def.Panels, p)
	}
	return u.create(ctx, a, CreateInput{Name: in.Name, Description: in.Description, Definition: def})
}

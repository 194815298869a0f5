// Package dashboard is dashboards: a titled grid of panels, each binding a
// saved query (with fixed or dashboard-level parameter values) to a
// visualisation. Only the definition is kept; every view runs the panels'
// saved queries through the normal query path (grants, read-only, limits,
// audit) and the browser draws what streams in. No result, thumbnail or
// "last value" is stored anywhere (P1).
package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/store"
)

// Visualisations.
const (
	VizTable  = "table"
	VizNumber = "number"
	VizLine   = "line"
	VizArea   = "area"
	VizBar    = "bar"
	VizPie    = "pie"
)

var vizTypes = []string{VizTable, VizNumber, VizLine, VizArea, VizBar, VizPie}

// VizTypes lists the visualisations.
func VizTypes() []string { return slices.Clone(vizTypes) }

// Number formats.
var formats = []string{"", "integer", "decimal", "compact", "percent"}

// Limits of a definition.
const (
	MaxPanels     = 24
	MaxInputs     = 16
	MaxPanelRows  = 10000 // the most rows a panel may pull
	DefaultRows   = 1000
	GridColumns   = 12
	maxText       = 200
	maxDefinition = 256 << 10
)

// Definition is what a dashboard is: inputs and panels.
type Definition struct {
	Inputs []Input `json:"inputs"`
	Panels []Panel `json:"panels"`
}

// Input is a dashboard-level value that panels bind their parameters to
// (a date range, a customer id). The viewer may change it; its default is
// part of the definition.
type Input struct {
	Name    string          `json:"name"`
	Label   string          `json:"label,omitempty"`
	Type    string          `json:"type"` // a saved-query parameter type
	Default json.RawMessage `json:"default,omitempty"`
	Values  []string        `json:"values,omitempty"` // for enum
}

// Panel binds a saved query to a visualisation.
type Panel struct {
	ID      string             `json:"id"`
	Title   string             `json:"title"`
	QueryID string             `json:"query_id"`
	Params  map[string]Binding `json:"params,omitempty"`
	Viz     Viz                `json:"viz"`
	Limit   int                `json:"limit,omitempty"` // rows the panel pulls (default 1000, at most 10000)
	Layout  Layout             `json:"layout"`
}

// Binding gives a saved-query parameter a fixed value or an input's.
type Binding struct {
	Value json.RawMessage `json:"value,omitempty"`
	Input string          `json:"input,omitempty"`
}

// Viz is how a panel draws its rows.
type Viz struct {
	Type    string   `json:"type"`
	X       string   `json:"x,omitempty"`      // the category or time column
	Y       []string `json:"y,omitempty"`      // value columns
	Series  string   `json:"series,omitempty"` // a column whose values split the rows into series
	Stacked bool     `json:"stacked,omitempty"`
	Unit    string   `json:"unit,omitempty"`   // shown after values
	Format  string   `json:"format,omitempty"` // integer, decimal, compact, percent
	// Compare, for a number panel, shows the change from the previous
	// row's value.
	Compare bool `json:"compare,omitempty"`
}

// Layout places a panel on a 12-column grid.
type Layout struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`)

func textOK(s string, max int) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= max && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' })
}

// Check validates a definition and fills defaults (panel limits and
// sizes). A refusal names the field.
func (d *Definition) Check() error {
	fe := querygate.FieldErrorf
	if d.Inputs == nil {
		d.Inputs = []Input{}
	}
	if d.Panels == nil {
		d.Panels = []Panel{}
	}
	if len(d.Inputs) > MaxInputs {
		return fe("definition.inputs", "definition.inputs: at most %d", MaxInputs)
	}
	if len(d.Panels) > MaxPanels {
		return fe("definition.panels", "definition.panels: at most %d", MaxPanels)
	}
	inputs := map[string]bool{}
	for i := range d.Inputs {
		in := &d.Inputs[i]
		f := fmt.Sprintf("definition.inputs[%d]", i)
		if !nameRE.MatchString(in.Name) {
			return fe(f+".name", "%s.name: lower-case letters, digits and _, starting with a letter", f)
		}
		if inputs[in.Name] {
			return fe(f+".name", "%s.name: is used twice", f)
		}
		inputs[in.Name] = true
		if !slices.Contains([]string{"text", "int", "number", "date", "timestamp", "enum", "bool", "uuid"}, in.Type) {
			return fe(f+".type", "%s.type: must be a saved-query parameter type", f)
		}
		if !textOK(in.Label, maxText) {
			return fe(f+".label", "%s.label: at most %d characters, no control characters", f, maxText)
		}
		if in.Type == "enum" && len(in.Values) == 0 {
			return fe(f+".values", "%s.values: an enum input needs its values", f)
		}
		if len(in.Default) > 0 && !json.Valid(in.Default) {
			return fe(f+".default", "%s.default: must be a JSON value", f)
		}
	}
	ids := map[string]bool{}
	for i := range d.Panels {
		p := &d.Panels[i]
		f := fmt.Sprintf("definition.panels[%d]", i)
		if p.ID == "" {
			p.ID = "p" + strings.ToLower(rand.Text()[:8])
		}
		if !nameRE.MatchString(p.ID) || ids[p.ID] {
			return fe(f+".id", "%s.id: must be unique, lower-case letters, digits and _", f)
		}
		ids[p.ID] = true
		if !textOK(p.Title, maxText) {
			return fe(f+".title", "%s.title: at most %d characters, no control characters", f, maxText)
		}
		if p.QueryID == "" || len(p.QueryID) > 64 {
			return fe(f+".query_id", "%s.query_id: names the saved query the panel runs", f)
		}
		for name, b := range p.Params {
			bf := f + ".params." + name
			if !nameRE.MatchString(name) {
				return fe(f+".params", "%s.params: a parameter name is not valid", f)
			}
			switch {
			case b.Input != "" && len(b.Value) > 0:
				return fe(bf, "%s: a value or an input, not both", bf)
			case b.Input != "" && !inputs[b.Input]:
				return fe(bf, "%s: no input %s on this dashboard", bf, b.Input)
			case b.Input == "" && (len(b.Value) == 0 || !json.Valid(b.Value)):
				return fe(bf, "%s: a JSON value or an input", bf)
			}
		}
		v := &p.Viz
		if !slices.Contains(vizTypes, v.Type) {
			return fe(f+".viz.type", "%s.viz.type: must be one of %s", f, strings.Join(vizTypes, ", "))
		}
		if !slices.Contains(formats, v.Format) {
			return fe(f+".viz.format", "%s.viz.format: must be integer, decimal, compact or percent", f)
		}
		if !textOK(v.Unit, 16) {
			return fe(f+".viz.unit", "%s.viz.unit: at most 16 characters", f)
		}
		for _, c := range append([]string{v.X, v.Series}, v.Y...) {
			if !textOK(c, 128) {
				return fe(f+".viz", "%s.viz: a column name is at most 128 characters", f)
			}
		}
		if len(v.Y) > 12 {
			return fe(f+".viz.y", "%s.viz.y: at most 12 columns", f)
		}
		switch v.Type {
		case VizLine, VizArea, VizBar:
			if v.X == "" || len(v.Y) == 0 {
				return fe(f+".viz", "%s.viz: a %s chart needs an x column and at least one y column", f, v.Type)
			}
			if v.Series != "" && len(v.Y) != 1 {
				return fe(f+".viz.series", "%s.viz.series: splitting into series takes exactly one y column", f)
			}
		case VizPie:
			if v.X == "" || len(v.Y) != 1 {
				return fe(f+".viz", "%s.viz: a pie needs a label column (x) and one value column (y)", f)
			}
		case VizNumber:
			if len(v.Y) > 1 {
				return fe(f+".viz.y", "%s.viz.y: a number shows one column", f)
			}
		}
		if p.Limit == 0 {
			p.Limit = DefaultRows
		}
		if p.Limit < 1 || p.Limit > MaxPanelRows {
			return fe(f+".limit", "%s.limit: between 1 and %d rows", f, MaxPanelRows)
		}
		l := &p.Layout
		if l.W == 0 {
			l.W = 6
		}
		if l.H == 0 {
			l.H = 4
		}
		if l.X < 0 || l.Y < 0 || l.W < 1 || l.H < 1 || l.H > 12 || l.X+l.W > GridColumns || l.Y > 1000 {
			return fe(f+".layout", "%s.layout: inside a %d-column grid (x+w at most %d, h 1 to 12)", f, GridColumns, GridColumns)
		}
	}
	return nil
}

// Dashboard is a dashboard as the service returns it.
type Dashboard struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	OwnerID     string     `json:"owner_id"`
	Definition  Definition `json:"definition"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func fromRow(r *store.Dashboard) (*Dashboard, error) {
	d := &Dashboard{ID: r.ID, Name: r.Name, Description: r.Description, OwnerID: r.OwnerID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if err := json.Unmarshal(r.Definition, &d.Definition); err != nil {
		return nil, fmt.Errorf("dashboard: stored definition: %w", err)
	}
	if d.Definition.Inputs == nil {
		d.Definition.Inputs = []Input{}
	}
	if d.Definition.Panels == nil {
		d.Definition.Panels = []Panel{}
	}
	return d, nil
}

// Grant gives a user or a group a level on a dashboard.
type Grant struct {
	Type  string `json:"type"`  // user or group
	ID    string `json:"id"`    // the user's or group's id
	Level string `json:"level"` // view or edit
}

// Levels.
const (
	LevelView = "view"
	LevelEdit = "edit"
)

// Service stores dashboards.
type Service struct {
	store store.Store
	now   func() time.Time
}

// NewService returns the service.
func NewService(st store.Store) *Service {
	return &Service{store: st, now: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }}
}

func checkName(name, description string) error {
	if strings.TrimSpace(name) == "" || !textOK(name, 100) {
		return querygate.FieldErrorf("name", "name: 1 to 100 characters, no control characters")
	}
	if !textOK(description, 1000) {
		return querygate.FieldErrorf("description", "description: at most 1000 characters")
	}
	return nil
}

func marshal(def Definition) ([]byte, error) {
	b, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	if len(b) > maxDefinition {
		return nil, querygate.FieldErrorf("definition", "definition: at most %d KiB", maxDefinition>>10)
	}
	return b, nil
}

func conflict(err error) error {
	if querygate.ErrorCode(err) == querygate.ECONFLICT {
		return &querygate.Error{Code: querygate.ECONFLICT, Field: "name", Message: "name: a dashboard with that name exists"}
	}
	return err
}

// Create stores a new dashboard owned by ownerID.
func (s *Service) Create(ctx context.Context, ownerID, name, description string, def Definition) (*Dashboard, error) {
	if err := checkName(name, description); err != nil {
		return nil, err
	}
	if err := def.Check(); err != nil {
		return nil, err
	}
	b, err := marshal(def)
	if err != nil {
		return nil, err
	}
	now := s.now()
	row := &store.Dashboard{ID: "db" + strings.ToLower(rand.Text()[:16]), Name: name, Description: description, OwnerID: ownerID,
		Definition: b, CreatedAt: now, UpdatedAt: now}
	if err := s.store.Update(ctx, func(tx store.Tx) error { return tx.CreateDashboard(ctx, row) }); err != nil {
		return nil, conflict(err)
	}
	return fromRow(row)
}

// Find returns a dashboard.
func (s *Service) Find(ctx context.Context, id string) (*Dashboard, error) {
	var row *store.Dashboard
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { row, err = tx.FindDashboard(ctx, id); return err }); err != nil {
		return nil, err
	}
	return fromRow(row)
}

// List returns every dashboard by name.
func (s *Service) List(ctx context.Context) ([]*Dashboard, error) {
	var rows []*store.Dashboard
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { rows, err = tx.ListDashboards(ctx); return err }); err != nil {
		return nil, err
	}
	out := make([]*Dashboard, 0, len(rows))
	for _, r := range rows {
		d, err := fromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Update is a partial change; nil fields stay.
type Update struct {
	Name        *string     `json:"name"`
	Description *string     `json:"description"`
	Definition  *Definition `json:"definition"`
}

// Apply changes a dashboard.
func (s *Service) Apply(ctx context.Context, id string, in Update) (*Dashboard, []string, error) {
	var out *store.Dashboard
	var fields []string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		row, err := tx.FindDashboard(ctx, id)
		if err != nil {
			return err
		}
		if in.Name != nil {
			row.Name = *in.Name
			fields = append(fields, "name")
		}
		if in.Description != nil {
			row.Description = *in.Description
			fields = append(fields, "description")
		}
		if err := checkName(row.Name, row.Description); err != nil {
			return err
		}
		if in.Definition != nil {
			if err := in.Definition.Check(); err != nil {
				return err
			}
			b, err := marshal(*in.Definition)
			if err != nil {
				return err
			}
			if !bytes.Equal(b, row.Definition) {
				fields = append(fields, "definition")
			}
			row.Definition = b
		}
		row.UpdatedAt = s.now()
		out = row
		return tx.UpdateDashboard(ctx, row)
	})
	if err != nil {
		return nil, nil, conflict(err)
	}
	d, err := fromRow(out)
	return d, fields, err
}

// Delete deletes a dashboard and its grants.
func (s *Service) Delete(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return tx.DeleteDashboard(ctx, id) })
}

// Grants lists a dashboard's grants.
func (s *Service) Grants(ctx context.Context, id string) ([]Grant, error) {
	var rows []store.DashboardGrant
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { rows, err = tx.ListDashboardGrants(ctx, id); return err }); err != nil {
		return nil, err
	}
	out := []Grant{}
	for _, r := range rows {
		out = append(out, Grant{Type: r.SubjectType, ID: r.SubjectID, Level: r.Level})
	}
	return out, nil
}

// SetGrants replaces a dashboard's grants; every subject must exist.
func (s *Service) SetGrants(ctx context.Context, id string, grants []Grant) error {
	if len(grants) > 1000 {
		return querygate.FieldErrorf("grants", "grants: at most 1000")
	}
	seen := map[string]bool{}
	rows := make([]store.DashboardGrant, 0, len(grants))
	for i, g := range grants {
		f := fmt.Sprintf("grants[%d]", i)
		if g.Type != "user" && g.Type != "group" {
			return querygate.FieldErrorf(f+".type", "%s.type: must be user or group", f)
		}
		if g.Level != LevelView && g.Level != LevelEdit {
			return querygate.FieldErrorf(f+".level", "%s.level: must be view or edit", f)
		}
		if seen[g.Type+":"+g.ID] {
			return querygate.FieldErrorf(f, "%s: the same %s twice", f, g.Type)
		}
		seen[g.Type+":"+g.ID] = true
		rows = append(rows, store.DashboardGrant{DashboardID: id, SubjectType: g.Type, SubjectID: g.ID, Level: g.Level})
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.FindDashboard(ctx, id); err != nil {
			return err
		}
		for i, g := range rows {
			var err error
			if g.SubjectType == "user" {
				_, err = tx.FindUser(ctx, g.SubjectID)
			} else {
				_, err = tx.FindGroup(ctx, g.SubjectID)
			}
			if querygate.ErrorCode(err) == querygate.ENOTFOUND {
				return querygate.FieldErrorf(fmt.Sprintf("grants[%d].id", i), "grants[%d].id: no such %s", i, g.SubjectType)
			} else if err != nil {
				return err
			}
		}
		return tx.SetDashboardGrants(ctx, id, rows)
	})
}

// Levels returns the highest level each dashboard grants the user.
func (s *Service) Levels(ctx context.Context, userID string) (map[string]string, error) {
	var rows []store.DashboardGrant
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { rows, err = tx.UserDashboardLevels(ctx, userID); return err }); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range rows {
		if out[r.DashboardID] != LevelEdit {
			out[r.DashboardID] = r.Level
		}
	}
	return out, nil
}

// Access is what a user may do with a dashboard.
type Access struct {
	View, Edit, Own bool // Own: change grants and delete
}

// AccessOf is what accounts.Authorize, the one place of such decisions,
// lets a user do with a dashboard (level: their highest grant on it).
func AccessOf(u *accounts.User, d *Dashboard, level string) Access {
	r := accounts.Resource{OwnerID: d.OwnerID, Level: level}
	may := func(a accounts.Action) bool { return accounts.Authorize(u, a, r) == nil }
	return Access{View: may(accounts.ActionDashboardView), Edit: may(accounts.ActionDashboardEdit), Own: may(accounts.ActionDashboardOwn)}
}

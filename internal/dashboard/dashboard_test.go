package dashboard

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/querygate/querygate"
)

func TestCheck(t *testing.T) {
	good := func() Definition {
		return Definition{
			Inputs: []Input{{Name: "since", Type: "date", Default: json.RawMessage(`"2024-01-01"`)}},
			Panels: []Panel{
				{Title: "Revenue", QueryID: "sq1", Params: map[string]Binding{"since": {Input: "since"}, "n": {Value: json.RawMessage(`5`)}},
					Viz: Viz{Type: VizLine, X: "day", Y: []string{"revenue"}}},
				{Title: "Total", QueryID: "sq2", Viz: Viz{Type: VizNumber, Y: []string{"total"}, Compare: true, Format: "compact"}},
			},
		}
	}
	d := good()
	if err := d.Check(); err != nil {
		t.Fatalf("good: %v", err)
	}
	if p := d.Panels[0]; p.ID == "" || p.Limit != DefaultRows || p.Layout.W != 6 || p.Layout.H != 4 {
		t.Fatalf("defaults: %+v", p)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Definition)
	}{
		{"definition.panels[0].viz.type", func(d *Definition) { d.Panels[0].Viz.Type = "radar" }},
		{"definition.panels[0].viz", func(d *Definition) { d.Panels[0].Viz.Y = nil }},
		{"definition.panels[0].params.since", func(d *Definition) { d.Panels[0].Params["since"] = Binding{Input: "nope"} }},
		{"definition.panels[0].params.n", func(d *Definition) { d.Panels[0].Params["n"] = Binding{Value: json.RawMessage(`{`)} }},
		{"definition.panels[0].limit", func(d *Definition) { d.Panels[0].Limit = MaxPanelRows + 1 }},
		{"definition.panels[0].layout", func(d *Definition) { d.Panels[0].Layout = Layout{X: 10, W: 4, H: 2} }},
		{"definition.panels[0].title", func(d *Definition) { d.Panels[0].Title = "a\nb" }},
		{"definition.panels[0].query_id", func(d *Definition) { d.Panels[0].QueryID = "" }},
		{"definition.panels[1].viz.format", func(d *Definition) { d.Panels[1].Viz.Format = "hex" }},
		{"definition.panels[1].viz.y", func(d *Definition) { d.Panels[1].Viz.Y = []string{"a", "b"} }},
		{"definition.inputs[0].type", func(d *Definition) { d.Inputs[0].Type = "blob" }},
		{"definition.inputs[1].name", func(d *Definition) { d.Inputs = append(d.Inputs, d.Inputs[0]) }},
		{"definition.panels[1].id", func(d *Definition) { d.Panels[0].ID, d.Panels[1].ID = "same", "same" }},
		{"definition.panels", func(d *Definition) {
			for range MaxPanels {
				d.Panels = append(d.Panels, d.Panels[1])
			}
		}},
	} {
		d := good()
		tc.edit(&d)
		err := d.Check()
		var qe *querygate.Error
		if err == nil || querygate.ErrorCode(err) != querygate.EINVALID {
			t.Errorf("%s: got %v", tc.field, err)
			continue
		}
		qe = err.(*querygate.Error)
		if qe.Field != tc.field && !strings.HasPrefix(qe.Field, tc.field) {
			t.Errorf("%s: field %q (%s)", tc.field, qe.Field, qe.Message)
		}
	}
}

// FuzzDefinition: whatever JSON arrives, Check answers without panicking,
// and what it accepts survives a round trip unchanged.
func FuzzDefinition(f *testing.F) {
	f.Add(`{"inputs":[{"name":"a","type":"int"}],"panels":[{"title":"t","query_id":"q","viz":{"type":"bar","x":"x","y":["y"]},"params":{"p":{"input":"a"}}}]}`)
	f.Add(`{"panels":[{"query_id":"q","viz":{"type":"pie","x":"l","y":["v"]},"layout":{"x":11,"w":1,"h":1}}]}`)
	f.Add(`{"panels":[{"query_id":"q","viz":{"type":"number"},"limit":-1}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var d Definition
		if json.Unmarshal([]byte(s), &d) != nil {
			return
		}
		if d.Check() != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var again Definition
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatal(err)
		}
		if err := again.Check(); err != nil {
			t.Fatalf("an accepted definition is refused after a round trip: %v", err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed it:\n%s\n%s", b, b2)
		}
	})
}

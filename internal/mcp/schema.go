package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate/internal/schema"
)

// describeSchemaArgs are describe_schema's arguments.
type describeSchemaArgs struct {
	Datasource string `json:"datasource"`
	// Filter keeps the tables whose "namespace.table" holds it (any case).
	Filter string `json:"filter"`
}

func describeSchemaSchema(names []string) json.RawMessage {
	enum, _ := json.Marshal(names)
	return json.RawMessage(`{"type":"object","properties":{` +
		`"datasource":{"type":"string","description":"The datasource's name (or id).","examples":` + string(enum) + `},` +
		`"filter":{"type":"string","description":"Only the tables whose schema.table name holds this text (any case): for a large schema."}},` +
		`"required":["datasource"],"additionalProperties":false}`)
}

// schemaTargets names the datasources describe_schema is offered on: those
// in server custody on which the actor may send queries (the schema read
// needs the use grant), sorted.
func (t *tools) schemaTargets() []string {
	var out []string
	for _, v := range t.list {
		if v.Use && served(v.Datasource) {
			out = append(out, v.Datasource.Name)
		}
	}
	sort.Strings(out)
	return out
}

// schemaTable is a table as describe_schema answers it.
type schemaTable struct {
	Name         string          `json:"name"` // namespace.table
	Kind         string          `json:"kind"`
	RowsEstimate *int64          `json:"rows_estimate,omitempty"`
	Columns      []schema.Column `json:"columns"`
}

// schemaAnswer is describe_schema's answer.
type schemaAnswer struct {
	Datasource string        `json:"datasource"`
	Tables     []schemaTable `json:"tables"`
	Truncated  bool          `json:"truncated"`
	Note       string        `json:"note,omitempty"`
}

func (t *tools) describeSchema(ctx context.Context, req *sdk.CallToolRequest) (any, error) {
	var args describeSchemaArgs
	if err := decodeArgs(req, &args); err != nil {
		return nil, err
	}
	// The schema read is the use case's: the use grant, the pool, the
	// read-only session, its limits and its one audit event.
	sc, err := t.s.queries.Schema(ctx, t.a, t.resolve(args.Datasource), nil)
	if err != nil {
		return nil, err
	}
	return t.schemaAnswer(args, sc), nil
}

// schemaAnswer lists the tables of sc that match the filter, as many as
// fit the byte bound, and says when the datasource's own limits or the
// bound cut the list.
func (t *tools) schemaAnswer(args describeSchemaArgs, sc *schema.Schema) schemaAnswer {
	out := schemaAnswer{Datasource: args.Datasource, Tables: []schemaTable{}, Truncated: sc.Truncated}
	filter := strings.ToLower(args.Filter)
	budget := t.s.maxBytes - 512 - len(args.Datasource)
	total, kept := 0, 0
	for _, ns := range sc.Schemas {
		for _, tb := range ns.Tables {
			name := tb.Name
			if ns.Name != "" {
				name = ns.Name + "." + tb.Name
			}
			if filter != "" && !strings.Contains(strings.ToLower(name), filter) {
				continue
			}
			total++
			cols := tb.Columns
			if cols == nil {
				cols = []schema.Column{}
			}
			st := schemaTable{Name: name, Kind: tb.Kind, RowsEstimate: tb.RowsEstimate, Columns: cols}
			b, _ := json.Marshal(st)
			if len(b)+1 > budget {
				budget = 0
				continue
			}
			budget -= len(b) + 1
			out.Tables = append(out.Tables, st)
			kept++
		}
	}
	var notes []string
	if sc.Truncated {
		notes = append(notes, "the datasource has more tables or columns than one schema read lists")
	}
	if kept < total {
		notes = append(notes, fmt.Sprintf("only %d of the %d tables fit in the %d-byte bound of one answer (ask again with a filter)", kept, total, t.s.maxBytes))
	}
	if len(notes) > 0 {
		out.Truncated = true
		out.Note = "Cut: " + strings.Join(notes, "; ") + "."
	}
	return out
}

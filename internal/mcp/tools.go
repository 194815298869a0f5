package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
)

// The built-in tools. A saved query's tool name always holds a double
// underscore (toolNames), which none of these does.
const (
	toolListDatasources = "list_datasources"
	toolRunSQL          = "run_sql"
	toolDescribeSchema  = "describe_schema"
)

// msgDeviceCustody is the answer for a datasource in device custody: its
// password is sealed under a key that only a browser's cookie holds.
const msgDeviceCustody = "This datasource is in device custody: its password is sealed with a key that lives only in the cookie of a browser that unlocked it, so the gateway cannot open it for an agent. Query it from the querygate web pages instead."

// server builds the MCP server of one request: the tools of the actor's
// current catalogue (query.Catalogue), nothing else.
func (s *Server) server(ctx context.Context, r *http.Request, a accounts.Actor) (*sdk.Server, error) {
	list, err := s.queries.Catalogue(ctx, a)
	if err != nil {
		return nil, err
	}
	srv := sdk.NewServer(&sdk.Implementation{Name: "querygate", Version: s.version}, &sdk.ServerOptions{
		Instructions: "querygate runs queries on the datasources your user may use, under their grants and read-only settings. " +
			"Start with " + toolListDatasources + "; saved queries are tools of their own (<datasource>__<query>). " +
			"Answers are cut at a row cap and a size bound, and say so.",
		Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{}},
		// No SDK logging: its lines may quote what a client sent (P1);
		// the request log and the audit event say what happened.
	})
	t := &tools{s: s, r: r, a: a, list: list}
	srv.AddTool(&sdk.Tool{Name: toolListDatasources, Title: "List datasources",
		Description: "Lists the datasources you may see: name, kind, whether it is read-only, a description, and what you may do on it through this endpoint (run_sql, its saved-query tools).",
		InputSchema: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
		Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true},
	}, t.handler(audit.DatasourceList, "", t.listDatasources))
	if names := t.sqlTargets(); len(names) > 0 {
		srv.AddTool(&sdk.Tool{Name: toolRunSQL, Title: "Run SQL",
			Description: "Runs one SQL statement on a datasource and answers its columns and rows (at most " + fmt.Sprint(s.maxRows) +
				" rows and " + fmt.Sprint(s.maxBytes) + " bytes; a cut answer says so). Read-only datasources refuse writes. " +
				"Datasources: " + strings.Join(names, ", ") + ".",
			InputSchema: runSQLSchema(names),
			Annotations: &sdk.ToolAnnotations{Title: "Run SQL", DestructiveHint: new(bool)},
		}, t.handler(audit.Query, "", t.runSQL))
	}
	if names := t.schemaTargets(); len(names) > 0 {
		srv.AddTool(&sdk.Tool{Name: toolDescribeSchema, Title: "Describe schema",
			Description: "Lists the tables (views, key patterns or paths) of a datasource with their columns, types, primary and foreign keys, " +
				"as its database role sees them; a filter narrows a large schema. Datasources: " + strings.Join(names, ", ") + ".",
			InputSchema: describeSchemaSchema(names),
			Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true},
		}, t.handler(audit.SchemaRead, "", t.describeSchema))
	}
	t.addSavedQueries(srv)
	return srv, nil
}

// tools answers the tool calls of one request, for actor a.
type tools struct {
	s    *Server
	r    *http.Request
	a    accounts.Actor
	list []query.Offer
}

// served reports whether a datasource is served through MCP (not device
// custody).
func served(d *datasource.Datasource) bool { return d.Custody != datasource.CustodyDevice }

// sqlAllowed reports whether run_sql is offered on v: a SQL datasource in
// server custody, on which the actor may send ad-hoc queries, read-only or
// named by the operator.
func (t *tools) sqlAllowed(v query.Offer) bool {
	return v.Use && served(v.Datasource) && v.Shape == kind.SQL && (v.Datasource.ReadOnly || t.s.writable[v.Datasource.ID])
}

// sqlTargets names the datasources run_sql is offered on, sorted.
func (t *tools) sqlTargets() []string {
	var out []string
	for _, v := range t.list {
		if t.sqlAllowed(v) {
			out = append(out, v.Datasource.Name)
		}
	}
	sort.Strings(out)
	return out
}

// datasourceEntry is a datasource as list_datasources shows it: never a
// setting, so no secret and no address.
type datasourceEntry struct {
	Name        string   `json:"name"`
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	ReadOnly    bool     `json:"read_only"`
	Description string   `json:"description"`
	Served      bool     `json:"served"`
	RunSQL      bool     `json:"run_sql"`
	Tools       []string `json:"tools"`
}

func (t *tools) listDatasources(ctx context.Context, req *sdk.CallToolRequest) (any, error) {
	if err := decodeArgs(req, &struct{}{}); err != nil {
		return nil, err
	}
	list, err := t.s.queries.ListDatasources(ctx, t.a)
	if err != nil {
		return nil, err
	}
	t.list = list
	names := t.savedQueryTools()
	out := struct {
		Datasources []datasourceEntry `json:"datasources"`
	}{Datasources: []datasourceEntry{}}
	for _, v := range list {
		d := v.Datasource
		e := datasourceEntry{Name: d.Name, ID: d.ID, Kind: d.Kind, ReadOnly: d.ReadOnly, Served: served(d), RunSQL: t.sqlAllowed(v), Tools: []string{}}
		for _, q := range v.Queries {
			if n, ok := names[q.ID]; ok {
				e.Tools = append(e.Tools, n.name)
			}
		}
		e.Description = describe(v, e)
		out.Datasources = append(out.Datasources, e)
	}
	return out, nil
}

// describe says in a sentence what a datasource is and what the actor may
// do on it through MCP.
func describe(v query.Offer, e datasourceEntry) string {
	d := v.Datasource
	var b strings.Builder
	fmt.Fprintf(&b, "A %s datasource", d.Kind)
	if d.ReadOnly {
		b.WriteString(", read-only (enforced by the gateway at the datasource)")
	}
	b.WriteString(". ")
	switch {
	case !e.Served:
		b.WriteString(msgDeviceCustody)
		return b.String()
	case e.RunSQL:
		b.WriteString("run_sql runs statements on it. ")
	case v.Use && v.Shape == kind.SQL:
		b.WriteString("run_sql is not offered on it: it is not read-only, and the operator has not allowed ad-hoc statements on it through MCP. ")
	default:
		b.WriteString("Only its saved queries run through MCP. ")
	}
	fmt.Fprintf(&b, "%d saved queries are tools.", len(e.Tools))
	return b.String()
}

// runSQLArgs are run_sql's arguments.
type runSQLArgs struct {
	Datasource string `json:"datasource"`
	SQL        string `json:"sql"`
}

func runSQLSchema(names []string) json.RawMessage {
	enum, _ := json.Marshal(names)
	return json.RawMessage(`{"type":"object","properties":{` +
		`"datasource":{"type":"string","description":"The datasource's name (or id).","examples":` + string(enum) + `},` +
		`"sql":{"type":"string","description":"One SQL statement in the datasource's dialect."}},` +
		`"required":["datasource","sql"],"additionalProperties":false}`)
}

func (t *tools) runSQL(ctx context.Context, req *sdk.CallToolRequest) (any, error) {
	var args runSQLArgs
	if err := decodeArgs(req, &args); err != nil {
		return nil, err
	}
	id := t.resolve(args.Datasource)
	text, _ := json.Marshal(args.SQL)
	// A datasource that is not read-only is refused by the use case
	// unless the operator named it (ReadOnlyOnly); the use grant, the
	// datasource's own read-only mode and every limit are the use case's.
	in := query.Input{Query: text, Limit: t.s.maxRows, ReadOnlyOnly: !t.s.writable[id]}
	c := newCollector(t.s.maxBytes, MaxCell)
	sum, err := t.s.queries.Run(ctx, t.a, id, in, nil, query.Output{Format: query.NDJSON, W: c})
	if err != nil {
		return nil, err
	}
	return c.result(sum, t.s.maxRows), nil
}

// resolve returns the id of the datasource the agent named: by name among
// those the actor may see, else the text as an id (the use case then
// answers one that does not exist or that the actor may not see alike).
func (t *tools) resolve(name string) string {
	for _, v := range t.list {
		if v.Datasource.Name == name {
			return v.Datasource.ID
		}
	}
	return name
}

// savedTool is a saved query offered as a tool.
type savedTool struct {
	name string
	ds   *datasource.Datasource
	q    *savedquery.Query
}

// savedQueryTools names the tools of the saved queries on the served
// datasources of the catalogue, by query id.
func (t *tools) savedQueryTools() map[string]savedTool {
	var refs []toolRef
	var all []savedTool
	for _, v := range t.list {
		if !served(v.Datasource) {
			continue
		}
		for _, q := range v.Queries {
			refs = append(refs, toolRef{datasource: v.Datasource.Name, query: q.Name, id: q.ID})
			all = append(all, savedTool{ds: v.Datasource, q: q})
		}
	}
	out := map[string]savedTool{}
	for i, n := range toolNames(refs) {
		all[i].name = n
		out[all[i].q.ID] = all[i]
	}
	return out
}

func (t *tools) addSavedQueries(srv *sdk.Server) {
	for _, st := range t.savedQueryTools() {
		desc := st.q.Description
		if desc != "" {
			desc += "\n\n"
		}
		desc += fmt.Sprintf("Saved query %q on the %s datasource %q", st.q.Name, st.ds.Kind, st.ds.Name)
		if st.ds.ReadOnly {
			desc += " (read-only)"
		}
		desc += fmt.Sprintf(". Answers columns and rows (at most %d rows and %d bytes; a cut answer says so).", t.s.maxRows, t.s.maxBytes)
		srv.AddTool(&sdk.Tool{Name: st.name, Title: st.q.Name, Description: desc,
			InputSchema: paramsSchema(st.q.Definition.Parameters),
			Annotations: &sdk.ToolAnnotations{Title: st.q.Name, ReadOnlyHint: st.ds.ReadOnly},
		}, t.handler(audit.SavedQueryRun, st.q.ID, t.runSaved(st.q.ID)))
	}
}

func (t *tools) runSaved(queryID string) func(context.Context, *sdk.CallToolRequest) (any, error) {
	return func(ctx context.Context, req *sdk.CallToolRequest) (any, error) {
		var params map[string]any
		if err := decodeArgs(req, &params); err != nil {
			return nil, err
		}
		c := newCollector(t.s.maxBytes, MaxCell)
		sum, err := t.s.queries.RunSaved(ctx, t.a, queryID, query.SavedInput{Params: params, Limit: t.s.maxRows}, nil,
			query.Output{Format: query.NDJSON, W: c})
		if err != nil {
			return nil, err
		}
		return c.result(sum, t.s.maxRows), nil
	}
}

// handler makes a tool's handler of h: one audit event per call. The use
// case h calls records it; when h is refused before reaching one
// (arguments that are not the tool's), the refusal is recorded here as
// the API records a malformed body, with action and target (a saved
// query's id). The answer is h's value as JSON, or its error as a tool
// error.
func (t *tools) handler(action, target string, h func(context.Context, *sdk.CallToolRequest) (any, error)) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		ctx = audit.WithMark(ctx)
		v, err := h(ctx, req)
		if err != nil {
			if !audit.Marked(ctx) {
				audit.RecordOutcome(ctx, t.s.recorder(), t.a.Who(), audit.Event{Action: action, Target: target}, err)
			}
			return t.fail(err), nil
		}
		return jsonResult(v), nil
	}
}

// paramsSchema is the JSON Schema of a saved query's typed parameters,
// with their descriptions. The RE2 pattern of a text parameter goes into
// its description: JSON Schema patterns are ECMA-262 regular expressions,
// which RE2's syntax does not always match; the use case checks it.
func paramsSchema(ps []savedquery.Param) json.RawMessage {
	props := map[string]any{}
	required := []string{}
	for _, p := range ps {
		prop := map[string]any{}
		desc := p.Description
		switch p.Type {
		case savedquery.TypeInt:
			prop["type"] = "integer"
		case savedquery.TypeNumber:
			prop["type"] = "number"
		case savedquery.TypeBool:
			prop["type"] = "boolean"
		case savedquery.TypeDate:
			prop["type"], prop["format"] = "string", "date"
		case savedquery.TypeTimestamp:
			prop["type"], prop["format"] = "string", "date-time"
		case savedquery.TypeUUID:
			prop["type"], prop["format"] = "string", "uuid"
		case savedquery.TypeEnum:
			prop["type"], prop["enum"] = "string", p.Values
		default:
			prop["type"] = "string"
		}
		if p.Min != "" {
			prop["minimum"] = p.Min
		}
		if p.Max != "" {
			prop["maximum"] = p.Max
		}
		if p.MaxLength > 0 {
			prop["maxLength"] = p.MaxLength
		}
		if p.Pattern != "" {
			if desc != "" {
				desc += " "
			}
			desc += "Must match the whole RE2 regular expression " + p.Pattern + "."
		}
		if desc != "" {
			prop["description"] = desc
		}
		hasDefault := len(p.Default) > 0 && string(bytes.TrimSpace(p.Default)) != "null"
		if hasDefault {
			prop["default"] = p.Default
		}
		if p.Required && !hasDefault {
			required = append(required, p.Name)
		}
		props[p.Name] = prop
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false})
	return b
}

// errArgs answers arguments that are not a JSON object of the tool's
// arguments.
var errArgs = querygate.Errorf(querygate.EINVALID, "The arguments must be a JSON object of the tool's input schema, with no other names.")

// decodeArgs reads a tool call's arguments into v, refusing names v does
// not have; numbers stay exact (json.Number).
func decodeArgs(req *sdk.CallToolRequest, v any) error {
	raw := req.Params.Arguments
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return errArgs
	}
	return nil
}

// jsonResult answers v as structured content and, for clients that show
// only text, as its JSON text.
func jsonResult(v any) *sdk.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return toolError(err)
	}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}, StructuredContent: json.RawMessage(b)}
}

// fail answers a use case's error as a tool error the agent can read and
// correct: its code and safe message, never internal text (logged by code
// and types only).
func (t *tools) fail(err error) *sdk.CallToolResult {
	if querygate.ErrorCode(err) == querygate.EDEVICELOCKED {
		err = querygate.Errorf(querygate.EDEVICELOCKED, msgDeviceCustody)
	}
	if code := querygate.ErrorCode(err); code == querygate.EINTERNAL || code == querygate.EUNAVAILABLE || code == querygate.EKEY {
		t.s.base.LogError(t.r, "mcp tool call failed", err)
	}
	return toolError(err)
}

// toolError is a tool result with IsError set and the error's code and
// safe message (a fixed sentence for an error that is not a
// *querygate.Error, or a key error).
func toolError(err error) *sdk.CallToolResult {
	code, msg := querygate.EINTERNAL, "An internal error occurred."
	var e *querygate.Error
	if errors.As(err, &e) && e.Code != querygate.EKEY {
		code, msg = e.Code, e.Message
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}}
}

package mcp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/schema"
)

// validName is what the strictest agents accept as a tool name.
var validName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func TestToolNames(t *testing.T) {
	for _, tc := range []struct {
		refs []toolRef
		want []string
	}{
		{[]toolRef{{"Sales DB", "Top customers", "sq1"}}, []string{"sales_db__top_customers"}},
		{[]toolRef{{"  ", "ÉtÉ!!", "sq1"}}, []string{"x__t"}},
		{[]toolRef{{"a", "b-c", "sqaaaaaaaa111111"}, {"a", "b c", "sqbbbbbbbb222222"}, {"a", "d", "sq3"}},
			[]string{"a__b_c_111111", "a__b_c_222222", "a__d"}},
		{[]toolRef{{strings.Repeat("long datasource ", 10), strings.Repeat("very long query ", 10), "sq1"}},
			[]string{"long_datasource_long__very_long_query_very_long_query_very_lon"}},
		{[]toolRef{{"list", "datasources", "sq1"}}, []string{"list__datasources"}},
	} {
		got := toolNames(tc.refs)
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v: got %q, want %q", tc.refs[i], got[i], tc.want[i])
			}
			if !validName.MatchString(got[i]) {
				t.Errorf("%q is not a valid tool name", got[i])
			}
		}
	}
}

func FuzzToolNames(f *testing.F) {
	f.Add("Sales DB", "Top customers", "b c", "sq1")
	f.Add("", "\x00\xff", "__", "")
	f.Fuzz(func(t *testing.T, ds, q1, q2, id string) {
		names := toolNames([]toolRef{{ds, q1, id + "1"}, {ds, q2, id + "2"}, {ds, q1, "other" + id}})
		seen := map[string]bool{}
		for _, n := range names {
			if !validName.MatchString(n) || !strings.Contains(n, "__") {
				t.Fatalf("%q is not a valid saved-query tool name", n)
			}
			if n == toolListDatasources || n == toolRunSQL || n == toolDescribeSchema {
				t.Fatalf("%q takes a built-in tool's name", n)
			}
			seen[n] = true
		}
		// Alike names are told apart by their ids' ends, when those differ.
		if len(seen) < 2 {
			t.Fatalf("names %v: two tools share a name", names)
		}
	})
}

// feed writes the NDJSON lines to c in pieces of n bytes, as the encoder's
// flushes may split them.
func feed(c *collector, ndjson string, n int) {
	for len(ndjson) > 0 {
		k := min(n, len(ndjson))
		c.Write([]byte(ndjson[:k]))
		ndjson = ndjson[k:]
	}
}

func TestCollector(t *testing.T) {
	long := strings.Repeat("é", 2000) // 4000 bytes
	lines := `{"columns":[{"name":"id","type":"int8"},{"name":"v","type":"text"}]}` + "\n" +
		`{"row":[1,"a"]}` + "\n" +
		`{"row":[2,` + string(mustJSON(long)) + `]}` + "\n" +
		`{"row":[3,{"j":"` + strings.Repeat("x", 3000) + `"}]}` + "\n" +
		`{"done":{"rows":3,"truncated":false,"elapsed_ms":1}}` + "\n"
	for _, piece := range []int{1, 7, 1 << 20} {
		c := newCollector(64<<10, 1024)
		feed(c, lines, piece)
		r := c.result(query.Summary{Rows: 3, HasRows: true}, 200)
		if len(r.Columns) != 2 || r.RowCount != 3 || string(r.Rows[0][1]) != `"a"` || r.RowsAffected != nil {
			t.Fatalf("piece %d: got %+v", piece, r)
		}
		var cut string
		json.Unmarshal(r.Rows[1][1], &cut)
		if !strings.HasSuffix(cut, cutMarker+"4000]") || !utf8.ValidString(cut) || len(cut) > 1024+len(cutMarker)+8 {
			t.Errorf("cut cell: %q", cut)
		}
		json.Unmarshal(r.Rows[2][1], &cut)
		if !strings.HasPrefix(cut, `{"j":"xxx`) || !strings.HasSuffix(cut, cutMarker+"3008]") {
			t.Errorf("cut JSON cell: %q", cut)
		}
		if !r.Truncated || !strings.Contains(r.Note, "2 long cell texts were cut at 1024 bytes") {
			t.Errorf("note: %q", r.Note)
		}
	}
}

func TestCollectorBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"columns":[{"name":"v","type":"text"}]}` + "\n")
	for range 1000 {
		b.WriteString(`{"row":["` + strings.Repeat("y", 500) + `"]}` + "\n")
	}
	// A row far longer than any bound is dropped unread, and so is all
	// that follows it.
	b.WriteString(`{"row":["` + strings.Repeat("z", 1<<20) + `"]}` + "\n")
	c := newCollector(8<<10, 1024)
	feed(c, b.String(), 4096)
	r := c.result(query.Summary{Rows: 200, Truncated: true, HasRows: true}, 200)
	out, _ := json.Marshal(r)
	if len(out) > 8<<10 {
		t.Errorf("answer is %d bytes, bound 8192", len(out))
	}
	if r.RowCount == 0 || r.RowCount > 16 || !r.Truncated || !strings.Contains(r.Note, "more than 200 rows") ||
		!strings.Contains(r.Note, "of the 200 rows read fit in the 8192-byte bound") {
		t.Errorf("got %d rows, note %q", r.RowCount, r.Note)
	}
	if len(c.line) > c.maxLine() {
		t.Errorf("buffered %d bytes of one line", len(c.line))
	}
	// A statement without rows.
	c = newCollector(8<<10, 1024)
	r = c.result(query.Summary{RowsAffected: 4}, 200)
	if r.RowsAffected == nil || *r.RowsAffected != 4 || r.Truncated || r.Rows == nil || r.Columns == nil {
		t.Errorf("no rows: %+v", r)
	}
}

// FuzzCollector feeds arbitrary bytes as the result stream: the collector
// never panics, keeps its answer within the bound, and answers valid JSON.
func FuzzCollector(f *testing.F) {
	f.Add([]byte(`{"columns":[{"name":"a","type":"text"}]}`+"\n"+`{"row":["x"]}`+"\n"), 3)
	f.Add([]byte(`{"row":[`+strings.Repeat(`"\u00e9",`, 300)+`1]}`+"\n"), 1)
	f.Add([]byte("{\"row\":[\"\xff\xfe\"]}\n{\"columns\":7}\n"), 2)
	f.Fuzz(func(t *testing.T, data []byte, piece int) {
		if piece <= 0 {
			piece = 1
		}
		c := newCollector(4<<10, 64)
		feed(c, string(data), piece)
		r := c.result(query.Summary{Rows: int64(len(c.rows))}, 10)
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("answer is not JSON: %v", err)
		}
		if len(c.cols) < 50 && len(out) > 4<<10 {
			t.Fatalf("answer is %d bytes", len(out))
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestParamsSchema(t *testing.T) {
	s := paramsSchema([]savedquery.Param{
		{Name: "n", Type: savedquery.TypeInt, Required: true, Min: "1", Max: "9", Description: "how many"},
		{Name: "s", Type: savedquery.TypeText, Pattern: "[a-z]+", MaxLength: 5},
		{Name: "e", Type: savedquery.TypeEnum, Values: []string{"a", "b"}, Required: true, Default: json.RawMessage(`"a"`)},
		{Name: "d", Type: savedquery.TypeDate},
		{Name: "b", Type: savedquery.TypeBool},
	})
	var got struct {
		Type       string                    `json:"type"`
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
		Additional bool                      `json:"additionalProperties"`
	}
	if err := json.Unmarshal(s, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "object" || got.Additional || len(got.Required) != 1 || got.Required[0] != "n" {
		t.Fatalf("got %s", s)
	}
	p := got.Properties
	if p["n"]["type"] != "integer" || p["n"]["minimum"] != float64(1) || p["n"]["description"] != "how many" ||
		p["s"]["maxLength"] != float64(5) || !strings.Contains(p["s"]["description"].(string), "[a-z]+") || p["s"]["pattern"] != nil ||
		p["e"]["default"] != "a" || len(p["e"]["enum"].([]any)) != 2 || p["d"]["format"] != "date" || p["b"]["type"] != "boolean" {
		t.Errorf("got %s", s)
	}
}

func TestSchemaAnswerBounds(t *testing.T) {
	sc := &schema.Schema{Schemas: []schema.Namespace{{Name: "public"}}}
	for i := range 200 {
		sc.Schemas[0].Tables = append(sc.Schemas[0].Tables, schema.Table{Name: fmt.Sprintf("orders_%03d", i), Kind: schema.KindTable,
			Columns: []schema.Column{{Name: "id", Type: "int8", PrimaryKey: true}, {Name: "note", Type: "text", Nullable: true}}})
	}
	tl := &tools{s: &Server{maxBytes: 4096}}
	a := tl.schemaAnswer(describeSchemaArgs{Datasource: "db"}, sc)
	out, _ := json.Marshal(a)
	if len(out) > 4096 || len(a.Tables) == 0 || len(a.Tables) >= 200 || !a.Truncated || !strings.Contains(a.Note, "of the 200 tables fit") {
		t.Errorf("%d bytes, %d tables, note %q", len(out), len(a.Tables), a.Note)
	}
	a = tl.schemaAnswer(describeSchemaArgs{Datasource: "db", Filter: "ORDERS_19"}, sc)
	if len(a.Tables) != 10 || a.Truncated || a.Tables[0].Name != "public.orders_190" {
		t.Errorf("filtered: %+v", a)
	}
	sc.Truncated = true
	if a = tl.schemaAnswer(describeSchemaArgs{Datasource: "db", Filter: "orders_001"}, sc); !a.Truncated || !strings.Contains(a.Note, "more tables or columns") {
		t.Errorf("the datasource's own limit: %+v", a)
	}
}

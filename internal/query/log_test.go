package query

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/reqlog"
)

// A query's metadata goes on its request's log line when the front end
// writes one (reqlog), once; otherwise (the first query's line already
// holds a query, the line is written, or there is none) the use case logs
// a line of its own. Neither holds the statement.
func TestQueryLogLine(t *testing.T) {
	f := newFixture(t, Limits{})
	var logs syncBuffer
	f.svc.log = slog.New(slog.NewJSONHandler(&logs, nil))
	a := actor("admin", accounts.RoleAdmin)
	a.RequestID = "req-1"
	run := func(line *reqlog.Line) {
		t.Helper()
		ctx := t.Context()
		if line != nil {
			ctx = reqlog.NewContext(ctx, line)
		}
		f.next = func() *fakeConn {
			return &fakeConn{errAt: -1, cols: []connect.Column{{Name: "n", Type: "int4"}}, rows: [][]any{{int64(1)}, {int64(2)}}}
		}
		if _, err := f.svc.Run(ctx, a, f.d.ID, Input{Query: json.RawMessage(`"SELECT n FROM log_marker"`)}, nil, Output{Format: NDJSON, W: &syncBuffer{}}); err != nil {
			t.Fatal(err)
		}
	}
	queryLines := func() int { return strings.Count(logs.String(), `"msg":"query"`) }

	var line reqlog.Line
	run(&line)
	if n := queryLines(); n != 0 {
		t.Fatalf("%d query lines with a request line to add to:\n%s", n, logs.String())
	}
	run(&line) // a second query of the same request
	if n := queryLines(); n != 1 {
		t.Fatalf("%d query lines after a second query on one request line, want 1", n)
	}
	got := map[string]any{}
	for _, at := range line.Take() {
		got[at.Key] = at.Value.Any()
	}
	if got["rows"] != int64(2) || got["outcome"] != "ok" || got["datasource_id"] != f.d.ID || got["user_id"] != a.UserID() || got["request_id"] != nil {
		t.Errorf("added to the request line: %v", got)
	}
	run(&line) // the request line is written
	run(nil)   // no request line
	if n := queryLines(); n != 3 {
		t.Fatalf("%d query lines, want 3:\n%s", n, logs.String())
	}
	if s := logs.String(); !strings.Contains(s, `"request_id":"req-1"`) || !strings.Contains(s, `"rows":2`) || strings.Contains(s, "log_marker") {
		t.Errorf("the query lines:\n%s", s)
	}
}

package query

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// An error that ends a started NDJSON stream carries the datasource's
// position, line, hint and detail beside its code and message.
func TestStreamErrorFacts(t *testing.T) {
	var buf bytes.Buffer
	e := newEncoder(NDJSON, &buf, func() {}, func() {}, 10)
	if err := e.Columns([]connect.Column{{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	qe := querygate.Errorf(querygate.EQUERY, "division by zero")
	qe.Position, qe.Line, qe.Hint, qe.Detail = 8, 2, `say "no"`, "d\n"
	if err := e.end(e.last(Summary{}, qe), true); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var got struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &got); err != nil {
		t.Fatalf("%s: %v", lines[len(lines)-1], err)
	}
	want := map[string]any{"code": "query_failed", "message": "division by zero", "position": 8.0, "line": 2.0, "hint": `say "no"`, "detail": "d\n"}
	for k, v := range want {
		if got.Error[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got.Error[k], v)
		}
	}
}

package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/query"
)

// Result is a tool's answer to an agent: the columns and rows of one
// statement, as much as fits the bounds, and a note when anything was cut.
type Result struct {
	Columns []Column `json:"columns"`
	// Rows hold each cell as JSON: a number, string, boolean, null, or an
	// object or array of a JSON column; a cell cut to the bound is a
	// string ending in cutMarker.
	Rows [][]json.RawMessage `json:"rows"`
	// RowCount is the number of rows in Rows.
	RowCount int `json:"row_count"`
	// Truncated is true when the answer holds less than the statement
	// returned: more rows than the row cap, rows past the byte cap, or
	// cells cut (Note says which).
	Truncated bool `json:"truncated"`
	// RowsAffected is set for a statement that returns no rows.
	RowsAffected *int64 `json:"rows_affected,omitempty"`
	Note         string `json:"note,omitempty"`
}

// cutMarker ends a cell text cut at the bound; the number of bytes the
// whole text had follows it.
const cutMarker = "…[cut; bytes in all: "

// collector reads the use case's NDJSON result stream (query.Output) as
// it is written and keeps the columns and as many rows as the bounds
// allow, each long cell cut. It keeps nothing beyond one answer's bound
// in memory, and nothing anywhere else (P1): rows past the bound are read
// and dropped.
type collector struct {
	maxBytes int // the whole answer's bound, in bytes of JSON
	maxCell  int // a cell's bound, in bytes

	line     []byte // the line being read
	overlong bool   // the line being read is longer than maxLine: dropped
	cols     []Column
	budget   int // bytes the rows may take (rowBudget)
	rows     [][]json.RawMessage
	size     int  // bytes of JSON of the rows kept
	full     bool // a row did not fit: later ones are dropped
	cutCells int  // cells cut at maxCell
}

// newCollector returns a collector for answers of at most maxBytes bytes
// of JSON whose cells are cut at maxCell bytes.
func newCollector(maxBytes, maxCell int) *collector {
	c := &collector{maxBytes: maxBytes, maxCell: maxCell}
	c.budget = c.rowBudget()
	return c
}

// maxLine bounds one buffered line: a row longer than this is dropped
// unread (its cells would be cut, and it would not fit anyway).
func (c *collector) maxLine() int { return 4*c.maxBytes + 64<<10 }

// Write implements io.Writer for query.Output: it never fails, so that a
// bound reached never fails the query (the audit event then tells the
// statement's own outcome).
func (c *collector) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.buffer(p)
			break
		}
		c.buffer(p[:i])
		if !c.overlong {
			c.take(c.line)
		} else {
			c.full = true
		}
		c.line, c.overlong = c.line[:0], false
		p = p[i+1:]
	}
	return n, nil
}

func (c *collector) buffer(p []byte) {
	if c.overlong || c.full && len(c.cols) > 0 {
		// Past the bound, only the end of the line matters.
		c.overlong = c.overlong || c.full
		return
	}
	if len(c.line)+len(p) > c.maxLine() {
		c.overlong = true
		return
	}
	c.line = append(c.line, p...)
}

// take reads one NDJSON line: the columns line or a row; the done and
// error lines are for HTTP clients (the use case's Summary and error say
// the same to this front end).
func (c *collector) take(line []byte) {
	switch {
	case bytes.HasPrefix(line, []byte(`{"columns":`)):
		var v struct {
			Columns []Column `json:"columns"`
		}
		if json.Unmarshal(line, &v) == nil {
			c.cols = v.Columns
			c.budget = c.rowBudget()
		}
	case bytes.HasPrefix(line, []byte(`{"row":`)):
		if c.full {
			return
		}
		var v struct {
			Row []json.RawMessage `json:"row"`
		}
		if json.Unmarshal(line, &v) != nil {
			c.full = true
			return
		}
		size := 1 // the comma between rows
		for i, cell := range v.Row {
			v.Row[i] = c.cut(cell)
			size += len(v.Row[i]) + 1
		}
		if c.size+size > c.budget {
			c.full = true
			return
		}
		c.size += size
		c.rows = append(c.rows, v.Row)
	}
}

// rowBudget is what the rows may take of maxBytes: the rest is for the
// columns, the counts and the note (at most about 500 bytes).
func (c *collector) rowBudget() int {
	b, _ := json.Marshal(c.cols)
	return c.maxBytes - len(b) - 512
}

// cut returns cell, or when its JSON is longer than maxCell, a string of
// its text cut at a character boundary with cutMarker and its length.
func (c *collector) cut(cell json.RawMessage) json.RawMessage {
	if len(cell) <= c.maxCell {
		return cell
	}
	text := string(cell)
	var s string
	if cell[0] == '"' && json.Unmarshal(cell, &s) == nil {
		text = s
	}
	if len(text) <= c.maxCell {
		return cell // escapes made the JSON long, not the text
	}
	c.cutCells++
	end := c.maxCell
	for end > 0 && !utf8.RuneStart(text[end]) {
		end--
	}
	out, _ := json.Marshal(text[:end] + cutMarker + strconv.Itoa(len(text)) + "]")
	return out
}

// result is the answer for a statement that ended with sum.
func (c *collector) result(sum query.Summary, maxRows int64) *Result {
	r := &Result{Columns: c.cols, Rows: c.rows, RowCount: len(c.rows)}
	if r.Columns == nil {
		r.Columns = []Column{}
	}
	if r.Rows == nil {
		r.Rows = [][]json.RawMessage{}
	}
	if !sum.HasRows && len(c.cols) == 0 {
		n := sum.RowsAffected
		r.RowsAffected = &n
	}
	var notes []string
	if sum.Truncated {
		notes = append(notes, fmt.Sprintf("the statement returned more than %d rows, the most one call answers; only the first %d are read (narrow the statement, aggregate, or page with LIMIT/OFFSET)", maxRows, maxRows))
	}
	if int64(len(c.rows)) < sum.Rows {
		notes = append(notes, fmt.Sprintf("only %d of the %d rows read fit in the %d-byte bound of one answer", len(c.rows), sum.Rows, c.maxBytes))
	}
	if c.cutCells > 0 {
		notes = append(notes, fmt.Sprintf("%d long cell texts were cut at %d bytes (they end with %q and their length)", c.cutCells, c.maxCell, cutMarker))
	}
	if len(notes) > 0 {
		r.Truncated = true
		r.Note = "Cut: "
		for i, n := range notes {
			if i > 0 {
				r.Note += "; "
			}
			r.Note += n
		}
		r.Note += "."
	}
	return r
}

// Column is a result column as a tool answers it: its name and the
// datasource's type name (the query protocol's columns line).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

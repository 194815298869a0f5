package query

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// Format is a result encoding.
type Format int

// Formats.
const (
	NDJSON Format = iota
	CSV
)

// ContentType returns the media type of the format.
func (f Format) ContentType() string {
	if f == CSV {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// Summary is what a finished query reports.
type Summary struct {
	Rows         int64
	Truncated    bool
	RowsAffected int64
	HasRows      bool
	Elapsed      time.Duration
	// Bytes is how many bytes of the result were written.
	Bytes int64
}

// flushEvery bounds how long written rows may wait in the buffer.
const flushEvery = 50 * time.Millisecond

// encoder streams one result in one format. It is the connect.Sink of a
// query: it counts rows, enforces the row limit, and writes each row as it
// arrives, never keeping more than one buffer of output.
type encoder struct {
	format  Format
	w       *countingWriter
	bw      *bufio.Writer
	flush   func()
	csv     *csv.Writer
	limit   int64
	rows    int64
	trunc   bool
	started bool
	// start is called once, right before the first byte is written, so
	// the caller can set headers.
	start     func()
	lastFlush time.Time
	line      []byte
	cells     []string
	cellBuf   []byte
	cols      int
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newEncoder(format Format, w io.Writer, flush func(), start func(), limit int64) *encoder {
	cw := &countingWriter{w: w}
	e := &encoder{format: format, w: cw, bw: bufio.NewWriterSize(cw, 32<<10), flush: flush, limit: limit, start: start}
	if format == CSV {
		e.csv = csv.NewWriter(e.bw)
	}
	return e
}

func (e *encoder) begin() {
	if !e.started {
		e.started = true
		if e.start != nil {
			e.start()
		}
		e.lastFlush = time.Now()
	}
}

// flushNow pushes buffered output to the client.
func (e *encoder) flushNow() error {
	if e.csv != nil {
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return err
		}
	}
	if err := e.bw.Flush(); err != nil {
		return err
	}
	if e.flush != nil {
		e.flush()
	}
	e.lastFlush = time.Now()
	return nil
}

// Columns implements connect.Sink.
func (e *encoder) Columns(cols []connect.Column) error {
	e.begin()
	e.cols = len(cols)
	if e.format == CSV {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		if err := e.csv.Write(names); err != nil {
			return err
		}
		return e.flushNow()
	}
	b := append(e.line[:0], `{"columns":[`...)
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, c.Name)
		b = append(b, `,"type":`...)
		b = appendString(b, c.Type)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	e.line = b
	if _, err := e.bw.Write(b); err != nil {
		return err
	}
	return e.flushNow()
}

// Row implements connect.Sink.
func (e *encoder) Row(values []any) error {
	if e.rows >= e.limit {
		e.trunc = true
		return connect.ErrStop
	}
	e.rows++
	if e.format == CSV {
		if cap(e.cells) < len(values) {
			e.cells = make([]string, len(values))
		}
		cells := e.cells[:len(values)]
		buf := e.cellBuf[:0]
		ends := make([]int, 0, 16)
		for _, v := range values {
			buf = textValue(buf, v)
			ends = append(ends, len(buf))
		}
		s := string(buf) // one allocation per row for every cell
		from := 0
		for i, end := range ends {
			cells[i] = s[from:end]
			from = end
		}
		e.cellBuf = buf
		if err := e.csv.Write(cells); err != nil {
			return err
		}
	} else {
		b := append(e.line[:0], `{"row":[`...)
		for i, v := range values {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, v)
		}
		b = append(b, "]}\n"...)
		e.line = b
		if _, err := e.bw.Write(b); err != nil {
			return err
		}
	}
	if e.rows == 1 || time.Since(e.lastFlush) > flushEvery {
		return e.flushNow()
	}
	return nil
}

// done writes the closing line.
func (e *encoder) done(s Summary) error {
	e.begin()
	if e.format == NDJSON {
		b := append(e.line[:0], `{"done":{"rows":`...)
		b = strconv.AppendInt(b, s.Rows, 10)
		b = append(b, `,"truncated":`...)
		b = strconv.AppendBool(b, s.Truncated)
		if !s.HasRows {
			b = append(b, `,"rows_affected":`...)
			b = strconv.AppendInt(b, s.RowsAffected, 10)
		}
		b = append(b, `,"elapsed_ms":`...)
		b = strconv.AppendInt(b, s.Elapsed.Milliseconds(), 10)
		b = append(b, "}}\n"...)
		e.line = b
		if _, err := e.bw.Write(b); err != nil {
			return err
		}
	}
	return e.flushNow()
}

// fail ends a started stream with an error line (NDJSON). A CSV stream has
// no place for one: it is cut short and the caller's connection is closed
// without a clean end, so a client never mistakes it for a whole result.
func (e *encoder) fail(err error) error {
	if e.format == CSV {
		e.flushNow()
		return errIncomplete
	}
	b := append(e.line[:0], `{"error":{"code":`...)
	b = appendString(b, querygate.ErrorCode(err))
	b = append(b, `,"message":`...)
	b = appendString(b, querygate.ErrorMessage(err))
	if qe, ok := errors.AsType[*querygate.Error](err); ok {
		b = appendErrorFacts(b, qe)
	}
	b = append(b, "}}\n"...)
	if _, err := e.bw.Write(b); err != nil {
		return err
	}
	return e.flushNow()
}

// appendErrorFacts appends the optional position, line, hint and detail
// of a datasource's error (as kit.ErrorDetail names them).
func appendErrorFacts(b []byte, qe *querygate.Error) []byte {
	if qe.Position > 0 {
		b = append(b, `,"position":`...)
		b = strconv.AppendInt(b, int64(qe.Position), 10)
	}
	if qe.Line > 0 {
		b = append(b, `,"line":`...)
		b = strconv.AppendInt(b, int64(qe.Line), 10)
	}
	if qe.Hint != "" {
		b = append(b, `,"hint":`...)
		b = appendString(b, qe.Hint)
	}
	if qe.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, qe.Detail)
	}
	return b
}

var errIncomplete = querygate.Errorf(querygate.EINTERNAL, "The result stream was cut short.")

package query

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"sync"
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

// flushEvery bounds how long written rows may wait in the buffer once the
// first bytes have gone out; firstFlush bounds how long the first bytes
// (the columns, the first rows) wait. A result that ends sooner goes out
// whole, in one write with its last line, instead of one write per line:
// a small query then costs the client and the gateway one write instead of
// four.
const flushEvery = 50 * time.Millisecond

// firstFlush is a variable only so that a test can rule the timer out.
var firstFlush = time.Millisecond

// encoder streams one result in one format. It is the connect.Sink of a
// query: it counts rows, enforces the row limit, and writes each row as it
// arrives, never keeping more than one buffer of output.
//
// Written lines wait in the buffer until it is full, until a timer (armed
// by the first line written after a flush) pushes them to the client, or
// until the result ends. The timer runs on its own goroutine, so every use
// of the buffer and of the output holds mu; stop disarms it for good
// before the caller writes the last line, once the query's audit event
// is durable (see Service.stream).
type encoder struct {
	mu      sync.Mutex
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
	start   func()
	flushed bool        // something was pushed to the client
	armed   bool        // timer will flush what is buffered
	timer   *time.Timer // nil until first armed
	stopped bool        // stop was called: the timer no longer flushes
	err     error       // a timed flush's failure, returned by the next Row
	line    []byte
	cells   []string
	cellBuf []byte
	cols    int
	// lineBuf and lastBuf back line and the last line at first, so that
	// a small result's lines need no allocation of their own.
	lineBuf [128]byte
	lastBuf [96]byte
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
	size := smallBuffer // most results are small: no 32 KiB to clear and collect for them
	if format == CSV {
		size = largeBuffer
	}
	e := &encoder{format: format, w: cw, bw: bufio.NewWriterSize(cw, size), flush: flush, limit: limit, start: start}
	e.line = e.lineBuf[:0]
	if format == CSV {
		e.csv = csv.NewWriter(e.bw)
	}
	return e
}

// The encoder's buffer starts small, enough for most results whole, and
// grows eightfold each time a result fills it, up to largeBuffer (NDJSON;
// CSV starts large).
const (
	smallBuffer = 512
	largeBuffer = 32 << 10
)

// write buffers one line (mu held), moving to a larger buffer when this
// one is full.
func (e *encoder) write(b []byte) error {
	if e.bw.Size() < largeBuffer && len(b) > e.bw.Available() {
		if err := e.bw.Flush(); err != nil {
			return err
		}
		e.bw = bufio.NewWriterSize(e.w, min(8*e.bw.Size(), largeBuffer))
	}
	_, err := e.bw.Write(b)
	return err
}

// begin starts the output, once (mu held).
func (e *encoder) begin() {
	if !e.started {
		e.started = true
		if e.start != nil {
			e.start()
		}
	}
}

// arm makes sure what was just written is pushed to the client soon
// (mu held).
func (e *encoder) arm() {
	if e.armed || e.stopped {
		return
	}
	e.armed = true
	d := firstFlush
	if e.flushed {
		d = flushEvery
	}
	if e.timer == nil {
		e.timer = time.AfterFunc(d, e.timed)
	} else {
		e.timer.Reset(d)
	}
}

// timed is the timer's flush.
func (e *encoder) timed() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.armed || e.stopped {
		return
	}
	if err := e.flushNow(); err != nil && e.err == nil {
		e.err = err
	}
}

// stop disarms the timer for good: after it, nothing is written but by
// the caller (end). A timed flush running meanwhile has finished when it
// returns.
func (e *encoder) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	e.armed = false
	if e.timer != nil {
		e.timer.Stop()
	}
}

// flushNow pushes buffered output to the client (mu held).
func (e *encoder) flushNow() error {
	e.armed = false
	if err := e.drain(); err != nil {
		return err
	}
	if e.flush != nil {
		e.flush()
	}
	e.flushed = true
	return nil
}

// drain hands buffered output to the writer, without pushing it to the
// client (mu held).
func (e *encoder) drain() error {
	if e.csv != nil {
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return err
		}
	}
	return e.bw.Flush()
}

// Columns implements connect.Sink.
func (e *encoder) Columns(cols []connect.Column) error {
	e.mu.Lock()
	defer e.mu.Unlock()
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
		e.arm()
		return nil
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
	if err := e.write(b); err != nil {
		return err
	}
	e.arm()
	return nil
}

// Row implements connect.Sink.
func (e *encoder) Row(values []any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
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
		if err := e.write(b); err != nil {
			return err
		}
	}
	e.arm()
	return nil
}

// last is the line that ends the stream: the done line, or for err an
// error line (none for CSV, which has no room for one).
func (e *encoder) last(sum Summary, err error) []byte {
	if e.format != NDJSON {
		return nil
	}
	// lastBuf is free: the last line is built after the rows, and each
	// one is written (end) or measured (size) before the next is built.
	b := e.lastBuf[:0]
	if err != nil {
		b = append(b, `{"error":{"code":`...)
		b = appendString(b, querygate.ErrorCode(err))
		b = append(b, `,"message":`...)
		b = appendString(b, querygate.ErrorMessage(err))
		if qe, ok := errors.AsType[*querygate.Error](err); ok {
			b = appendErrorFacts(b, qe)
		}
		return append(b, "}}\n"...)
	}
	b = append(b, `{"done":{"rows":`...)
	b = strconv.AppendInt(b, sum.Rows, 10)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, sum.Truncated)
	if !sum.HasRows {
		b = append(b, `,"rows_affected":`...)
		b = strconv.AppendInt(b, sum.RowsAffected, 10)
	}
	b = append(b, `,"elapsed_ms":`...)
	b = strconv.AppendInt(b, sum.Elapsed.Milliseconds(), 10)
	return append(b, "}}\n"...)
}

// size is how many bytes the whole result has once the last line is
// written: those already written, those buffered, and the last line's.
func (e *encoder) size(last []byte) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.csv != nil {
		e.csv.Flush() // into bw; its error comes back at end
	}
	return e.w.n + int64(e.bw.Buffered()) + int64(len(last))
}

// end writes the last line (from last) after stop, and hands everything
// buffered to the output; the caller's response then ends with it (for
// HTTP in the same write as the end of the response). A CSV stream ended
// by an error is cut short: end returns errIncomplete, and the caller
// closes its connection without a clean end, so that a client never
// mistakes it for a whole result.
func (e *encoder) end(last []byte, failed bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.begin()
	if len(last) > 0 {
		if _, err := e.bw.Write(last); err != nil {
			return err
		}
	}
	err := e.drain()
	if failed && e.format == CSV {
		return errIncomplete
	}
	return err
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

package postgres

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// wireReader reads the server's messages of a wire session. Rows and COPY
// data are handed on as the raw bytes of their message, never decoded and
// encoded again: the relay's hot path is a copy. Other messages are decoded
// (pgproto3) for the relay to inspect.
type wireReader struct {
	r       *bufio.Reader
	max     int    // the largest message body accepted
	discard int    // bytes of the last message still in r
	big     []byte // the last message, when larger than r's buffer
}

const wireReadBuffer = 64 << 10

func newWireReader(r io.Reader, max int) *wireReader {
	return &wireReader{r: bufio.NewReaderSize(r, wireReadBuffer), max: max}
}

// next returns the next message's type and raw bytes (type, length, body),
// valid until the following call.
func (w *wireReader) next() (byte, []byte, error) {
	if w.discard > 0 {
		w.r.Discard(w.discard)
		w.discard = 0
	}
	w.big = w.big[:0]
	head, err := w.r.Peek(5)
	if err != nil {
		return 0, nil, err
	}
	typ := head[0]
	n := int(binary.BigEndian.Uint32(head[1:5]))
	if n < 4 || n-4 > w.max {
		return 0, nil, &tooLargeError{n}
	}
	total := n + 1
	if total <= wireReadBuffer {
		raw, err := w.r.Peek(total)
		if err != nil {
			return 0, nil, err
		}
		w.discard = total
		return typ, raw, nil
	}
	if cap(w.big) < total {
		w.big = make([]byte, total)
	}
	w.big = w.big[:total]
	if _, err := io.ReadFull(w.r, w.big); err != nil {
		return 0, nil, err
	}
	raw := w.big
	if cap(w.big) > 1<<20 {
		w.big = nil // a huge message's buffer is not kept
	}
	return typ, raw, nil
}

// decode decodes a message of the server (not DataRow or CopyData, which
// are relayed raw).
func decodeBackend(typ byte, body []byte) (pgproto3.BackendMessage, error) {
	var m pgproto3.BackendMessage
	switch typ {
	case '1':
		m = &pgproto3.ParseComplete{}
	case '2':
		m = &pgproto3.BindComplete{}
	case '3':
		m = &pgproto3.CloseComplete{}
	case 'A':
		m = &pgproto3.NotificationResponse{}
	case 'c':
		m = &pgproto3.CopyDone{}
	case 'C':
		m = &pgproto3.CommandComplete{}
	case 'd':
		m = &pgproto3.CopyData{}
	case 'D':
		m = &pgproto3.DataRow{}
	case 'E':
		m = &pgproto3.ErrorResponse{}
	case 'G':
		m = &pgproto3.CopyInResponse{}
	case 'H':
		m = &pgproto3.CopyOutResponse{}
	case 'I':
		m = &pgproto3.EmptyQueryResponse{}
	case 'n':
		m = &pgproto3.NoData{}
	case 'N':
		m = &pgproto3.NoticeResponse{}
	case 's':
		m = &pgproto3.PortalSuspended{}
	case 'S':
		m = &pgproto3.ParameterStatus{}
	case 't':
		m = &pgproto3.ParameterDescription{}
	case 'T':
		m = &pgproto3.RowDescription{}
	case 'Z':
		m = &pgproto3.ReadyForQuery{}
	default:
		// CopyBothResponse (replication), FunctionCallResponse (the
		// fast path is refused), authentication: never expected here.
		return nil, fmt.Errorf("wire: unexpected server message %q", typ)
	}
	if err := m.Decode(body); err != nil {
		return nil, err
	}
	return m, nil
}

// tooLargeError is a server message over the bound of one row (or one
// malformed length).
type tooLargeError struct{ n int }

func (e *tooLargeError) Error() string { return fmt.Sprintf("wire: server message of %d bytes", e.n) }

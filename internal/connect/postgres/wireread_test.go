package postgres

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// encodeBackend encodes server messages, for seeds.
func encodeBackend(msgs ...pgproto3.BackendMessage) []byte {
	var b []byte
	for _, m := range msgs {
		b, _ = m.Encode(b)
	}
	return b
}

func TestWireReader(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*wireReadBuffer)
	in := encodeBackend(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 25}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("one")}}, &pgproto3.DataRow{Values: [][]byte{big}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 2")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	r := newWireReader(bytes.NewReader(in), 1<<30)
	var out []byte
	var types []byte
	for {
		typ, raw, err := r.next()
		if err != nil {
			break
		}
		types = append(types, typ)
		out = append(out, raw...)
		if typ != 'D' {
			if _, err := decodeBackend(typ, raw[5:]); err != nil {
				t.Fatalf("decode %q: %v", typ, err)
			}
		}
	}
	if string(types) != "TDDCZ" || !bytes.Equal(out, in) {
		t.Fatalf("types %q, %d bytes of %d relayed unchanged", types, len(out), len(in))
	}
	// A message larger than the bound is refused.
	r = newWireReader(bytes.NewReader(in), 1000)
	for {
		_, _, err := r.next()
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte("bytes")) {
				t.Fatalf("over the bound: %v", err)
			}
			break
		}
	}
}

// FuzzWireReader: whatever a server sends, reading and decoding it fails
// cleanly or yields messages whose raw bytes are exactly the input.
func FuzzWireReader(f *testing.F) {
	f.Add(encodeBackend(&pgproto3.DataRow{Values: [][]byte{[]byte("a"), nil}}, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}))
	f.Add(encodeBackend(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601", Message: "m"}, &pgproto3.ReadyForQuery{TxStatus: 'T'}))
	f.Add(encodeBackend(&pgproto3.ParameterStatus{Name: "a", Value: "b"}, &pgproto3.NoticeResponse{Message: "n"}))
	f.Add([]byte{'D', 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newWireReader(bytes.NewReader(in), 1<<20)
		var out []byte
		for {
			typ, raw, err := r.next()
			if err != nil {
				break
			}
			out = append(out, raw...)
			if typ != 'D' && typ != 'd' {
				decodeBackend(typ, raw[5:])
			}
		}
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("relayed bytes are not the input")
		}
	})
}

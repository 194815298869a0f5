package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/querygate/querygate/internal/connect"
)

// maxColumns is the most columns a PostgreSQL result has
// (MaxTupleAttributeNumber).
const maxColumns = 1664

// maxMessage is the longest protocol message the connector reads, for
// bounds b: a DataRow is the row's values, a count, and a length per
// value. pgproto3 checks a message's declared length before it reads or
// allocates the body, so no row over it is ever held; the connection is
// then closed (the rest of the message is never read) and not reused.
func maxMessage(b connect.Bounds) int {
	return int(b.Row()) + 2 + 4*maxColumns
}

// checkRow counts the values of one row, as the driver read them, against
// the bounds of m: it names the column of a value over the value bound,
// which the protocol's own bound on the whole row cannot.
func checkRow(m *connect.RowMeter, values [][]byte, cols []connect.Column) error {
	m.Reset()
	for i, b := range values {
		if err := m.Add(i, cols[i].Name, len(b)); err != nil {
			return err
		}
	}
	return nil
}

// boundError returns the error of a message the driver refused as longer
// than maxMessage, or err as it is.
func boundError(err error, m *connect.RowMeter) error {
	if _, ok := errors.AsType[*pgproto3.ExceededMaxBodyLenErr](err); ok {
		return m.TooLarge()
	}
	return err
}

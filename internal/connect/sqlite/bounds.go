package sqlite

import (
	"database/sql"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// limitLength sets SQLite's own bound on one string or blob to the value
// bound, on conn: SQLite then refuses (SQLITE_TOOBIG) to make a longer
// value (zeroblob, randomblob, concatenation, ...) or to read a longer one
// from the file, before the driver copies it into the gateway. SQLite caps
// it at its compile-time maximum (1e9 bytes). The driver reads a row's
// columns all at once, so a row is counted (checkRow) only once it is
// read: it can hold up to its number of columns times the value bound.
func limitLength(conn *sql.Conn, b connect.Bounds) error {
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, int(min(b.Value(), 1e9))); err != nil {
		return querygate.Errorf(querygate.EINTERNAL, "The SQLite driver cannot bound values.")
	}
	return nil
}

// boundError returns the error of a value SQLite refused as longer than
// limitLength, or err as it is.
func boundError(err error, b connect.Bounds) error {
	if se, ok := errors.AsType[*sqlite.Error](err); ok && se.Code()&0xff == sqlite3.SQLITE_TOOBIG {
		return querygate.Errorf(querygate.ETOOLARGE,
			"A value of the result is larger than the gateway takes in one value (%s); select a part of it, such as a substring.",
			connect.Size(b.Value()))
	}
	return err
}

// checkRow counts the values of one row, as the driver read them, against
// the bounds of m.
func checkRow(m *connect.RowMeter, values []any, cols []connect.Column) error {
	m.Reset()
	for i, v := range values {
		n := 0
		switch v := v.(type) {
		case string:
			n = len(v)
		case []byte:
			n = len(v)
		default:
			n = 8 // numbers, times
		}
		if err := m.Add(i, cols[i].Name, n); err != nil {
			return err
		}
	}
	return nil
}

package mysql

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/connect"
)

// kind is how the values of one column are converted.
type kind int

const (
	kindString    kind = iota // text: CHAR, VARCHAR, TEXT, ENUM, SET, TIME, and anything unknown
	kindInt                   // signed integers and YEAR: int64
	kindUint                  // BIGINT UNSIGNED: uint64
	kindUint32                // smaller unsigned integers: int64 (they always fit)
	kindFloat32               // FLOAT: float64, shortest form of the float32
	kindFloat64               // DOUBLE: float64
	kindDecimal               // DECIMAL: connect.Numeric
	kindDate                  // DATE: connect.Date
	kindDateTime              // DATETIME: connect.LocalDateTime (a wall clock, no zone)
	kindTimestamp             // TIMESTAMP: time.Time, an instant (the session's time zone is UTC)
	kindJSON                  // JSON (MySQL): connect.JSON
	kindBytes                 // BLOB, BINARY, VARBINARY, BIT, GEOMETRY, VECTOR: []byte
)

// column describes one result column: its connect.Column and how its
// values are converted.
type column struct {
	connect.Column
	kind kind
}

// newColumn returns the column for a driver column name and type name, as
// the driver's ColumnType.DatabaseTypeName reports it (upper case,
// "UNSIGNED " before unsigned integers).
//
// The driver names a column by its protocol type and character set: a
// column of the binary character set is BLOB, BINARY or VARBINARY, any
// other is TEXT, CHAR or VARCHAR. So text with a binary *collation* (such
// as utf8mb4_bin) stays text, while values the server sends as binary
// strings (VARBINARY columns, UNHEX(), some expressions over them) are
// bytes. MariaDB stores JSON as LONGTEXT and reports it so: those values
// are text; MySQL's JSON type becomes connect.JSON.
func newColumn(name, dbType string) column {
	typ := strings.ToLower(dbType)
	k := kindString
	switch dbType {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR":
		k = kindInt
	case "UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT":
		k = kindUint32
	case "UNSIGNED BIGINT":
		k = kindUint
	case "FLOAT":
		k = kindFloat32
	case "DOUBLE":
		k = kindFloat64
	case "DECIMAL":
		k = kindDecimal
	case "DATE":
		k = kindDate
	case "DATETIME":
		k = kindDateTime
	case "TIMESTAMP":
		k = kindTimestamp
	case "JSON":
		k = kindJSON
	case "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "BIT", "GEOMETRY", "VECTOR":
		k = kindBytes
	}
	// MySQL spells unsigned types "int unsigned".
	if rest, ok := strings.CutPrefix(typ, "unsigned "); ok {
		typ = rest + " unsigned"
	}
	return column{Column: connect.Column{Name: name, Type: typ}, kind: k}
}

// decode converts one non-NULL value in its text form, as the driver left
// it in a sql.RawBytes, to a connect value. []byte and connect.JSON values
// share b, which is only valid until the next row: the sink copies what it
// keeps. A value that does not parse as its type (zero dates such as
// 0000-00-00, out-of-range values) is handed on as the text the server
// sent.
func (c *column) decode(b []byte) any {
	switch c.kind {
	case kindInt, kindUint32:
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return n
		}
	case kindUint:
		if n, err := strconv.ParseUint(string(b), 10, 64); err == nil {
			return n
		}
	case kindFloat32:
		if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			// A FLOAT is a float32: hand on the float64 of its shortest
			// decimal form (1.1, not 1.100000023841858), whichever
			// protocol carried it.
			f32 := float32(f)
			if math.IsInf(float64(f32), 0) || math.IsNaN(float64(f32)) {
				return f
			}
			if g, err := strconv.ParseFloat(strconv.FormatFloat(float64(f32), 'g', -1, 32), 64); err == nil {
				return g
			}
			return f
		}
	case kindFloat64:
		if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			return f
		}
	case kindDecimal:
		return connect.Numeric(b)
	case kindDate:
		if t, err := time.ParseInLocation(time.DateOnly, string(b), time.UTC); err == nil {
			return connect.NewDate(t)
		}
	case kindDateTime:
		if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", string(b), time.UTC); err == nil {
			return connect.NewLocalDateTime(t)
		}
	case kindTimestamp:
		// The server sends a TIMESTAMP in the session's time zone, which
		// config.go sets to UTC: it is an instant.
		if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", string(b), time.UTC); err == nil {
			return t
		}
	case kindJSON:
		return connect.JSON(b)
	case kindBytes:
		return b
	}
	return string(b)
}

package connect

import (
	"strconv"

	"github.com/querygate/querygate"
)

// Default bounds of one row of a SQL result in the gateway. A driver holds
// a whole row in memory before the connector sees it (a PostgreSQL
// DataRow message, a MySQL row packet, a SQLite row's columns), and the
// connector converts it once more before the encoder writes it out, so a
// row is the unit of a query's memory: rows stream, one at a time.
const (
	// DefaultMaxValueBytes bounds one value (text, bytes, JSON, ...).
	DefaultMaxValueBytes = 32 << 20
	// DefaultMaxRowBytes bounds one row, its values added up.
	DefaultMaxRowBytes = 64 << 20
)

// Bounds caps what one row of a result may hold in the gateway. The zero
// value takes the defaults.
type Bounds struct {
	// MaxValueBytes bounds one value, in bytes; 0: DefaultMaxValueBytes.
	MaxValueBytes int64
	// MaxRowBytes bounds one row, its values added up, in bytes; 0:
	// DefaultMaxRowBytes. It is never below MaxValueBytes.
	MaxRowBytes int64
}

// Value returns the bound of one value.
func (b Bounds) Value() int64 {
	if b.MaxValueBytes > 0 {
		return b.MaxValueBytes
	}
	return min(DefaultMaxValueBytes, b.Row())
}

// Row returns the bound of one row.
func (b Bounds) Row() int64 {
	if b.MaxRowBytes > 0 {
		return max(b.MaxRowBytes, b.MaxValueBytes)
	}
	return max(DefaultMaxRowBytes, b.MaxValueBytes)
}

// Meter returns a RowMeter for the rows of one result.
func (b Bounds) Meter() RowMeter {
	return RowMeter{value: b.Value(), row: b.Row()}
}

// RowMeter adds up the values of one row against Bounds.
type RowMeter struct {
	value, row, sum int64
}

// Add counts a value of n bytes in column i (from 0) named name, and
// returns a querygate.ETOOLARGE error, which names the bound and the
// column, once the value or the row so far is over its bound.
func (m *RowMeter) Add(i int, name string, n int) error {
	if int64(n) > m.value {
		return querygate.Errorf(querygate.ETOOLARGE,
			"A value of column %d (%s) is larger than the gateway takes in one value (%s); select a part of it, such as a substring.",
			i+1, name, Size(m.value))
	}
	m.sum += int64(n)
	if m.sum > m.row {
		return RowTooLarge(m.row)
	}
	return nil
}

// Reset starts the next row.
func (m *RowMeter) Reset() { m.sum = 0 }

// RowTooLarge returns the querygate.ETOOLARGE error of a row over bound,
// for a row the driver refused before its columns were known.
func RowTooLarge(bound int64) error {
	return querygate.Errorf(querygate.ETOOLARGE,
		"A row of the result is larger than the gateway takes in one row (%s); select fewer or smaller columns.",
		Size(bound))
}

// Size spells a number of bytes, for messages: in MiB when it is a whole
// number of them.
func Size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// TooLarge returns the error of a row over the row bound, for a row the
// driver refused before its values were known.
func (m *RowMeter) TooLarge() error { return RowTooLarge(m.row) }

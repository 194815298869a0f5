package postgres

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/querygate/querygate/internal/connect"
)

// resultFormat is the format asked for a result column of type oid:
// binary for exactly the types decode reads in binary (fixed-size numbers,
// timestamps, uuid, bytea, text) and arrays of them; text for every other
// type, whose text form is what this package hands on (interval, inet,
// numeric as exact text, ...).
func resultFormat(oid uint32) int16 {
	switch oid {
	case pgtype.NameOID, pgtype.TextOID, pgtype.BPCharOID, pgtype.VarcharOID:
		// The binary form of text is the text itself.
		return pgx.BinaryFormatCode
	}
	if binaryKind(oid) != kString {
		return pgx.BinaryFormatCode
	}
	return pgx.TextFormatCode
}

// kind is how one column's values are converted.
type kind uint8

const (
	kString      kind = iota // text form, as a string
	kBool                    // binary bool
	kInt2                    // binary int2
	kInt4                    // binary int4
	kInt8                    // binary int8
	kOID                     // binary oid
	kFloat8                  // binary float8
	kBytes                   // binary bytea
	kDate                    // binary date: connect.Date
	kTimestamp               // binary timestamp (without time zone): connect.LocalDateTime
	kTimestamptz             // binary timestamptz: time.Time, an instant in UTC
	kUUID                    // binary uuid
	kBinArray                // binary array of the kinds above
	kTextBool                // text bool
	kTextInt                 // text int2, int4, int8, oid
	kTextFloat               // text float4, float8
	kNumeric                 // text numeric
	kJSON                    // text json, jsonb
	kTextArray               // text array
)

// decoder converts the values of one column.
type decoder struct {
	kind  kind
	delim byte     // kTextArray: the element delimiter
	elem  *decoder // kTextArray: the elements' decoder (text format)
}

// newDecoder returns the decoder of a column of type oid in format.
func newDecoder(m *pgtype.Map, oid uint32, format int16) decoder {
	if format == pgx.BinaryFormatCode {
		return decoder{kind: binaryKind(oid)}
	}
	switch oid {
	case pgtype.BoolOID:
		return decoder{kind: kTextBool}
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		return decoder{kind: kTextInt}
	case pgtype.Float4OID, pgtype.Float8OID:
		return decoder{kind: kTextFloat}
	case pgtype.NumericOID:
		return decoder{kind: kNumeric}
	case pgtype.JSONOID, pgtype.JSONBOID:
		return decoder{kind: kJSON}
	}
	if m != nil {
		if t, ok := m.TypeForOID(oid); ok {
			if ac, ok := t.Codec.(*pgtype.ArrayCodec); ok && ac.ElementType != nil {
				elem := newDecoder(nil, ac.ElementType.OID, pgx.TextFormatCode)
				delim := byte(',')
				if ac.ElementType.OID == pgtype.BoxOID {
					delim = ';' // the only built-in type with another delimiter
				}
				return decoder{kind: kTextArray, delim: delim, elem: &elem}
			}
		}
	}
	if name := builtinTypes[oid]; strings.HasPrefix(name, "_") {
		// An array of a built-in type pgx does not know: its elements
		// in their text form.
		return decoder{kind: kTextArray, delim: ',', elem: &textDecoder}
	}
	return decoder{kind: kString}
}

var textDecoder = decoder{kind: kString}

// binaryKind is the kind of a type read in binary (see resultFormat).
func binaryKind(oid uint32) kind {
	switch oid {
	case pgtype.BoolOID:
		return kBool
	case pgtype.ByteaOID:
		return kBytes
	case pgtype.Int2OID:
		return kInt2
	case pgtype.Int4OID:
		return kInt4
	case pgtype.Int8OID:
		return kInt8
	case pgtype.OIDOID:
		return kOID
	case pgtype.Float8OID:
		return kFloat8
	case pgtype.DateOID:
		return kDate
	case pgtype.TimestampOID:
		return kTimestamp
	case pgtype.TimestamptzOID:
		return kTimestamptz
	case pgtype.UUIDOID:
		return kUUID
	case pgtype.BoolArrayOID, pgtype.ByteaArrayOID, pgtype.NameArrayOID, pgtype.TextArrayOID,
		pgtype.BPCharArrayOID, pgtype.VarcharArrayOID, pgtype.Int2ArrayOID, pgtype.Int4ArrayOID,
		pgtype.Int8ArrayOID, pgtype.OIDArrayOID, pgtype.Float8ArrayOID, pgtype.DateArrayOID,
		pgtype.TimestampArrayOID, pgtype.TimestamptzArrayOID, pgtype.UUIDArrayOID:
		return kBinArray
	}
	// name, text, bpchar, varchar: the binary form is the text.
	return kString
}

// typeName is the column type's name as the server knows it, lower case:
// from pgx's type map, else from builtinTypes, else "oid:N" (types of
// extensions, enums, composite types).
func typeName(m *pgtype.Map, oid uint32) string {
	if t, ok := m.TypeForOID(oid); ok {
		return strings.ToLower(t.Name)
	}
	if name, ok := builtinTypes[oid]; ok {
		return name
	}
	return "oid:" + strconv.FormatUint(uint64(oid), 10)
}

// builtinTypes names the built-in types (whose OIDs never change) that
// pgx's type map lacks, as pg_type.typname does.
var builtinTypes = map[uint32]string{
	22: "int2vector", 24: "regproc", 30: "oidvector", 194: "pg_node_tree",
	775: "_macaddr8", 790: "money", 791: "_money", 1006: "_int2vector", 1008: "_regproc",
	1013: "_oidvector", 1263: "_cstring", 1266: "timetz", 1270: "_timetz",
	1790: "refcursor", 2201: "_refcursor", 2202: "regprocedure", 2203: "regoper",
	2204: "regoperator", 2205: "regclass", 2206: "regtype", 2207: "_regprocedure",
	2208: "_regoper", 2209: "_regoperator", 2210: "_regclass", 2211: "_regtype",
	2275: "cstring", 2278: "void", 2949: "_txid_snapshot", 2970: "txid_snapshot",
	3220: "pg_lsn", 3221: "_pg_lsn", 3361: "pg_ndistinct", 3402: "pg_dependencies",
	3615: "tsquery", 3642: "gtsvector", 3644: "_gtsvector", 3645: "_tsquery",
	3734: "regconfig", 3735: "_regconfig", 3769: "regdictionary", 3770: "_regdictionary",
	4089: "regnamespace", 4090: "_regnamespace", 4096: "regrole", 4097: "_regrole",
	4191: "regcollation", 4192: "_regcollation", 5017: "pg_mcv_list",
	5038: "pg_snapshot", 5039: "_pg_snapshot", 6150: "_int4multirange",
	6151: "_nummultirange", 6152: "_tsmultirange", 6153: "_tstzmultirange",
	6155: "_datemultirange", 6157: "_int8multirange",
}

var errMalformed = errors.New("malformed value")

// Microseconds and days between the Unix epoch and PostgreSQL's, 2000-01-01.
const (
	pgEpochSeconds = 946684800
	pgEpochDays    = 10957
)

// decode converts one non-NULL value. b is only valid during the call:
// every value returned owns its memory.
func (d *decoder) decode(b []byte) (any, error) {
	switch d.kind {
	case kString:
		return string(b), nil
	case kBool:
		if len(b) != 1 {
			return nil, errMalformed
		}
		return b[0] != 0, nil
	case kInt2:
		if len(b) != 2 {
			return nil, errMalformed
		}
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case kInt4:
		if len(b) != 4 {
			return nil, errMalformed
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case kInt8:
		if len(b) != 8 {
			return nil, errMalformed
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	case kOID:
		if len(b) != 4 {
			return nil, errMalformed
		}
		return int64(binary.BigEndian.Uint32(b)), nil
	case kFloat8:
		if len(b) != 8 {
			return nil, errMalformed
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case kBytes:
		return bytes.Clone(b), nil
	case kDate:
		if len(b) != 4 {
			return nil, errMalformed
		}
		switch days := int32(binary.BigEndian.Uint32(b)); days {
		case math.MaxInt32:
			return "infinity", nil
		case math.MinInt32:
			return "-infinity", nil
		default:
			return connect.NewDate(time.Unix((int64(days)+pgEpochDays)*86400, 0).UTC()), nil
		}
	case kTimestamp, kTimestamptz:
		if len(b) != 8 {
			return nil, errMalformed
		}
		switch us := int64(binary.BigEndian.Uint64(b)); us {
		case math.MaxInt64:
			return "infinity", nil
		case math.MinInt64:
			return "-infinity", nil
		default:
			// Split first: us plus the epoch offset could overflow.
			// time.Unix normalises a negative remainder.
			t := time.Unix(us/1e6+pgEpochSeconds, us%1e6*1e3).UTC()
			if d.kind == kTimestamp {
				// A timestamp without time zone is a wall clock: the
				// server sends it as if in UTC, and it travels with no
				// zone (an invented Z would make it an instant).
				return connect.NewLocalDateTime(t), nil
			}
			return t, nil
		}
	case kUUID:
		if len(b) != 16 {
			return nil, errMalformed
		}
		var s [36]byte
		hex.Encode(s[0:8], b[0:4])
		s[8] = '-'
		hex.Encode(s[9:13], b[4:6])
		s[13] = '-'
		hex.Encode(s[14:18], b[6:8])
		s[18] = '-'
		hex.Encode(s[19:23], b[8:10])
		s[23] = '-'
		hex.Encode(s[24:], b[10:16])
		return string(s[:]), nil
	case kBinArray:
		return decodeBinaryArray(b)
	case kTextBool:
		switch string(b) {
		case "t":
			return true, nil
		case "f":
			return false, nil
		}
		return nil, errMalformed
	case kTextInt:
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return nil, errMalformed
		}
		return n, nil
	case kTextFloat:
		// float4 comes as text so that 0.1 stays 0.1 instead of the
		// float64 nearest to the float32 nearest to it.
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return nil, errMalformed
		}
		return f, nil
	case kNumeric:
		return connect.Numeric(b), nil
	case kJSON:
		return connect.JSON(bytes.Clone(b)), nil
	case kTextArray:
		return parseTextArray(b, d.delim, d.elem)
	}
	return nil, errMalformed
}

// decodeBinaryArray reads the binary array format: ndim, has-null flag,
// element type, ndim × (length, lower bound), then each element as a
// length (-1 for NULL) and its bytes. Arrays of several dimensions become
// nested []any; lower bounds are dropped.
func decodeBinaryArray(b []byte) (any, error) {
	if len(b) < 12 {
		return nil, errMalformed
	}
	ndim := int32(binary.BigEndian.Uint32(b))
	elemOID := binary.BigEndian.Uint32(b[8:])
	b = b[12:]
	if ndim == 0 {
		return []any{}, nil
	}
	if ndim < 0 || ndim > 6 || len(b) < int(ndim)*8 {
		return nil, errMalformed
	}
	dims := make([]int, ndim)
	total := 1
	for i := range dims {
		n := int32(binary.BigEndian.Uint32(b[i*8:]))
		// Each element takes at least 4 bytes, which bounds the counts.
		if n < 0 || int(n) > len(b)/4+1 {
			return nil, errMalformed
		}
		dims[i] = int(n)
		total *= int(n)
		if total > len(b)/4+1 {
			return nil, errMalformed
		}
	}
	b = b[int(ndim)*8:]
	elem := decoder{kind: binaryKind(elemOID)}
	if elem.kind == kBinArray {
		return nil, errMalformed
	}
	var err error
	next := func() (any, error) {
		if len(b) < 4 {
			return nil, errMalformed
		}
		n := int32(binary.BigEndian.Uint32(b))
		b = b[4:]
		if n < 0 {
			return nil, nil
		}
		if int(n) > len(b) {
			return nil, errMalformed
		}
		v, err := elem.decode(b[:n])
		b = b[n:]
		return v, err
	}
	var build func(dim int) []any
	build = func(dim int) []any {
		out := make([]any, dims[dim])
		for i := range out {
			if err != nil {
				return nil
			}
			if dim == len(dims)-1 {
				out[i], err = next()
			} else {
				out[i] = build(dim + 1)
			}
		}
		return out
	}
	out := build(0)
	if err != nil {
		return nil, err
	}
	if len(b) != 0 {
		return nil, errMalformed
	}
	return out, nil
}

// parseTextArray reads an array in the server's text form, such as
// {1,NULL,"a \"b\""} or [0:1]={{1,2},{3,4}}, converting each element with
// elem. Arrays of several dimensions become nested []any.
func parseTextArray(b []byte, delim byte, elem *decoder) (any, error) {
	p := arrayParser{b: b, delim: delim, elem: elem}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '[' {
		// Explicit bounds: "[lo:hi][lo:hi]=" before the braces.
		eq := bytes.IndexByte(p.b[p.i:], '=')
		if eq < 0 {
			return nil, errMalformed
		}
		p.i += eq + 1
		p.space()
	}
	out, err := p.array(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, errMalformed
	}
	return out, nil
}

type arrayParser struct {
	b     []byte
	i     int
	delim byte
	elem  *decoder
	buf   []byte
}

func (p *arrayParser) space() {
	for p.i < len(p.b) && isArraySpace(p.b[p.i]) {
		p.i++
	}
}

func isArraySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func (p *arrayParser) array(depth int) ([]any, error) {
	if depth >= 6 || p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, errMalformed
	}
	p.i++
	out := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return out, nil
	}
	for {
		p.space()
		if p.i >= len(p.b) {
			return nil, errMalformed
		}
		var v any
		var err error
		switch p.b[p.i] {
		case '{':
			v, err = p.array(depth + 1)
		case '"':
			v, err = p.quoted()
		default:
			v, err = p.unquoted()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, errMalformed
		}
		switch p.b[p.i] {
		case p.delim:
			p.i++
		case '}':
			p.i++
			return out, nil
		default:
			return nil, errMalformed
		}
	}
}

func (p *arrayParser) quoted() (any, error) {
	p.i++ // the opening quote
	p.buf = p.buf[:0]
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch c {
		case '"':
			return p.elem.decode(p.buf)
		case '\\':
			if p.i >= len(p.b) {
				return nil, errMalformed
			}
			c = p.b[p.i]
			p.i++
		}
		p.buf = append(p.buf, c)
	}
	return nil, errMalformed
}

func (p *arrayParser) unquoted() (any, error) {
	p.buf = p.buf[:0]
	escaped := false
	end := 0 // length of buf without trailing unescaped white space
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == p.delim || c == '}' {
			break
		}
		if c == '{' || c == '"' {
			return nil, errMalformed
		}
		p.i++
		if c == '\\' {
			if p.i >= len(p.b) {
				return nil, errMalformed
			}
			c = p.b[p.i]
			p.i++
			escaped = true
			p.buf = append(p.buf, c)
			end = len(p.buf)
			continue
		}
		p.buf = append(p.buf, c)
		if !isArraySpace(c) {
			end = len(p.buf)
		}
	}
	v := p.buf[:end]
	if len(v) == 0 {
		return nil, errMalformed
	}
	if !escaped && len(v) == 4 && strings.EqualFold(string(v), "NULL") {
		return nil, nil
	}
	return p.elem.decode(v)
}

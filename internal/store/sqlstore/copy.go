package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/querygate/querygate"
)

// Column kinds, so that a row read from one database is written to the
// other with the right Go type (SQLite keeps booleans as integers).
const (
	kText = iota
	kInt
	kBlob
	kBool
)

type column struct {
	name string
	kind int
}

type table struct {
	name string
	cols []column
}

func cols(spec string) []column {
	var out []column
	for _, f := range strings.Fields(spec) {
		name, kind, _ := strings.Cut(f, ":")
		k := map[string]int{"t": kText, "i": kInt, "b": kBlob, "bool": kBool}[kind]
		out = append(out, column{name, k})
	}
	return out
}

// tables lists every table of the schema, parents first. Copy refuses a
// source with a table or column missing here, so that a new migration
// cannot be left out of a copy unnoticed.
var tables = []table{
	{"instance", cols("name:t value:b")},
	{"users", cols("id:t username:t password_hash:t role:t created_at:i updated_at:i")},
	{"sessions", cols("id_hash:b public_id:t user_id:t created_at:i expires_at:i last_seen_at:i remote:t user_agent:t")},
	{"api_tokens", cols("id:t user_id:t name:t hash:b created_at:i expires_at:i last_used_at:i")},
	{"datasources", cols("id:t name:t kind:t custody:t read_only:bool settings:t secret_names:t secrets:b owner_id:t created_at:i updated_at:i")},
	{"device_credentials", cols("id:t user_id:t datasource_id:t sealed:b created_at:i expires_at:i last_used_at:i")},
	{"audit_events", cols("seq:i at:i actor_id:t actor_name:t action:t target:t datasource_id:t outcome:t remote:t request_id:t details:t hash:b")},
	{"groups", cols("id:t name:t created_at:i")},
	{"group_members", cols("group_id:t user_id:t")},
	{"grants", cols("datasource_id:t subject_type:t subject_id:t level:t")},
	{"saved_queries", cols("id:t datasource_id:t name:t description:t owner_id:t current_version:i created_at:i updated_at:i")},
	{"saved_query_versions", cols("query_id:t version:i body:t parameters:t created_by:t created_at:i")},
	{"dashboards", cols("id:t name:t description:t owner_id:t definition:t created_at:i updated_at:i")},
	{"dashboard_grants", cols("dashboard_id:t subject_type:t subject_id:t level:t")},
	{"user_identities", cols("issuer:t subject:t user_id:t created_at:i")},
	{"changes", cols("id:i seq:i")},
	{"audit_journal", cols("id:i generation:t moved:i")},
}

// Side is one store of a copy: its connection pool, dialect, and a
// function listing its tables and their columns.
type Side struct {
	DB      *sql.DB
	Dialect *Dialect
	Schema  func(ctx context.Context) (map[string][]string, error)
}

// TableReport is what Copy did to one table.
type TableReport struct {
	Table  string
	Rows   int64
	Digest string // SHA-256 over the rows, equal on both sides
}

// Copy copies every row of every table from src into dst, which must be
// migrated to the same schema and empty, in one transaction of dst. Values
// are copied as they are: sealed blobs stay sealed and nothing is opened.
// It then reads both sides again and compares row counts and a digest of
// every table, and returns them.
func Copy(ctx context.Context, src, dst Side) ([]TableReport, error) {
	if err := checkSchema(ctx, src, "source"); err != nil {
		return nil, err
	}
	if err := checkSchema(ctx, dst, "target"); err != nil {
		return nil, err
	}
	for _, t := range tables {
		var n int64
		if err := dst.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("store copy: target %s: %w", t.name, err)
		}
		// A fresh PostgreSQL store has no instance row until a gateway
		// starts on it; any row means it is in use.
		if n > 0 {
			return nil, querygate.Errorf(querygate.ECONFLICT, "The target store is not empty (table %s has rows): copy only into a new, empty store.", t.name)
		}
	}
	tx, err := dst.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store copy: %w", err)
	}
	defer tx.Rollback()
	for _, t := range tables {
		if err := copyTable(ctx, src, tx, dst.Dialect, t); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store copy: commit: %w", err)
	}
	var out []TableReport
	for _, t := range tables {
		a, err := digest(ctx, src.DB, t)
		if err != nil {
			return nil, err
		}
		b, err := digest(ctx, dst.DB, t)
		if err != nil {
			return nil, err
		}
		if a != b {
			return nil, fmt.Errorf("store copy: verification failed: table %s differs after the copy (%d rows %s, %d rows %s)",
				t.name, a.Rows, a.Digest, b.Rows, b.Digest)
		}
		out = append(out, a)
	}
	return out, nil
}

// checkSchema refuses a store whose tables are not exactly the ones this
// build copies.
func checkSchema(ctx context.Context, s Side, which string) error {
	have, err := s.Schema(ctx)
	if err != nil {
		return fmt.Errorf("store copy: %s schema: %w", which, err)
	}
	delete(have, "schema_migrations")
	for _, t := range tables {
		got := have[t.name]
		if got == nil {
			return fmt.Errorf("store copy: the %s store has no table %s: run `querygate migrate` on it first", which, t.name)
		}
		var want []string
		for _, c := range t.cols {
			want = append(want, c.name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("store copy: the %s store's table %s has columns %v, this build copies %v: use the same querygate version on both", which, t.name, got, want)
		}
		delete(have, t.name)
	}
	for name := range have {
		return fmt.Errorf("store copy: the %s store has a table %s this build does not copy: use the same querygate version on both", which, name)
	}
	return nil
}

func scanDest(t table) []any {
	dest := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText:
			dest[i] = new(sql.NullString)
		case kInt:
			dest[i] = new(sql.NullInt64)
		case kBlob:
			dest[i] = new([]byte)
		case kBool:
			dest[i] = new(sql.NullBool)
		}
	}
	return dest
}

func values(dest []any) []any {
	out := make([]any, len(dest))
	for i, d := range dest {
		switch d := d.(type) {
		case *sql.NullString:
			out[i] = *d
		case *sql.NullInt64:
			out[i] = *d
		case *[]byte:
			if *d == nil {
				out[i] = nil
			} else {
				out[i] = slices.Clone(*d)
			}
		case *sql.NullBool:
			out[i] = *d
		}
	}
	return out
}

func selectAll(t table) string {
	var names []string
	for _, c := range t.cols {
		names = append(names, c.name)
	}
	return `SELECT ` + strings.Join(names, ", ") + ` FROM ` + t.name
}

func copyTable(ctx context.Context, src Side, tx *sql.Tx, d *Dialect, t table) error {
	rows, err := src.DB.QueryContext(ctx, selectAll(t))
	if err != nil {
		return fmt.Errorf("store copy: read %s: %w", t.name, err)
	}
	defer rows.Close()
	var names []string
	for _, c := range t.cols {
		names = append(names, c.name)
	}
	insert := d.rebind(`INSERT INTO ` + t.name + ` (` + strings.Join(names, ", ") + `) VALUES (` +
		strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + `)`)
	stmt, err := tx.PrepareContext(ctx, insert)
	if err != nil {
		return fmt.Errorf("store copy: %s: %w", t.name, err)
	}
	defer stmt.Close()
	dest := scanDest(t)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("store copy: read %s: %w", t.name, err)
		}
		if _, err := stmt.ExecContext(ctx, values(dest)...); err != nil {
			return fmt.Errorf("store copy: write %s: %w", t.name, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store copy: read %s: %w", t.name, err)
	}
	return nil
}

// digest reads a whole table into a canonical form (each value tagged with
// its kind and length) and hashes the sorted rows, so that the order the
// database returns them in does not matter.
func digest(ctx context.Context, db *sql.DB, t table) (TableReport, error) {
	rows, err := db.QueryContext(ctx, selectAll(t))
	if err != nil {
		return TableReport{}, fmt.Errorf("store copy: verify %s: %w", t.name, err)
	}
	defer rows.Close()
	dest := scanDest(t)
	var encoded [][]byte
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return TableReport{}, fmt.Errorf("store copy: verify %s: %w", t.name, err)
		}
		var b bytes.Buffer
		field := func(tag byte, valid bool, p []byte) {
			b.WriteByte(tag)
			if !valid {
				b.WriteByte(0)
				return
			}
			b.WriteByte(1)
			binary.Write(&b, binary.BigEndian, uint64(len(p)))
			b.Write(p)
		}
		for _, d := range dest {
			switch d := d.(type) {
			case *sql.NullString:
				field('t', d.Valid, []byte(d.String))
			case *sql.NullInt64:
				field('i', d.Valid, binary.BigEndian.AppendUint64(nil, uint64(d.Int64)))
			case *[]byte:
				field('b', *d != nil, *d)
			case *sql.NullBool:
				v := byte(0)
				if d.Bool {
					v = 1
				}
				field('o', d.Valid, []byte{v})
			}
		}
		encoded = append(encoded, b.Bytes())
	}
	if err := rows.Err(); err != nil {
		return TableReport{}, fmt.Errorf("store copy: verify %s: %w", t.name, err)
	}
	slices.SortFunc(encoded, bytes.Compare)
	h := sha256.New()
	for _, e := range encoded {
		h.Write(e)
	}
	return TableReport{Table: t.name, Rows: int64(len(encoded)), Digest: hex.EncodeToString(h.Sum(nil))}, nil
}

// Schema runs a query answering (table, column) pairs and groups them.
func Schema(ctx context.Context, db *sql.DB, q string) (map[string][]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out[t] = append(out[t], c)
	}
	return out, rows.Err()
}

// Tables lists the tables a store holds (schema_migrations included).
func Tables() []string {
	out := []string{"schema_migrations"}
	for _, t := range tables {
		out = append(out, t.name)
	}
	return out
}

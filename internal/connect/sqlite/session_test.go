package sqlite_test

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// TestCleanSession proves P13 for SQLite: nothing one request does on a
// pooled connection (an open transaction, a temporary table, view or
// trigger, its last rowid or change count) reaches the next request.
func TestCleanSession(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave string
		probe string
		want  string // the probe's first value when the session is clean
		// check, when set, is read by another connection after the
		// probe, and must give "ok".
		check string
	}{
		{"open transaction", "BEGIN", "INSERT INTO t (id, name) VALUES (10, 'x') RETURNING id", "10",
			"SELECT CASE count(*) WHEN 1 THEN 'ok' ELSE 'the insert is not committed' END FROM t WHERE id = 10"},
		{"savepoint", "SAVEPOINT qg_a", "INSERT INTO t (id, name) VALUES (10, 'x') RETURNING id", "10",
			"SELECT CASE count(*) WHEN 1 THEN 'ok' ELSE 'the insert is not committed' END FROM t WHERE id = 10"},
		{"temporary table", "CREATE TEMP TABLE qg_tmp_a AS SELECT 'alpha' AS v", "SELECT count(*) FROM temp.sqlite_schema", "0", ""},
		{"temporary table by schema", "CREATE TABLE temp.qg_tmp_b (v)", "SELECT count(*) FROM temp.sqlite_schema", "0", ""},
		{"temporary view", "CREATE TEMP VIEW qg_view_a AS SELECT 'alpha' AS v", "SELECT count(*) FROM temp.sqlite_schema", "0", ""},
		{"temporary trigger", "CREATE TEMP TRIGGER qg_trig_a AFTER INSERT ON t BEGIN UPDATE t SET name = 'stolen' WHERE id = new.id; END",
			"INSERT INTO t (id, name) VALUES (11, 'mine') RETURNING name", "mine", "SELECT coalesce((SELECT name FROM t WHERE id = 11), 'none')"},
		{"last insert rowid", "INSERT INTO t (id, name) VALUES (12345, 'a')", "SELECT last_insert_rowid()", "0", ""},
		{"change count", "UPDATE t SET score = 1", "SELECT changes()", "0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.mustConnector(t, false)
			_, err := c.Query(t.Context(), connect.Request{Query: tc.leave}, &sink{})
			var s sink
			if _, err := c.Query(t.Context(), connect.Request{Query: tc.probe}, &s); err != nil {
				t.Fatalf("%s: %v", tc.probe, err)
			}
			if got := fmt.Sprint(s.rows[0][0]); got != tc.want {
				t.Errorf("after %q (error %v), %q gives %s, want %s", tc.leave, err, tc.probe, got, tc.want)
			}
			if tc.check != "" {
				db, err := sql.Open("sqlite", f.db)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var got string
				if err := db.QueryRow(tc.check).Scan(&got); err != nil || got != "ok" && got != "mine" {
					t.Errorf("after %q and %q, another connection reads %q (%v)", tc.leave, tc.probe, got, err)
				}
			}
		})
	}
	// Refused statements say why.
	f := newFixture(t)
	c := f.mustConnector(t, false)
	_, err := c.Query(t.Context(), connect.Request{Query: "BEGIN"}, &sink{})
	if querygate.ErrorCode(err) != connect.EQUERY || querygate.ErrorMessage(err) == "" {
		t.Errorf("BEGIN: %v", err)
	}
}

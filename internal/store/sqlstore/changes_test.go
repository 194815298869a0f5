package sqlstore

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestChangesFresh: a reading of the change sequence is shared only with
// calls made within ChangesFresh of its start, and never after Invalidate.
func TestChangesFresh(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE changes (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);
		INSERT INTO changes (id, seq) VALUES (1, 10)`); err != nil {
		t.Fatal(err)
	}
	d := &Dialect{}
	c, err := NewChanges(ctx, db, d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	at := func(d time.Duration) { c.now = func() time.Time { return t0.Add(d) } }
	bump := func() {
		t.Helper()
		if _, err := db.ExecContext(ctx, d.rebind(bumpChanges), int64(0)); err != nil {
			t.Fatal(err)
		}
	}
	seq := func() int64 {
		t.Helper()
		n, err := c.Seq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	at(0)
	if got := seq(); got != 10 {
		t.Fatalf("first reading: %d, want 10", got)
	}
	bump() // another replica's change
	at(ChangesFresh / 2)
	if got := seq(); got != 10 {
		t.Errorf("within the freshness of the last reading: %d, want the shared 10", got)
	}
	at(ChangesFresh + time.Microsecond)
	if got := seq(); got != 11 {
		t.Errorf("past the freshness of the last reading: %d, want 11", got)
	}
	bump() // a change through this store: Invalidate follows its commit
	c.Invalidate()
	if got := seq(); got != 12 {
		t.Errorf("after Invalidate, at the same instant: %d, want 12", got)
	}
	at(0) // a clock that went back is not trusted
	bump()
	if got := seq(); got != 13 {
		t.Errorf("clock before the reading's start: %d, want 13", got)
	}
}

// TestChangesProbe: with a probe, a reading is used for as long as the
// probe reports the mark read before its query, however old it is, and
// never after the mark changes or Invalidate; without a mark, readings
// are shared by time as without a probe.
func TestChangesProbe(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE changes (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);
		INSERT INTO changes (id, seq) VALUES (1, 10)`); err != nil {
		t.Fatal(err)
	}
	d := &Dialect{}
	c, err := NewChanges(ctx, db, d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mark, known := Mark{1}, true
	c.SetProbe(func() (Mark, bool) { return mark, known })
	t0 := time.Now()
	at := func(d time.Duration) { c.now = func() time.Time { return t0.Add(d) } }
	bump := func() {
		t.Helper()
		if _, err := db.ExecContext(ctx, d.rebind(bumpChanges), int64(0)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, want, wantReads int64) {
		t.Helper()
		n, err := c.Seq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != want || c.Reads() != wantReads {
			t.Errorf("%s: %d after %d queries, want %d after %d", what, n, c.Reads(), want, wantReads)
		}
	}

	at(0)
	check("first reading", 10, 1)
	at(time.Hour)
	check("same mark, an hour later", 10, 1)
	bump()
	mark[1]++
	check("new mark", 11, 2)
	check("new mark again", 11, 2)
	bump() // through this store: Invalidate follows
	c.Invalidate()
	check("after Invalidate, same mark", 12, 3) // (a real probe's mark would change too)
	known = false
	at(2 * time.Hour)
	bump()
	check("no mark", 13, 4)
	bump()
	check("no mark, same instant: shared by time", 13, 4)
	at(2*time.Hour + ChangesFresh + time.Microsecond)
	check("no mark, past the freshness", 14, 5)
	known = true
	mark[1]++ // the commits made while it was unknown changed it
	check("mark back, but the last reading had none", 14, 6)
	check("mark back", 14, 6)
}

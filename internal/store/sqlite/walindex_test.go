package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/store/storetest"
)

// bumpSQL raises the change sequence as a store's write transaction does.
const bumpSQL = `INSERT INTO changes (id, seq) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET seq = changes.seq + 1`

// openOther opens the file as another process would: its own pool, with
// commits that do not wait for the disk (so that they are quick).
func openOther(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// TestChangeSeqOtherConnection: a commit through an independent pool on
// the same file is seen by the very next ChangeSeq, without waiting
// (with the time-shared readings alone, a call within a millisecond of
// the last reading returned that reading).
func TestChangeSeqOtherConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db := MustOpen(t, path)
	if !sqlite.WALIndexOpen(db) {
		t.Fatal("the store does not read the WAL index")
	}
	other := openOther(t, path)
	for i := range 50 {
		seen := storetest.MustChangeSeq(t, db)
		if _, err := other.ExecContext(t.Context(), bumpSQL); err != nil {
			t.Fatal(err)
		}
		if now := storetest.MustChangeSeq(t, db); now != seen+1 {
			t.Fatalf("commit %d by another connection: change sequence %d, want %d", i, now, seen+1)
		}
	}
}

// TestChangeSeqOtherProcess: a commit by another process (this test
// binary run again) is seen by the next ChangeSeq.
func TestChangeSeqOtherProcess(t *testing.T) {
	if path := os.Getenv("QUERYGATE_TEST_BUMP"); path != "" {
		raw := openOther(t, path)
		if _, err := raw.ExecContext(t.Context(), bumpSQL); err != nil {
			t.Fatal(err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "q.db")
	db := MustOpen(t, path)
	for i := range 3 {
		seen := storetest.MustChangeSeq(t, db)
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChangeSeqOtherProcess$")
		cmd.Env = append(os.Environ(), "QUERYGATE_TEST_BUMP="+path)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if now := storetest.MustChangeSeq(t, db); now != seen+1 {
			t.Fatalf("commit %d by another process: change sequence %d, want %d", i, now, seen+1)
		}
	}
}

// TestChangeSeqNoQuery: while nothing is committed, ChangeSeq runs no
// query, however far apart the calls; a commit through the store makes
// the next call read the new number.
func TestChangeSeqNoQuery(t *testing.T) {
	db := MustOpen(t, "")
	storetest.MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateUser(ctx, storetest.NewUser("u1", "alice"))
	})
	seq := storetest.MustChangeSeq(t, db)
	reads := sqlite.ChangeReads(db)
	for i := range 1000 {
		if i%200 == 0 {
			time.Sleep(2 * time.Millisecond) // past the time sharing
		}
		if now := storetest.MustChangeSeq(t, db); now != seq {
			t.Fatalf("call %d: %d, want %d", i, now, seq)
		}
	}
	if n := sqlite.ChangeReads(db) - reads; n != 0 {
		t.Fatalf("1000 calls with nothing committed ran %d queries, want 0", n)
	}
	storetest.MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		u := storetest.NewUser("u1", "alice")
		u.Role = "editor"
		return tx.UpdateUser(ctx, u)
	})
	if now := storetest.MustChangeSeq(t, db); now <= seq {
		t.Fatalf("after a change: %d, want more than %d", now, seq)
	}
	if n := sqlite.ChangeReads(db) - reads; n != 1 {
		t.Fatalf("after a change: %d queries, want 1", n)
	}
}

// TestChangeSeqUnraisedCommit: a commit that does not raise the change
// sequence (an audit append, by this store or another process) makes
// the next ChangeSeq query again, and it returns the same number; the
// calls after it run no query.
func TestChangeSeqUnraisedCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db := MustOpen(t, path)
	other := MustOpen(t, path)
	seq := storetest.MustChangeSeq(t, db)
	for i, s := range []*sqlite.DB{db, other} {
		reads := sqlite.ChangeReads(db)
		storetest.MustUpdate(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.AppendAuditEvent(ctx, &store.AuditEvent{Seq: int64(i + 1), At: storetest.T0, Action: "query", Outcome: "ok", Details: "{}", Hash: []byte{1}})
		})
		for range 3 {
			if now := storetest.MustChangeSeq(t, db); now != seq {
				t.Fatalf("after audit append %d: %d, want %d", i, now, seq)
			}
		}
		if n := sqlite.ChangeReads(db) - reads; n != 1 {
			t.Fatalf("after audit append %d: %d queries, want 1", i, n)
		}
	}
}

// BenchmarkChangeSeq: a call at least a millisecond after the last one
// (as a gateway's requests at one client), and calls back to back.
func BenchmarkChangeSeq(b *testing.B) {
	db := MustOpen(b, "")
	ctx := context.Background()
	b.Run("spaced", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			time.Sleep(1100 * time.Microsecond)
			b.StartTimer()
			if _, err := db.ChangeSeq(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("back-to-back", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.ChangeSeq(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.ChangeSeq(ctx); err != nil {
					panic(fmt.Sprint(err))
				}
			}
		})
	})
}

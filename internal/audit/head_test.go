package audit_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// anchored is a store with a head record beside it, and the audit key.
type anchored struct {
	st       store.Store
	db, head string
	key      seal.Key
}

func newAnchored(t *testing.T) *anchored {
	t.Helper()
	dir := t.TempDir()
	a := &anchored{db: filepath.Join(dir, "q.db"), head: filepath.Join(dir, audit.HeadFile), key: seal.GenerateKey()}
	st, err := sqlite.Open(t.Context(), a.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a.st = st
	return a
}

// log opens a log on the store; head says whether it keeps the head record.
func (a *anchored) log(t *testing.T, head bool) *audit.Log {
	t.Helper()
	o := audit.Options{Store: a.st, Key: a.key}
	if head {
		o.Head = a.head
	}
	l := audit.New(o)
	t.Cleanup(l.Close)
	return l
}

func mustVerify(t *testing.T, l *audit.Log, heads ...string) audit.Report {
	t.Helper()
	rep, err := l.Verify(t.Context(), heads...)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestHeadFindsDeletedNewestEvents: deleting the newest events keeps a
// valid chain; the head record outside the store shows what is missing.
func TestHeadFindsDeletedNewestEvents(t *testing.T) {
	for _, tc := range []struct {
		name    string
		deleted int
		want    string
	}{
		{"none", 0, ""},
		{"newest", 1, "the newest 1 events (6 to 6) are missing"},
		{"newest three", 3, "the newest 3 events (4 to 6) are missing"},
		{"all", 6, "the newest 6 events (1 to 6) are missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAnchored(t)
			l := a.log(t, true)
			record(t, l, 6)
			l.Close()
			if tc.deleted > 0 {
				raw(t, a.db, "DELETE FROM audit_events WHERE seq > "+strconv.Itoa(6-tc.deleted))
			}
			// Without its head the chain is as valid as before: the gap
			// the head closes.
			if rep := mustVerify(t, a.log(t, false)); len(rep.Problems) != 0 {
				t.Fatalf("chain alone: %v", rep.Problems)
			}
			rep := mustVerify(t, a.log(t, false), a.head)
			if tc.want == "" {
				if len(rep.Problems) != 0 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "event 6 is present") {
					t.Fatalf("untouched trail: %+v", rep)
				}
				return
			}
			if len(rep.Problems) != 1 || rep.Problems[0].Seq != 6 || !strings.Contains(rep.Problems[0].Reason, tc.want) {
				t.Fatalf("Verify = %+v, want one problem: %s", rep.Problems, tc.want)
			}
		})
	}
}

// TestHeadFindsRewriteWithKey: a thief with the key can build a new valid
// chain, but not one ending in the head record's hash.
func TestHeadFindsRewriteWithKey(t *testing.T) {
	a := newAnchored(t)
	l := a.log(t, true)
	record(t, l, 4)
	l.Close()
	raw(t, a.db, "DELETE FROM audit_events WHERE seq > 2")
	record(t, a.log(t, false), 2) // events 3 and 4 again, validly chained
	rep := mustVerify(t, a.log(t, false), a.head)
	if len(rep.Problems) != 1 || rep.Problems[0].Seq != 4 || !strings.Contains(rep.Problems[0].Reason, "not the one the head record") {
		t.Fatalf("Verify = %+v, want the rewrite found at event 4", rep.Problems)
	}
}

// TestHeadKeepsTruncationVisible: a log that finds the store shorter than
// its head continues after the head, so the loss stays a gap in the chain
// even once newer events are written and the head moves on.
func TestHeadKeepsTruncationVisible(t *testing.T) {
	a := newAnchored(t)
	l := a.log(t, true)
	record(t, l, 5)
	l.Close()
	raw(t, a.db, "DELETE FROM audit_events WHERE seq > 3")
	l = a.log(t, true) // a restart: the head comes from the file
	record(t, l, 3)
	rep := mustVerify(t, l, a.head)
	if len(rep.Problems) == 0 || rep.Problems[0].Seq != 6 || !strings.Contains(rep.Problems[0].Reason, "events 4 to 5 are missing") {
		t.Fatalf("Verify = %+v, want the gap 4 to 5", rep.Problems)
	}
	if rep.Last != 8 {
		t.Fatalf("last event %d, want 8", rep.Last)
	}
}

// TestHeadRecordChecks: a missing record is noted, a forged one is a
// problem, and an append replaces either.
func TestHeadRecordChecks(t *testing.T) {
	a := newAnchored(t)
	rep := mustVerify(t, a.log(t, false), a.head)
	if len(rep.Problems) != 0 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "no head record") {
		t.Fatalf("missing head: %+v", rep)
	}
	l := a.log(t, true)
	record(t, l, 2)
	l.Close() // the head record is written off the requests' path; Close flushes it
	b, err := os.ReadFile(a.head)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(a.head); fi.Mode().Perm() != 0o600 {
		t.Errorf("head record mode %v, want 0600", fi.Mode().Perm())
	}
	for _, forged := range []string{
		strings.Replace(string(b), `"seq":2`, `"seq":9`, 1), // points past the end, without the key
		"not json",
		"",
	} {
		if err := os.WriteFile(a.head, []byte(forged), 0o600); err != nil {
			t.Fatal(err)
		}
		rep := mustVerify(t, a.log(t, false), a.head)
		if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Reason, "is not valid") {
			t.Fatalf("forged head %q: %+v", forged, rep.Problems)
		}
	}
	// The next append replaces the forged record.
	l = a.log(t, true)
	record(t, l, 1)
	l.Close()
	if rep := mustVerify(t, a.log(t, false), a.head); len(rep.Problems) != 0 || rep.Last != 3 {
		t.Fatalf("after an append: %+v", rep)
	}
	// A head record made under another key does not verify.
	other := audit.New(audit.Options{Store: a.st, Key: seal.GenerateKey()})
	t.Cleanup(other.Close)
	if rep := mustVerify(t, other, a.head); len(rep.Problems) < 1 || !strings.Contains(rep.Problems[0].Reason, "is not valid") {
		t.Fatalf("another key: %+v", rep.Problems)
	}
}

// TestHeadWrittenAtMostEvery50ms: a steady stream of events, each its own
// batch, does not cost a head record write (an fsync and a rename) each;
// the record still ends at the newest event once the log is closed.
func TestHeadWrittenAtMostEvery50ms(t *testing.T) {
	a := newAnchored(t)
	l := a.log(t, true)
	start := time.Now()
	const n = 30
	for i := range n {
		if err := l.Record(t.Context(), audit.Event{Action: audit.Query, Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	l.Close()
	if max := 2 + int64(elapsed/(50*time.Millisecond)); l.HeadWrites() > max {
		t.Errorf("%d events in %v wrote the head record %d times, want at most %d", n, elapsed, l.HeadWrites(), max)
	}
	if rep := mustVerify(t, a.log(t, false), a.head); len(rep.Problems) != 0 || rep.Events != n {
		t.Errorf("after Close: %+v, want %d events and no problem", rep, n)
	}
}

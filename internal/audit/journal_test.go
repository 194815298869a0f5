package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// journalDir opens a store in a new directory, with the journal and head
// record paths beside it.
func journalDir(t *testing.T) (dir string, st store.Store) {
	t.Helper()
	dir = t.TempDir()
	st = openStore(t, dir)
	return dir, st
}

func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// countingUpdates counts the store's write transactions, which wait
// until gate is closed.
type countingUpdates struct {
	store.Store
	gate chan struct{}
	n    atomic.Int64
}

func (c *countingUpdates) Update(ctx context.Context, fn func(store.Tx) error) error {
	if c.n.Add(1) > 1 { // the first records the journal's generation
		<-c.gate
	}
	return c.Store.Update(ctx, fn)
}

// With a journal, an event is acknowledged once it is in the journal:
// one client's events, each acknowledged on its own, do not wait for the
// store, and go into it in a few transactions, not one each; every one is
// there, chained, as soon as the trail is read.
func TestJournalBatchesStoreWrites(t *testing.T) {
	dir, st := journalDir(t)
	c := &countingUpdates{Store: st, gate: make(chan struct{})}
	key := seal.GenerateKey()
	l := audit.New(audit.Options{Store: c, Key: key, Journal: filepath.Join(dir, audit.JournalFile), Head: filepath.Join(dir, audit.HeadFile)})
	defer l.Close()
	const n = 200
	record(t, l, n) // the store is stuck meanwhile: Record must not wait for it
	close(c.gate)
	// Read at once: every acknowledged event is there.
	page, err := l.List(t.Context(), store.AuditFilter{Limit: 1})
	if err != nil || len(page) != 1 || page[0].Seq != n {
		t.Fatalf("List right after the last Record = %v %v, want event %d", page, err, n)
	}
	if got := c.n.Load() - 1; got > 3 {
		t.Fatalf("%d events took %d store transactions: not batched", n, got)
	}
	rep, err := l.Verify(t.Context(), filepath.Join(dir, audit.HeadFile))
	if err != nil || rep.Events != n || len(rep.Problems) != 0 {
		t.Fatalf("Verify = %+v %v", rep, err)
	}
}

// stuckStore never finishes a write: with before, it blocks before the
// transaction (nothing reaches the store); without, after its commit (the
// events and the journal mark are in the store, but the log never hears
// so and never empties its journal).
//
// The first write (the journal's generation, recorded when it is made)
// goes through.
type stuckStore struct {
	store.Store
	before bool
	writes atomic.Int64
}

func (s *stuckStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if s.writes.Add(1) == 1 {
		return s.Store.Update(ctx, fn)
	}
	if s.before {
		select {}
	}
	if err := s.Store.Update(ctx, fn); err != nil {
		return err
	}
	select {}
}

// TestJournalChild is the process that crashes, run by
// TestJournalSurvivesCrash: it records events on a store whose writes
// never finish, prints how many were acknowledged, and exits without
// closing anything, as a killed gateway would.
func TestJournalChild(t *testing.T) {
	dir := os.Getenv("QG_AUDIT_JOURNAL_CHILD")
	if dir == "" {
		t.Skip("run by TestJournalSurvivesCrash")
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := seal.ParseKey(os.Getenv("QG_AUDIT_JOURNAL_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(audit.Options{Store: &stuckStore{Store: st, before: os.Getenv("QG_AUDIT_JOURNAL_STUCK") == "before"},
		Key: key, Journal: filepath.Join(dir, audit.JournalFile)})
	n, _ := strconv.Atoi(os.Getenv("QG_AUDIT_JOURNAL_N"))
	for i := range n {
		if err := l.Record(context.Background(), audit.Event{ActorID: "u1", Action: audit.Query, RequestID: fmt.Sprintf("r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getenv("QG_AUDIT_JOURNAL_STUCK") == "after" {
		time.Sleep(100 * time.Millisecond) // the mover commits, then hangs
	}
	fmt.Printf("acknowledged %d\n", n)
	os.Exit(0)
}

// An event acknowledged with a journal survives the process's death
// before it reached the store, and is in the store exactly once after the
// next start: also when the process died after moving it, before it
// emptied the journal.
func TestJournalSurvivesCrash(t *testing.T) {
	for _, stuck := range []string{"before", "after"} {
		t.Run("stuck="+stuck, func(t *testing.T) {
			dir := t.TempDir()
			key := seal.GenerateKey()
			const n = 20
			cmd := exec.Command(os.Args[0], "-test.run=^TestJournalChild$", "-test.v")
			cmd.Env = append(os.Environ(), "QG_AUDIT_JOURNAL_CHILD="+dir, "QG_AUDIT_JOURNAL_KEY="+key.Encode(),
				"QG_AUDIT_JOURNAL_N="+strconv.Itoa(n), "QG_AUDIT_JOURNAL_STUCK="+stuck)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("acknowledged %d", n)) {
				t.Fatalf("child: %v\n%s", err, out)
			}
			st := openStore(t, dir)
			l := audit.New(audit.Options{Store: st, Key: key, Journal: filepath.Join(dir, audit.JournalFile)})
			defer l.Close()
			rep, err := l.Verify(t.Context())
			if err != nil || rep.Events != n || len(rep.Problems) != 0 {
				t.Fatalf("after the crash, Verify = %+v %v, want the %d acknowledged events, once each", rep, err, n)
			}
			events, err := l.List(t.Context(), store.AuditFilter{Ascending: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range events {
				if e.RequestID != fmt.Sprintf("r%d", i) {
					t.Fatalf("event %d is %q, want r%d in order", i, e.RequestID, i)
				}
			}
			// A third start finds nothing more to move.
			l.Close()
			l2 := audit.New(audit.Options{Store: st, Key: key, Journal: filepath.Join(dir, audit.JournalFile)})
			defer l2.Close()
			if rep, err := l2.Verify(t.Context()); err != nil || rep.Events != n {
				t.Fatalf("third start: Verify = %+v %v", rep, err)
			}
		})
	}
}

// A record cut short by a crash, or written or altered without the audit
// key, ends the replay: what comes before it is moved, and it is not.
func TestJournalTornOrForgedTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage changes the journal; last is where its last record
		// starts, end where it ends.
		damage func(data []byte, last, end int) []byte
	}{
		{"torn", func(d []byte, last, end int) []byte { return d[:end-10] }},
		{"altered", func(d []byte, last, end int) []byte { d[last+6] ^= 1; return d }},
		{"forged", func(d []byte, last, end int) []byte {
			// A copy of the last record: its MAC does not match its new place.
			return append(d[:end:end], d[last:end]...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key := seal.GenerateKey()
			cmd := exec.Command(os.Args[0], "-test.run=^TestJournalChild$")
			cmd.Env = append(os.Environ(), "QG_AUDIT_JOURNAL_CHILD="+dir, "QG_AUDIT_JOURNAL_KEY="+key.Encode(),
				"QG_AUDIT_JOURNAL_N=3", "QG_AUDIT_JOURNAL_STUCK=before")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			path := filepath.Join(dir, audit.JournalFile)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			last, end := lastRecord(data)
			data = tc.damage(data, last, end)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			st := openStore(t, dir)
			l := audit.New(audit.Options{Store: st, Key: key, Journal: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			defer l.Close()
			want := int64(3)
			if tc.name != "forged" {
				want = 2
			}
			rep, err := l.Verify(t.Context())
			if err != nil || rep.Events != want || len(rep.Problems) != 0 {
				t.Fatalf("Verify = %+v %v, want %d events", rep, err, want)
			}
			if !strings.Contains(logs.String(), "not a whole authentic record") {
				t.Fatalf("the dropped tail was not logged: %s", logs.String())
			}
		})
	}
}

// A second log on the same journal (another gateway on the same data
// directory) cannot take it, and writes to the store directly; both
// chain into one trail.
func TestJournalKeptByOneProcess(t *testing.T) {
	dir, st := journalDir(t)
	key := seal.GenerateKey()
	path := filepath.Join(dir, audit.JournalFile)
	a := audit.New(audit.Options{Store: st, Key: key, Journal: path})
	defer a.Close()
	var logs bytes.Buffer
	b := audit.New(audit.Options{Store: st, Key: key, Journal: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer b.Close()
	if !strings.Contains(logs.String(), "kept by another process") {
		t.Fatalf("the second log did not say it writes directly: %s", logs.String())
	}
	for range 5 {
		record(t, a, 1)
		record(t, b, 1)
	}
	rep, err := a.Verify(t.Context())
	if err != nil || rep.Events != 10 || len(rep.Problems) != 0 {
		t.Fatalf("Verify = %+v %v", rep, err)
	}
}

// lastRecord returns where the journal's last record starts and ends:
// after the header (8 bytes of magic, 16 of generation), each record is
// a 4-byte length, the content and a 32-byte MAC.
func lastRecord(data []byte) (last, end int) {
	off := 24
	for off+4 <= len(data) {
		n := int(data[off])<<24 | int(data[off+1])<<16 | int(data[off+2])<<8 | int(data[off+3])
		if n == 0 {
			break
		}
		last, off = off, off+4+n+32
	}
	return last, off
}

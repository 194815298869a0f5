package audit_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// failingUpdates is a store whose write transactions all fail (a full
// disk, a locked database) once the journal's generation is recorded
// (the first); reads work.
type failingUpdates struct {
	store.Store
	writes atomic.Int64
}

func (f *failingUpdates) Update(ctx context.Context, fn func(store.Tx) error) error {
	if f.writes.Add(1) == 1 {
		return f.Store.Update(ctx, fn)
	}
	return errors.New("store is failing")
}

// Close returns when the store fails every move (the mover's retry loop
// notices the stop): the events stay in the journal for the next start.
func TestJournalCloseWithFailingStore(t *testing.T) {
	dir, st := journalDir(t)
	l := audit.New(audit.Options{Store: &failingUpdates{Store: st}, Key: seal.GenerateKey(), Journal: filepath.Join(dir, audit.JournalFile)})
	record(t, l, 1)
	time.Sleep(200 * time.Millisecond) // the mover has tried, failed, and is retrying
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return in 5 s with a store that fails every move (mover retries forever, never sees stop)")
	}
}

// A read after Close, with the events still only in the journal (the
// store failed the moves), returns them or an error, never a trail that
// quietly lacks acknowledged events.
func TestJournalReadAfterCloseSeesEventsOrFails(t *testing.T) {
	dir, st := journalDir(t)
	fs := &switchable{Store: st}
	l := audit.New(audit.Options{Store: fs, Key: seal.GenerateKey(), Journal: filepath.Join(dir, audit.JournalFile)})
	fs.fail.Store(true)
	record(t, l, 3)
	l.Close() // at once: the mover stops after one failed move

	events, err := l.List(t.Context(), store.AuditFilter{})
	if err == nil && len(events) != 3 {
		t.Fatalf("List after Close = %d events, nil error; want the 3 acknowledged events or an error", len(events))
	}
}

// An older copy of the journal, put back by someone without the key
// (a backup, or a copy saved before the gateway moved and emptied it),
// does not put its events into the chain a second time: the store takes
// only the generation it recorded last.
func TestJournalOldCopyNotReplayed(t *testing.T) {
	dir := t.TempDir()
	key := seal.GenerateKey()
	path := filepath.Join(dir, audit.JournalFile)
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalChild$")
	cmd.Env = append(os.Environ(), "QG_AUDIT_JOURNAL_CHILD="+dir, "QG_AUDIT_JOURNAL_KEY="+key.Encode(),
		"QG_AUDIT_JOURNAL_N=3", "QG_AUDIT_JOURNAL_STUCK=before")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	old, err := os.ReadFile(path) // the attacker's copy: 3 acknowledged records
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, dir)
	// The next start moves the 3 events; another start records one more
	// (a new generation), and stops.
	l := audit.New(audit.Options{Store: st, Key: key, Journal: path})
	l.Close()
	l = audit.New(audit.Options{Store: st, Key: key, Journal: path})
	record(t, l, 1)
	l.Close()
	// The attacker puts the old journal back.
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	l = audit.New(audit.Options{Store: st, Key: key, Journal: path})
	defer l.Close()
	rep, err := l.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 4 {
		t.Fatalf("after an old journal was put back the trail has %d events, want 4 (the 3 old ones were chained again)", rep.Events)
	}
}

// A symbolic or hard link at audit.journal (put there by whoever can
// write the data directory) does not make the gateway truncate the file
// it points at: the journal is not opened through it.
func TestJournalSymlinkNotFollowed(t *testing.T) {
	for _, link := range []struct {
		name string
		fn   func(string, string) error
	}{{"symlink", os.Symlink}, {"hardlink", os.Link}} {
		t.Run(link.name, func(t *testing.T) {
			dir, st := journalDir(t)
			victim := filepath.Join(dir, "precious")
			if err := os.WriteFile(victim, []byte("precious data, not a journal"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, audit.JournalFile)
			if err := link.fn(victim, path); err != nil {
				t.Fatal(err)
			}
			l := audit.New(audit.Options{Store: st, Key: seal.GenerateKey(), Journal: path})
			record(t, l, 1)
			l.Close()
			got, err := os.ReadFile(victim)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "precious data, not a journal" {
				t.Fatalf("the file behind a %s at audit.journal was overwritten (%d bytes now)", link.name, len(got))
			}
		})
	}
}

// switchable fails write transactions while fail is set.
type switchable struct {
	store.Store
	fail atomic.Bool
}

func (s *switchable) Update(ctx context.Context, fn func(store.Tx) error) error {
	if s.fail.Load() {
		return errors.New("store is failing")
	}
	return s.Store.Update(ctx, fn)
}

// A journal that ends before the store's mark in the same generation
// (its moved records cut off or zeroed by someone without the key, or an
// older copy of the data directory's files put back) is emptied under a
// new generation and logged, so the next acknowledged events do not look
// already moved and are chained.
func TestJournalShorterThanMark(t *testing.T) {
	dir := t.TempDir()
	key := seal.GenerateKey()
	path := filepath.Join(dir, audit.JournalFile)
	// A gateway that moved its 3 events (the mark covers them) and died
	// before emptying its journal.
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalChild$")
	cmd.Env = append(os.Environ(), "QG_AUDIT_JOURNAL_CHILD="+dir, "QG_AUDIT_JOURNAL_KEY="+key.Encode(),
		"QG_AUDIT_JOURNAL_N=3", "QG_AUDIT_JOURNAL_STUCK=after")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// The moved records are zeroed: "harmless", they are in the store.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[24:])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, dir)
	l := audit.New(audit.Options{Store: st, Key: key, Journal: path})
	defer l.Close()
	record(t, l, 2) // acknowledged
	rep, err := l.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 5 {
		t.Fatalf("the trail has %d events, want 5: the 2 acknowledged after the restart were skipped as already moved", rep.Events)
	}
}

// The journal is emptied when the log stops, also when the last move
// came before Close (the usual case: moves every 50 ms).
func TestJournalEmptiedAtClose(t *testing.T) {
	dir, st := journalDir(t)
	path := filepath.Join(dir, audit.JournalFile)
	l := audit.New(audit.Options{Store: st, Key: seal.GenerateKey(), Journal: path})
	record(t, l, 3)
	if _, err := l.List(t.Context(), store.AuditFilter{Limit: 1}); err != nil { // moved now
		t.Fatal(err)
	}
	l.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bytes.Trim(data[24:], "\x00")); n != 0 {
		t.Fatalf("after Close the journal still holds %d bytes of records", n)
	}
}

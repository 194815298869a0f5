package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
)

func newLog(t *testing.T) (*audit.Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "q.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := audit.New(audit.Options{Store: st, Key: seal.GenerateKey()})
	t.Cleanup(l.Close)
	return l, path
}

// raw opens the store file behind the application's back, as an attacker
// with write access to the file would, without the append-only triggers.
func raw(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append([]string{"DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete"}, stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func record(t *testing.T, l *audit.Log, n int) {
	t.Helper()
	for i := range n {
		if err := l.Record(t.Context(), audit.Event{ActorID: "u1", Action: audit.Query, DatasourceID: "ds1",
			Details: map[string]any{"rows": i}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChainVerifies(t *testing.T) {
	l, _ := newLog(t)
	record(t, l, 5)
	rep, err := l.Verify(t.Context())
	if err != nil || rep.Events != 5 || rep.Last != 5 || len(rep.Problems) != 0 {
		t.Fatalf("Verify = %+v %v, want 5 events and no problem", rep, err)
	}
	var buf bytes.Buffer
	if n, err := l.Export(t.Context(), &buf, store.AuditFilter{}); err != nil || n != 5 {
		t.Fatalf("Export = %d %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first struct {
		Seq     int64
		Action  string
		Details map[string]any
	}
	if len(lines) != 5 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Seq != 1 || first.Action != "query" || first.Details["rows"] != float64(0) {
		t.Fatalf("export: %q", buf.String())
	}
	page, err := l.List(t.Context(), store.AuditFilter{Limit: 2})
	if err != nil || len(page) != 2 || page[0].Seq != 5 {
		t.Fatalf("List newest first: %v %v", page, err)
	}
}

func TestAppendOnly(t *testing.T) {
	l, path := newLog(t)
	record(t, l, 1)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE audit_events SET outcome = 'x'"); err == nil {
		t.Fatal("an audit event was updated")
	}
	if _, err := db.Exec("DELETE FROM audit_events"); err == nil {
		t.Fatal("an audit event was deleted")
	}
}

func TestTamperingIsFound(t *testing.T) {
	for _, tc := range []struct {
		name, stmt string
		seq        int64
	}{
		{"edited outcome", "UPDATE audit_events SET outcome = 'forbidden' WHERE seq = 3", 3},
		{"edited details", `UPDATE audit_events SET details = '{"rows":99}' WHERE seq = 2`, 2},
		{"deleted row", "DELETE FROM audit_events WHERE seq = 3", 4},
		{"renumbered", "UPDATE audit_events SET seq = 10 WHERE seq = 5", 10},
		{"hash copied", "UPDATE audit_events SET hash = (SELECT hash FROM audit_events WHERE seq = 1) WHERE seq = 2", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, path := newLog(t)
			record(t, l, 5)
			raw(t, path, tc.stmt)
			rep, err := l.Verify(t.Context())
			if err != nil || len(rep.Problems) == 0 || rep.Problems[0].Seq != tc.seq {
				t.Fatalf("Verify = %v %v, want a problem at %d", rep.Problems, err, tc.seq)
			}
		})
	}
	// A chain made under another key does not verify.
	l, path := newLog(t)
	record(t, l, 2)
	st, err := sqlite.Open(t.Context(), path+"2")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other := audit.New(audit.Options{Store: st, Key: seal.GenerateKey()})
	record(t, other, 2)
	rep, _ := audit.New(audit.Options{Store: st, Key: seal.GenerateKey()}).Verify(t.Context())
	if len(rep.Problems) != 2 {
		t.Fatalf("another key: %v", rep.Problems)
	}
}

func TestConcurrentRecordsChain(t *testing.T) {
	l, _ := newLog(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := l.Record(t.Context(), audit.Event{Action: audit.Query}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rep, err := l.Verify(t.Context())
	if err != nil || rep.Events != 50 || len(rep.Problems) != 0 {
		t.Fatalf("Verify = %+v %v, want 50 chained events", rep, err)
	}
	l.Close()
	if err := l.Record(t.Context(), audit.Event{Action: audit.Query}); err == nil {
		t.Fatal("Record after Close succeeded")
	}
}

// countingStore counts write transactions.
type countingStore struct {
	store.Store
	updates atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	c.updates.Add(1)
	return c.Store.Update(ctx, fn)
}

// Concurrent events share transactions (group commit), each Record
// returning once its own event is written; the chain and the head record
// stay consistent with every batch.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := &countingStore{Store: st}
	head := filepath.Join(dir, audit.HeadFile)
	l := audit.New(audit.Options{Store: cs, Key: seal.GenerateKey(), Head: head})
	const n = 400
	var wg sync.WaitGroup
	seqs := make(chan int64, n)
	for range n {
		wg.Go(func() {
			if err := l.Record(t.Context(), audit.Event{Action: audit.Query}); err != nil {
				t.Error(err)
			}
			// Once Record returns, the event is in the store.
			evs, err := l.List(t.Context(), store.AuditFilter{Limit: 1})
			if err != nil || len(evs) == 0 {
				t.Errorf("no event after Record: %v", err)
				return
			}
			seqs <- evs[0].Seq
		})
	}
	wg.Wait()
	l.Close()
	if u := cs.updates.Load(); u >= n {
		t.Fatalf("%d transactions for %d concurrent events: no group commit", u, n)
	} else {
		t.Logf("%d events in %d transactions", n, u)
	}
	rep, err := l.Verify(t.Context(), head)
	if err != nil || rep.Events != n || rep.Last != n || len(rep.Problems) != 0 {
		t.Fatalf("Verify = %+v %v", rep, err)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), fmt.Sprintf("event %d is present and matches", n)) {
		t.Fatalf("the head record does not name the last event: %v", rep.Notes)
	}
}

// gatedStore holds every Update until gate is closed.
type gatedStore struct {
	store.Store
	gate chan struct{}
}

func (g *gatedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	<-g.gate
	return g.Store.Update(ctx, fn)
}

// By default Record returns only once its event is committed; with
// Queued (--audit-ack queued) it returns once the event is queued, and the
// event is committed later, chained like any other.
func TestQueuedAck(t *testing.T) {
	for _, queued := range []bool{false, true} {
		t.Run(fmt.Sprintf("queued=%v", queued), func(t *testing.T) {
			dir := t.TempDir()
			st, err := sqlite.Open(t.Context(), filepath.Join(dir, "q.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			g := &gatedStore{Store: st, gate: make(chan struct{})}
			head := filepath.Join(dir, audit.HeadFile)
			l := audit.New(audit.Options{Store: g, Key: seal.GenerateKey(), Head: head, Queued: queued})
			returned := make(chan error, 1)
			go func() { returned <- l.Record(t.Context(), audit.Event{Action: audit.Query}) }()
			select {
			case err := <-returned:
				if !queued {
					t.Fatalf("Record returned (%v) before its event was committed", err)
				}
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(300 * time.Millisecond):
				if queued {
					t.Fatal("Record waited for the commit with Queued")
				}
			}
			close(g.gate)
			if !queued {
				if err := <-returned; err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			rep, err := l.Verify(t.Context(), head)
			if err != nil || rep.Events != 1 || len(rep.Problems) != 0 {
				t.Fatalf("Verify = %+v %v", rep, err)
			}
		})
	}
}

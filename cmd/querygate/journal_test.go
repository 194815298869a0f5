package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/testenv"
)

// stuckUpdates never starts a write transaction: the mover never moves.
type stuckUpdates struct{ store.Store }

func (stuckUpdates) Update(context.Context, func(store.Tx) error) error { select {} }

// TestJournalCrashChild is a gateway that dies (os.Exit, nothing
// closed) after one audit event was acknowledged through the journal and
// before it was moved into the store. Run by TestStoreCopyAfterCrash.
func TestJournalCrashChild(t *testing.T) {
	dir := os.Getenv("QG_JOURNAL_CRASH_CHILD")
	if dir == "" {
		t.Skip("run by TestStoreCopyAfterCrash")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "querygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := instance.Open(ctx, db, instance.Options{KeyFile: filepath.Join(dir, "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(audit.Options{Store: stuckUpdates{db}, Key: inst.AuditKey, Journal: filepath.Join(dir, audit.JournalFile)})
	if err := l.Record(ctx, audit.Event{ActorName: "cli", Action: audit.Query, RequestID: "acked-before-crash"}); err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}

// After a crash left an acknowledged event in the journal, `store copy`
// from the data directory's SQLite file refuses, naming the command that
// moves the journal (store copy opens no audit log, and a gateway on a
// PostgreSQL copy keeps no journal: copied as it was, the trail would lose
// the event); after that command the copy holds the event.
func TestStoreCopyAfterCrash(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	g.MustSetup(nil)
	g.m.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalCrashChild$")
	cmd.Env = append(os.Environ(), "QG_JOURNAL_CRASH_CHILD="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	target := testenv.PostgresDatabase(t, "qg_review_copy")
	// A command on another store from this data directory warns that
	// the journal holds events of the embedded store.
	other := testenv.PostgresDatabase(t, "qg_review_other")
	if out := MustRun(t, dir, map[string]string{"QUERYGATE_DATABASE_URL": other.String()}, "audit", "export"); !strings.Contains(out.logs.String(), "holds an audit journal") {
		t.Fatalf("no warning about the journal left in the data directory:\n%s", out.logs.String())
	}
	_, err := run(t, dir, nil, nil, "store", "copy", "--from", "sqlite:"+dir+"/querygate.db", "--to", target.String())
	if err == nil || !strings.Contains(err.Error(), "audit verify --data-dir") {
		t.Fatalf("store copy with unmoved journal events = %v, want a refusal naming audit verify", err)
	}
	MustRun(t, dir, nil, "audit", "verify")
	MustRun(t, dir, nil, "store", "copy", "--from", "sqlite:"+dir+"/querygate.db", "--to", target.String())
	env := map[string]string{"QUERYGATE_DATABASE_URL": target.String()}
	out := MustRun(t, dir, env, "audit", "export")
	if !strings.Contains(out.logs.String(), "acked-before-crash") {
		t.Fatalf("the event acknowledged before the crash is not in the trail of the copy:\n%s", out.logs.String())
	}
}

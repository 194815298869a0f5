package audit

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// noClaim records nothing (these tests have no store).
func noClaim(string) error { return nil }

// testJournal opens a new journal without a store.
func testJournal(t *testing.T) (*journal, string, seal.Key) {
	t.Helper()
	path := filepath.Join(t.TempDir(), JournalFile)
	key := seal.GenerateKey()
	j, _, _, err := openJournal(path, key, noClaim)
	if err != nil {
		t.Fatal(err)
	}
	return j, path, key
}

func testEvent(id string) *store.AuditEvent {
	return &store.AuditEvent{At: time.UnixMilli(1e12).UTC(), ActorID: "u1", Action: "query", RequestID: id}
}

// replayedIDs closes j, opens its file again as the next process would
// and returns the request ids of the records it would move.
func replayedIDs(t *testing.T, j *journal, path string, key seal.Key) []string {
	t.Helper()
	j.close()
	j, recs, _, err := openJournal(path, key, noClaim)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.e.RequestID)
	}
	return ids
}

// The records of an append whose fdatasync failed were not acknowledged:
// none of them is replayed, also when the next append is shorter and
// leaves them behind its own (their MAC names their unchanged offset, so
// they would be authentic: the next append zeroes them).
func TestJournalFailedSyncLeavesNoRecords(t *testing.T) {
	j, path, key := testJournal(t)
	fdatasync = func(int) error { return syscall.EIO }
	_, _, err := j.append([]*store.AuditEvent{testEvent("failed-1"), testEvent("failed-2")})
	fdatasync = syscall.Fdatasync
	if err == nil {
		t.Fatal("append succeeded with a failing fdatasync")
	}
	if _, _, err := j.append([]*store.AuditEvent{testEvent("acked-01")}); err != nil {
		t.Fatal(err)
	}
	if ids := replayedIDs(t, j, path, key); len(ids) != 1 || ids[0] != "acked-01" {
		t.Fatalf("replayed %v, want only [acked-01]: a record of the batch whose sync failed is chained", ids)
	}
}

// A reset that fails part-way (its truncation, here: the descriptor is
// swapped for a read-only one, standing for an I/O error) is done again
// by the next append, so the records it acknowledges are authentic under
// the file's header and replayed after a crash.
func TestJournalFailedResetKeepsNextRecords(t *testing.T) {
	j, path, key := testJournal(t)
	gen, ends, err := j.append([]*store.AuditEvent{testEvent("moved")})
	if err != nil {
		t.Fatal(err)
	}
	rw := j.f
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	j.f = ro
	if err := j.emptyIf(gen, ends[0], true); err == nil {
		t.Fatal("reset succeeded on a read-only descriptor")
	}
	j.f = rw
	ro.Close()
	if _, _, err := j.append([]*store.AuditEvent{testEvent("acked")}); err != nil {
		t.Fatal(err) // refusing it would be fine too; acknowledging it must keep it
	}
	if ids := replayedIDs(t, j, path, key); len(ids) == 0 || ids[len(ids)-1] != "acked" {
		t.Fatalf("after reopening, the journal replays %v: the acknowledged record is lost", ids)
	}
}

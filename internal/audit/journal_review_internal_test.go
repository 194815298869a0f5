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

// When an append's fdatasync fails, its records are not acknowledged and
// the journal stays at its end, so the next append writes over them. If
// the next append is shorter, the failed batch's later records are left
// behind it, whole and authentic (their MAC names their offset, which did
// not change), and the next start chains them: events whose Record
// returned an error.
func TestReviewJournalFailedSyncLeavesRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), JournalFile)
	key := seal.GenerateKey()
	j, _, _, err := openJournal(path, key, noClaim)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id string) *store.AuditEvent {
		return &store.AuditEvent{At: time.UnixMilli(1e12).UTC(), ActorID: "u1", Action: "query", RequestID: id}
	}
	fdatasync = func(int) error { return syscall.EIO }
	_, _, err = j.append([]*store.AuditEvent{ev("failed-1"), ev("failed-2")})
	fdatasync = syscall.Fdatasync
	if err == nil {
		t.Fatal("append succeeded with a failing fdatasync")
	}
	if _, _, err := j.append([]*store.AuditEvent{ev("acked-01")}); err != nil {
		t.Fatal(err)
	}
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
	if len(ids) != 1 || ids[0] != "acked-01" {
		t.Fatalf("replayed %v, want only [acked-01]: a record of the batch whose sync failed is chained", ids)
	}
}

// A reset that fails part-way (here its truncation: the descriptor is
// swapped for a read-only one, standing for an I/O error) has already
// taken a new generation; the next append then writes records MACed
// under it after the old header and old records, and acknowledges them.
// After a crash the journal is read under its header's generation: those
// acknowledged records are not authentic there and are dropped.
func TestReviewJournalFailedResetLosesNextRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), JournalFile)
	key := seal.GenerateKey()
	j, _, _, err := openJournal(path, key, noClaim)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id string) *store.AuditEvent {
		return &store.AuditEvent{At: time.UnixMilli(1e12).UTC(), ActorID: "u1", Action: "query", RequestID: id}
	}
	gen, ends, err := j.append([]*store.AuditEvent{ev("moved")})
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
	if _, _, err := j.append([]*store.AuditEvent{ev("acked")}); err != nil {
		t.Fatal(err) // refusing it would be fine too; acknowledging it must keep it
	}
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
	if len(ids) == 0 || ids[len(ids)-1] != "acked" {
		t.Fatalf("after reopening, the journal replays %v: the acknowledged record is lost", ids)
	}
}

// noClaim records nothing (these tests have no store).
func noClaim(string) error { return nil }

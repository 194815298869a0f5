package audit

import (
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
	j, _, _, err := openJournal(path, key)
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
	j, recs, _, err := openJournal(path, key)
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

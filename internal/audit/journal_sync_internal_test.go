package audit

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// With JournalNoSync (--store-sync normal) an acknowledged event is
// written to the journal, not synced; by default every append is synced
// before Record returns.
func TestJournalNoSync(t *testing.T) {
	var syncs atomic.Int64
	was := fdatasync
	fdatasync = func(fd int) error { syncs.Add(1); return was(fd) }
	t.Cleanup(func() { fdatasync = was })
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		st, err := sqlite.Open(t.Context(), filepath.Join(dir, "q.db"))
		if err != nil {
			t.Fatal(err)
		}
		l := New(Options{Store: st, Key: seal.GenerateKey(), Journal: filepath.Join(dir, JournalFile), JournalNoSync: noSync})
		before := syncs.Load()
		for range 3 {
			if err := l.Record(context.Background(), Event{Action: Query}); err != nil {
				t.Fatal(err)
			}
		}
		n := syncs.Load() - before
		l.Close()
		st.Close()
		if noSync && n != 0 || !noSync && n < 3 {
			t.Fatalf("noSync=%v: %d syncs for 3 acknowledged events", noSync, n)
		}
	}
}

package sqlite

import (
	"path/filepath"
	"testing"
)

// TestSync: full sync by default (every commit waits for the disk);
// normal only when asked; anything else refused.
func TestSync(t *testing.T) {
	for _, tc := range []struct {
		sync Sync
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{"", 2}, {SyncFull, 2}, {SyncNormal, 1}} {
		db, err := OpenWith(t.Context(), filepath.Join(t.TempDir(), "q.db"), Options{Sync: tc.sync})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := db.w.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if got != tc.want {
			t.Errorf("sync %q: synchronous = %d, want %d", tc.sync, got, tc.want)
		}
	}
	if _, err := OpenWith(t.Context(), filepath.Join(t.TempDir(), "q.db"), Options{Sync: "off"}); err == nil {
		t.Error("sync off: opened")
	}
}

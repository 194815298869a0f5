package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"
)

// TestWALIndexMark: a header is used only when its two copies are equal,
// it is initialised, of the known version and its checksum is right.
func TestWALIndexMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a b?c%d.db") // named as the pools name it
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.wal == nil {
		t.Fatal("no WAL index")
	}
	real, ok := db.wal.Mark()
	if !ok {
		t.Fatal("the header of an open store is not usable")
	}
	hdr := new([2 * walHdrWords]uint32) // on the heap: it does not move
	copy(hdr[:], real[:])
	copy(hdr[walHdrWords:], real[:])
	w := &walIndex{}
	w.hdr.Store(uintptr(unsafe.Pointer(hdr)))
	if m, ok := w.Mark(); !ok || m != real {
		t.Fatalf("a copy of the header: %v %v, want %v", m, ok, real)
	}
	bytes := (*[8 * walHdrWords]byte)(unsafe.Pointer(hdr))
	for _, tc := range []struct {
		name  string
		spoil func()
	}{
		{"copies differ", func() { hdr[walHdrWords+2]++ }},
		{"not initialised", func() { bytes[12], bytes[48+12] = 0, 0 }},
		{"unknown version", func() { hdr[0]++; hdr[walHdrWords]++ }},
		{"wrong checksum", func() { hdr[10]++; hdr[walHdrWords+10]++ }},
		{"changed without its checksum", func() { hdr[4]++; hdr[walHdrWords+4]++ }},
	} {
		copy(hdr[:], real[:])
		copy(hdr[walHdrWords:], real[:])
		tc.spoil()
		if _, ok := w.Mark(); ok {
			t.Errorf("%s: the header is used", tc.name)
		}
	}
	copy(hdr[:], real[:])
	copy(hdr[walHdrWords:], real[:])
	if _, ok := w.Mark(); !ok {
		t.Error("the header restored is not used")
	}
	w.hdr.Store(0)
	if _, ok := w.Mark(); ok {
		t.Error("closed: the header is used")
	}
	runtime.KeepAlive(hdr)
}

// TestWALIndexNotWAL: a database not in WAL mode has no WAL index to
// read (the store then queries every time).
func TestWALIndexNotWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(DELETE)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), `CREATE TABLE changes (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if w, err := openWALIndex(path); err == nil {
		w.Close()
		t.Fatal("a WAL index was opened on a database in rollback-journal mode")
	}
	if _, err := os.Stat(path + "-shm"); !os.IsNotExist(err) {
		t.Fatalf("a -shm file was created: %v", err)
	}
}

//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// TestWALIndexFault: a read of a mapping whose file was truncated
// beneath it (SIGBUS) reports no header instead of ending the process.
func TestWALIndexFault(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "shm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, os.Getpagesize(), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer syscall.Munmap(b)
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	w := &walIndex{}
	w.hdr.Store(uintptr(unsafe.Pointer(&b[0])))
	if _, ok := w.Mark(); ok {
		t.Fatal("a header was read from a truncated file")
	}
}

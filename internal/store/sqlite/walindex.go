package sqlite

import (
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"github.com/querygate/querygate/internal/store/sqlstore"
	"modernc.org/libc"
	sqlite3lib "modernc.org/sqlite/lib"
)

// walIndex reads the header of the database's WAL index (the start of
// the -shm file), so that ChangeSeq can tell without a query, and without
// a system call, that no transaction has been committed since its last
// reading. The format is SQLite's (https://www.sqlite.org/walformat.html,
// "The WAL-Index Header"): two copies of a 48-byte header, in native byte
// order. A writer that commits updates the header in place (iChange
// counts write transactions, mxFrame is the last valid frame, the salts
// change when the log restarts, a checksum covers the rest) and writes
// copy 2, a memory barrier, then copy 1 (src/wal.c walIndexWriteHdr); a
// commit is visible to a reader only once both copies are written, since
// a reader takes its snapshot from the header: it reads copy 1, a
// barrier, copy 2, and uses the header only when the two are equal
// (walIndexTryHdr). The header is thus a version of the whole database:
// a reader that finds the same header as before sees the same
// transactions as before.
//
// Why it is safe:
//   - The memory read is SQLite's own mapping of the -shm file in this
//     process (a VFS maps each region once per file and process and every
//     connection uses that mapping), obtained from the VFS's xShmMap
//     through a connection of our own that we keep open. So the header
//     read here is the very header this process's SQL reads would start
//     from, whatever happens to the file; and no file descriptor of the
//     -shm file is opened or closed here (closing one would drop every
//     POSIX lock this process holds on the file, SQLite's included).
//   - While that connection is open, the mapping stays (the VFS unmaps a
//     file's regions when its last connection in the process closes it),
//     and the connection keeps its shared lock on the database file and
//     on the -shm file's DMS byte (held by WAL-mode connections between
//     transactions too): no other process can truncate the -shm file
//     (SQLite does so only under an exclusive DMS lock, when it is the
//     first to open the database) or delete it (only the last connection
//     to close does, under an exclusive lock on the database file).
//   - Each word is read with an atomic load, copy 1 before copy 2, and a
//     header is used only when both copies are equal, it is initialised
//     and its checksum is right, as SQLite's readers do.
//   - The mark is read before the query whose number it is kept with, so
//     the number is at least as new as the mark; a later call reuses the
//     number only while the header is exactly the mark, that is while no
//     transaction has committed (a header that changes and comes back
//     would need iChange, which every commit raises, to wrap around
//     2^32 together with the same log position, salts and checksum).
//   - A fault while reading (were the file truncated by something other
//     than SQLite) becomes a panic that is recovered, and the probe then
//     reports nothing: ChangeSeq falls back to the query.
type walIndex struct {
	tls *libc.TLS
	db  uintptr // the connection that keeps the mapping
	// The address of the header: memory of the mapping, outside the Go
	// heap, so kept as a number (no pointer to it outlives a Mark, and the
	// collector never meets one after the mapping is gone); 0 once closed.
	hdr atomic.Uintptr
}

const (
	walHdrWords   = 12      // 48 bytes
	walVersion    = 3007000 // WALINDEX_MAX_VERSION, the header's iVersion
	walRegionSize = 32768   // the size SQLite maps the -shm file's regions with
)

// openWALIndex opens a connection of its own to the database at path
// (in WAL mode, already opened by the store), starts and ends a read so
// that it opens the log and the WAL index, and asks its VFS for the WAL
// index's first region.
func openWALIndex(path string) (_ *walIndex, err error) {
	tls := libc.NewTLS()
	w := &walIndex{tls: tls}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	// The file is named as the store's pools name it.
	zPath, err := libc.CString("file:" + (&url.URL{Path: path}).EscapedPath())
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(tls, zPath)
	pp := tls.Alloc(8)
	defer tls.Free(8)
	*(*uintptr)(ptr(pp)) = 0
	rc := sqlite3lib.Xsqlite3_open_v2(tls, zPath, pp, sqlite3lib.SQLITE_OPEN_READWRITE|sqlite3lib.SQLITE_OPEN_URI|sqlite3lib.SQLITE_OPEN_NOMUTEX, 0)
	w.db = *(*uintptr)(ptr(pp))
	if rc != sqlite3lib.SQLITE_OK {
		return nil, fmt.Errorf("open: code %d", rc)
	}
	sqlite3lib.Xsqlite3_busy_timeout(tls, w.db, 15000)
	// A read in WAL mode (the store set it; it is kept in the file)
	// opens the log and maps the WAL index.
	if _, err := w.queryText("SELECT count(*) FROM sqlite_master"); err != nil {
		return nil, err
	}
	if mode, err := w.queryText("PRAGMA journal_mode"); err != nil {
		return nil, err
	} else if mode != "wal" {
		return nil, fmt.Errorf("journal mode %q", mode)
	}
	zMain, err := libc.CString("main")
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(tls, zMain)
	*(*uintptr)(ptr(pp)) = 0
	if rc := sqlite3lib.Xsqlite3_file_control(tls, w.db, zMain, sqlite3lib.SQLITE_FCNTL_FILE_POINTER, pp); rc != sqlite3lib.SQLITE_OK {
		return nil, fmt.Errorf("file pointer: code %d", rc)
	}
	file := *(*uintptr)(ptr(pp))
	if file == 0 {
		return nil, errors.New("no file")
	}
	methods := (*sqlite3lib.Tsqlite3_file)(ptr(file)).FpMethods
	if methods == 0 {
		return nil, errors.New("file not open")
	}
	m := (*sqlite3lib.Tsqlite3_io_methods)(ptr(methods))
	if m.FiVersion < 2 || m.FxShmMap == 0 {
		return nil, errors.New("no shared memory")
	}
	// xShmMap(file, region 0, 32 KiB, no extending, &p): the mapping of
	// the region the WAL opened (p is 0 when it is not mapped).
	*(*uintptr)(ptr(pp)) = 0
	shmMap := *(*func(*libc.TLS, uintptr, int32, int32, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{m.FxShmMap}))
	if rc := shmMap(tls, file, 0, walRegionSize, 0, pp); rc != sqlite3lib.SQLITE_OK {
		return nil, fmt.Errorf("map: code %d", rc)
	}
	// The region stays mapped while w.db is open.
	region := *(*uintptr)(ptr(pp))
	if region == 0 {
		return nil, errors.New("not mapped")
	}
	w.hdr.Store(region)
	if _, ok := w.Mark(); !ok {
		return nil, errors.New("no valid header")
	}
	return w, nil
}

// queryText runs a query of one text column on w.db and returns the
// first row's value: it is a read of the database.
func (w *walIndex) queryText(query string) (string, error) {
	zSQL, err := libc.CString(query)
	if err != nil {
		return "", err
	}
	defer libc.Xfree(w.tls, zSQL)
	pp := w.tls.Alloc(8)
	defer w.tls.Free(8)
	*(*uintptr)(ptr(pp)) = 0
	if rc := sqlite3lib.Xsqlite3_prepare_v2(w.tls, w.db, zSQL, -1, pp, 0); rc != sqlite3lib.SQLITE_OK {
		return "", fmt.Errorf("prepare: code %d", rc)
	}
	stmt := *(*uintptr)(ptr(pp))
	defer sqlite3lib.Xsqlite3_finalize(w.tls, stmt)
	if rc := sqlite3lib.Xsqlite3_step(w.tls, stmt); rc != sqlite3lib.SQLITE_ROW {
		return "", fmt.Errorf("step: code %d", rc)
	}
	return libc.GoString(sqlite3lib.Xsqlite3_column_text(w.tls, stmt, 0)), nil
}

// ptr is p as a pointer: memory of the transpiled SQLite (its own heap,
// or a mapping) that the Go collector does not manage.
func ptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// Mark returns the WAL index header, or false when it cannot be trusted
// (being written, not initialised, a wrong checksum, closed).
func (w *walIndex) Mark() (m sqlstore.Mark, ok bool) {
	if w == nil {
		return m, false
	}
	addr := w.hdr.Load()
	if addr == 0 {
		return m, false
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			m, ok = sqlstore.Mark{}, false
		}
	}()
	h := (*[2 * walHdrWords]uint32)(ptr(addr))
	for i := range walHdrWords {
		m[i] = atomic.LoadUint32(&h[i])
	}
	for i := range walHdrWords {
		if atomic.LoadUint32(&h[walHdrWords+i]) != m[i] {
			return sqlstore.Mark{}, false
		}
	}
	if m[0] != walVersion || (*[48]byte)(unsafe.Pointer(&m))[12] != 1 {
		return sqlstore.Mark{}, false // iVersion, isInit
	}
	// The checksum over the first 40 bytes, in native byte order
	// (walChecksumBytes).
	var s1, s2 uint32
	for i := 0; i < 10; i += 2 {
		s1 += m[i] + s2
		s2 += m[i+1] + s1
	}
	if s1 != m[10] || s2 != m[11] {
		return sqlstore.Mark{}, false
	}
	return m, true
}

// Close stops the reading and closes the connection (the mapping goes
// when the last connection of the process to the database closes).
func (w *walIndex) Close() error {
	if w == nil || w.tls == nil {
		return nil
	}
	w.hdr.Store(0)
	var err error
	if w.db != 0 {
		if rc := sqlite3lib.Xsqlite3_close_v2(w.tls, w.db); rc != sqlite3lib.SQLITE_OK {
			err = fmt.Errorf("sqlite: close WAL index connection: code %d", rc)
		}
		w.db = 0
	}
	w.tls.Close()
	w.tls = nil
	return err
}

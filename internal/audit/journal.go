package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// The journal is the audit log's write-ahead file for the embedded store
// (Options.Journal, <data dir>/audit.journal). A batch of events is made
// durable by one append and one fdatasync of this small file, and the
// request is answered then; a mover puts the journal's events into the
// store in larger transactions, off the requests' path, and the journal
// is emptied once everything in it is in the store. A SQLite transaction
// writes a page of the table and of each index to its log and syncs it;
// the journal writes a few hundred bytes: at one client that is most of
// what a small query's audit event cost on its path.
//
// Crash safety. The mover appends events and records how far it got
// (generation and offset, store.Tx.SetAuditJournalMark) in one store
// transaction, so that replaying the journal after a crash skips what is
// already in the store and appends the rest exactly once. A record
// carries an HMAC under the audit key over the journal's generation, its
// offset and its content: a record torn by a crash (never acknowledged,
// as the sync had not returned) ends the replay, and so does a record
// written or altered by anyone without the key, which can therefore not
// slip an event into the chain. Events get their sequence number and
// chain hash when they are moved, in the store's transaction, as before:
// other processes (the CLI's commands) may append to the same store
// between two moves.
//
// One process keeps the journal at a time (an flock on the file); a log
// that cannot take it (another gateway on the same data directory)
// writes to the store directly. Whoever opens the journal first moves
// what a crashed gateway left in it, so that `audit verify` or `audit
// export` after a crash see every acknowledged event.
type journal struct {
	f   *os.File
	key seal.Key

	mu   sync.Mutex
	gen  [16]byte
	end  int64 // offset just past the last record written
	room int64 // the file's allocated size (records are written below it)
	// dirty is how far an append that failed (its write or its sync) may
	// have written past end: the next append zeroes up to there, so that
	// none of those unacknowledged records is left whole after it.
	dirty int64
	// unreset: a reset failed part-way (the file's header and size are
	// unknown); append resets first. Everything in the file was moved.
	unreset bool
	// claim records a new generation in the store (its mark, with
	// nothing moved) before the journal takes it: the store then knows
	// the one generation whose records it may take, and an older journal
	// put back, or another instance's, is never replayed.
	claim func(gen string) error
	// noSync: appends are not synced (Options.JournalNoSync).
	noSync bool
}

// fdatasync is syscall.Fdatasync (a test makes it fail).
var fdatasync = syscall.Fdatasync

// JournalFile is the journal's name in the data directory.
const JournalFile = "audit.journal"

const (
	journalMagic  = "QGAJOUR1"
	journalHeader = len(journalMagic) + 16
	// journalChunk is how much room the file is given at a time, so
	// that an append does not change its size (fdatasync then has no
	// metadata to write).
	journalChunk = 1 << 20
	// maxJournalRecord bounds a record read back (an event is at most a
	// few kilobytes; a larger length is a torn or altered record).
	maxJournalRecord = 1 << 20
	journalMACSize   = 32
)

// errJournalLocked: another process keeps the journal.
var errJournalLocked = errors.New("audit: the journal is kept by another process")

// openJournal opens (creating) the journal at path and takes its lock.
// It returns the records a previous process left in it, for the caller to
// move, and the number of bytes it dropped after them (a torn or
// altered tail).
func openJournal(path string, key seal.Key, claim func(gen string) error) (*journal, []journalRecord, int64, error) {
	// Not through a symbolic link, and only a regular file with no other
	// name: a new journal is made by truncating the file, which must not
	// be another one (the store, say) that a link points at.
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("audit journal: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file: its name is durable once the directory is synced
		// (before any record in it is acknowledged).
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				f.Close()
				return nil, nil, 0, fmt.Errorf("audit journal: sync its directory: %w", err)
			}
		}
	}
	if fi, err := f.Stat(); err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("audit journal: %w", err)
	} else if st, ok := fi.Sys().(*syscall.Stat_t); !fi.Mode().IsRegular() || !ok || st.Nlink != 1 {
		f.Close()
		return nil, nil, 0, errors.New("audit journal: not a regular file with one name")
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, 0, errJournalLocked
		}
		return nil, nil, 0, fmt.Errorf("audit journal: lock: %w", err)
	}
	j := &journal{f: f, key: key, claim: claim}
	recs, dropped, err := j.read()
	if err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	return j, recs, dropped, nil
}

// journalRecord is one event read back from the journal, and the offset
// just past it.
type journalRecord struct {
	e   *store.AuditEvent
	end int64
}

// read reads the header and the records of an existing journal; an empty
// or short file gets a new generation.
func (j *journal) read() ([]journalRecord, int64, error) {
	st, err := j.f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("audit journal: %w", err)
	}
	j.room = st.Size()
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(io.NewSectionReader(j.f, 0, st.Size()), data); err != nil {
		return nil, 0, fmt.Errorf("audit journal: read: %w", err)
	}
	if len(data) < journalHeader || string(data[:len(journalMagic)]) != journalMagic {
		// New, or emptied and cut short by a crash before its new header
		// was synced: it holds nothing (a journal is only emptied once
		// everything in it is in the store).
		return nil, 0, j.reset()
	}
	copy(j.gen[:], data[len(journalMagic):journalHeader])
	off := int64(journalHeader)
	var recs []journalRecord
	for {
		e, n, ok := j.decode(data[off:], off)
		if !ok {
			break
		}
		off += n
		recs = append(recs, journalRecord{e: e, end: off})
	}
	j.end = off
	dropped := int64(len(bytes.TrimRight(data[off:], "\x00")))
	if dropped > 0 {
		// Clear the tail, so that the next appends are not followed by
		// what looks like more records.
		if _, err := j.f.WriteAt(make([]byte, dropped), off); err != nil {
			return nil, 0, fmt.Errorf("audit journal: %w", err)
		}
		if err := syscall.Fdatasync(int(j.f.Fd())); err != nil {
			return nil, 0, fmt.Errorf("audit journal: sync: %w", err)
		}
	}
	return recs, dropped, nil
}

// reset empties the journal under a new generation. When it fails, the
// next append tries again first.
func (j *journal) reset() error {
	j.unreset = true
	var gen [16]byte
	if _, err := rand.Read(gen[:]); err != nil {
		return err
	}
	// The store first: a crash after this commit and before the header
	// is synced leaves a journal of moved records under a generation the
	// store no longer takes, which is right.
	if err := j.claim(hex.EncodeToString(gen[:])); err != nil {
		return fmt.Errorf("audit journal: record its new generation: %w", err)
	}
	j.gen = gen
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	hdr := append([]byte(journalMagic), j.gen[:]...)
	if _, err := j.f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	j.room = int64(len(hdr))
	j.end = int64(len(hdr))
	j.dirty = 0
	if err := j.grow(journalChunk); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("audit journal: sync: %w", err)
	}
	j.unreset = false
	return nil
}

// grow gives the file room for n more bytes past its end.
func (j *journal) grow(n int64) error {
	size := j.room
	for size < j.end+n {
		size += journalChunk
	}
	if size == j.room {
		return nil
	}
	if err := syscall.Fallocate(int(j.f.Fd()), 0, 0, size); err != nil {
		// A file system without fallocate: appends then change the size.
		if !errors.Is(err, syscall.EOPNOTSUPP) {
			return fmt.Errorf("audit journal: allocate: %w", err)
		}
	}
	j.room = size
	return nil
}

// sync makes the appended records durable, unless noSync.
func (j *journal) sync() error {
	if j.noSync {
		return nil
	}
	return fdatasync(int(j.f.Fd()))
}

// generation names the journal's current generation in the store's mark.
func (j *journal) generation() string { return hex.EncodeToString(j.gen[:]) }

// append writes the events at the journal's end and syncs them: when it
// returns nil they survive a crash. It returns the generation they were
// written under and the offset just past each.
func (j *journal) append(events []*store.AuditEvent) (string, []int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.unreset {
		if err := j.reset(); err != nil {
			return "", nil, err
		}
	}
	var buf []byte
	ends := make([]int64, len(events))
	for i, e := range events {
		buf = j.encode(buf, e, j.end+int64(len(buf)))
		ends[i] = j.end + int64(len(buf))
	}
	w := buf
	if pad := j.dirty - j.end - int64(len(buf)); pad > 0 {
		w = append(buf[:len(buf):len(buf)], make([]byte, pad)...)
	}
	if err := j.grow(int64(len(w))); err != nil {
		return "", nil, err
	}
	if _, err := j.f.WriteAt(w, j.end); err != nil {
		j.dirty = max(j.dirty, j.end+int64(len(w)))
		return "", nil, fmt.Errorf("audit journal: write: %w", err)
	}
	if err := j.sync(); err != nil {
		// What was written may or may not be durable: the records are
		// not acknowledged, and a later append must not follow them
		// (the file is in an unknown state), so the journal stays at
		// its end and they are overwritten, and zeroed past the next
		// append's records (dirty).
		j.dirty = max(j.dirty, j.end+int64(len(w)))
		return "", nil, fmt.Errorf("audit journal: sync: %w", err)
	}
	j.end += int64(len(buf))
	j.dirty = 0
	return j.generation(), ends, nil
}

// journalKeep is how large the journal may grow before it is emptied:
// emptying it costs a truncation and a sync, so it is done once in a
// while, not after every move (the store's mark says what was moved).
const journalKeep = 4 << 20

// emptyIf empties the journal when everything written to it is in the
// store (gen and end are what the last move covered) and it is larger
// than journalKeep, or always with force; otherwise it keeps the records
// the next move takes.
func (j *journal) emptyIf(gen string, end int64, force bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if gen != j.generation() || end != j.end || (!force && j.end < journalKeep) {
		return nil
	}
	return j.reset()
}

// emptyAll empties the journal; the caller knows that every record in
// it is in the store and that no append comes any more.
func (j *journal) emptyAll() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.reset()
}

func (j *journal) close() error {
	return j.f.Close() // the lock goes with the descriptor
}

// encode appends one record: its length, its content and its MAC.
func (j *journal) encode(b []byte, e *store.AuditEvent, off int64) []byte {
	var content []byte
	field := func(s string) {
		content = binary.AppendUvarint(content, uint64(len(s)))
		content = append(content, s...)
	}
	field(strconv.FormatInt(e.At.UnixMilli(), 10))
	for _, s := range []string{e.ActorID, e.ActorName, e.Action, e.Target, e.DatasourceID, e.Outcome, e.Remote, e.RequestID, e.Details} {
		field(s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(content)))
	b = append(b, content...)
	return append(b, j.mac(off, content)...)
}

// decode reads the record at off (data starts there): the event and the
// record's length, or false when there is no whole, authentic record.
func (j *journal) decode(data []byte, off int64) (*store.AuditEvent, int64, bool) {
	if len(data) < 4 {
		return nil, 0, false
	}
	n := int64(binary.BigEndian.Uint32(data))
	if n == 0 || n > maxJournalRecord || int64(len(data)) < 4+n+journalMACSize {
		return nil, 0, false
	}
	content := data[4 : 4+n]
	if !hmac.Equal(data[4+n:4+n+journalMACSize], j.mac(off, content)) {
		return nil, 0, false
	}
	var fields []string
	for rest := content; len(rest) > 0; {
		l, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < l {
			return nil, 0, false
		}
		fields = append(fields, string(rest[k:k+int(l)]))
		rest = rest[k+int(l):]
	}
	if len(fields) != 10 {
		return nil, 0, false
	}
	ms, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return nil, 0, false
	}
	e := &store.AuditEvent{At: time.UnixMilli(ms).UTC(), ActorID: fields[1], ActorName: fields[2], Action: fields[3], Target: fields[4],
		DatasourceID: fields[5], Outcome: fields[6], Remote: fields[7], RequestID: fields[8], Details: fields[9]}
	return e, 4 + n + journalMACSize, true
}

// mac authenticates a record's content at its place in this generation.
func (j *journal) mac(off int64, content []byte) []byte {
	b := make([]byte, 0, 64+len(content))
	b = append(b, "querygate/audit-journal/v1"...)
	b = append(b, j.gen[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	b = append(b, content...)
	return seal.MAC(j.key, b)
}

// unmoved returns the records of recs the store does not hold yet,
// according to its mark, and why it takes none of them: behind, when
// the mark is past end, the end of the journal's last record (the
// journal was cut short or replaced by an older copy of itself: every
// record in it is moved, and records appended after it would look moved
// too); foreign, when the mark names another generation (an older
// journal put back, another instance's, or one whose new generation
// was recorded but not yet written when the process stopped: its
// records are moved already, or were never this store's).
func unmoved(ctx context.Context, st store.Store, gen string, end int64, recs []journalRecord) (rest []journalRecord, behind, foreign bool, err error) {
	var markGen string
	var moved int64
	err = st.View(ctx, func(tx store.Tx) error {
		var err error
		markGen, moved, err = tx.AuditJournalMark(ctx)
		return err
	})
	if err != nil {
		return nil, false, false, err
	}
	if markGen != gen {
		return nil, false, true, nil
	}
	if moved > end {
		return nil, true, false, nil
	}
	for i, r := range recs {
		if r.end > moved {
			return recs[i:], false, false, nil
		}
	}
	return nil, false, false, nil
}

// JournalUnmoved counts the records of the journal at path that the store
// st does not hold yet: those of the generation the store takes, past its
// mark. It needs no key (records are counted by their lengths, not
// checked), so it may count a damaged tail too: it is for refusing work
// that would leave acknowledged events behind (store copy), never for
// moving them. A missing journal holds none.
func JournalUnmoved(ctx context.Context, path string, st store.Store) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("audit journal: %w", err)
	}
	if len(data) < journalHeader || string(data[:len(journalMagic)]) != journalMagic {
		return 0, nil
	}
	var markGen string
	var moved int64
	if err := st.View(ctx, func(tx store.Tx) error {
		var err error
		markGen, moved, err = tx.AuditJournalMark(ctx)
		return err
	}); err != nil {
		return 0, err
	}
	if markGen != hex.EncodeToString(data[len(journalMagic):journalHeader]) {
		return 0, nil
	}
	n := 0
	for off := int64(journalHeader); off+4 <= int64(len(data)); {
		l := int64(binary.BigEndian.Uint32(data[off:]))
		if l == 0 || l > maxJournalRecord {
			break
		}
		off += 4 + l + journalMACSize
		if off > int64(len(data)) {
			break
		}
		if off > moved {
			n++
		}
	}
	return n, nil
}

// JournalHasRecords reports whether the journal at path holds at least
// one record (of any generation, unchecked): a journal that a gateway
// emptied when it stopped holds none.
func JournalHasRecords(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, journalHeader+4)
	if _, err := io.ReadFull(f, b); err != nil || string(b[:len(journalMagic)]) != journalMagic {
		return false
	}
	return binary.BigEndian.Uint32(b[journalHeader:]) != 0
}

package audit

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/querygate/querygate/internal/seal"
)

// The head record anchors the chain outside the store.
//
// The chain links each event to the one before it, so it proves that no
// event was edited, removed or inserted in the middle; it cannot prove
// that the newest events are all there: a store whose last N rows were
// deleted (or which was put back to an older copy) still ends in a valid
// chain. The head record closes that gap: after each batch the writer
// keeps the sequence number and hash of the newest event it wrote in a
// small file outside the store (by default <data dir>/audit.head, beside
// the master key), and Verify checks that the store still holds that
// event, with that hash. The writer also continues the numbering after
// its head if it finds the store shorter than the head, so that a
// truncation stays visible as a gap in the chain even after new events.
//
// The head is a lower bound, never a claim beyond what was committed: it
// is written only after its events are committed, so a crash between the
// two leaves it one batch behind (those events are then not anchored),
// never ahead. Its MAC (under the audit key) tells a forged head record
// from a genuine one; nothing tells an older genuine head from the newest
// one, so whoever can rewrite the file can put an older one back (see the
// security model in the package documentation).

// HeadFile is the name of the head record in the data directory.
const HeadFile = "audit.head"

// head is the newest event a log wrote: its sequence number and hash.
type head struct {
	Seq  int64
	Hash []byte
}

// headRecord is the JSON form of a head record on disk.
type headRecord struct {
	Version int    `json:"v"`
	Seq     int64  `json:"seq"`
	Hash    string `json:"hash"`
	MAC     string `json:"mac"`
}

// maxHeadSize bounds the head record read from disk.
const maxHeadSize = 4096

// errHeadInvalid is a head record that does not parse or whose MAC does
// not match: altered, or made under another key.
var errHeadInvalid = errors.New("audit: head record is not valid")

// headMAC authenticates a head record, so that a record pointing at an
// event the log never wrote is told apart from events gone missing.
func (l *Log) headMAC(h head) []byte {
	b := []byte("querygate/audit/head/v1\x00")
	b = strconv.AppendInt(b, h.Seq, 10)
	b = append(b, 0)
	b = append(b, h.Hash...)
	return seal.MAC(l.key, b)
}

// readHead reads and checks the head record at path. A missing file is
// an error wrapping fs.ErrNotExist; a file that does not parse or verify
// is errHeadInvalid.
func (l *Log) readHead(path string) (head, error) {
	f, err := os.Open(path)
	if err != nil {
		return head{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHeadSize+1))
	if err != nil {
		return head{}, err
	}
	var rec headRecord
	if len(b) > maxHeadSize || json.Unmarshal(b, &rec) != nil || rec.Version != 1 || rec.Seq < 1 {
		return head{}, errHeadInvalid
	}
	hash, err1 := hex.DecodeString(rec.Hash)
	mac, err2 := hex.DecodeString(rec.MAC)
	h := head{Seq: rec.Seq, Hash: hash}
	if err1 != nil || err2 != nil || !hmac.Equal(mac, l.headMAC(h)) {
		return head{}, errHeadInvalid
	}
	return h, nil
}

// writeHead replaces the head record at path atomically (a temporary file
// in the same directory, synced, then renamed), so that a crash leaves
// the old record or the new one, never a torn one.
func (l *Log) writeHead(path string, h head) error {
	b, err := json.Marshal(headRecord{Version: 1, Seq: h.Seq, Hash: hex.EncodeToString(h.Hash), MAC: hex.EncodeToString(l.headMAC(h))})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".audit.head-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// checkHead compares the head record h, read from path, with the store:
// hash is the hash of the store's event h.Seq (nil when there is none),
// last the store's newest sequence number (0 for none).
func checkHead(path string, h head, hash []byte, last int64) *Problem {
	if h.Seq > last {
		from := last + 1
		n := h.Seq - last
		return &Problem{Seq: h.Seq, Reason: fmt.Sprintf("the newest %d events (%d to %d) are missing: the head record %s says event %d was written, "+
			"but the store ends at event %d (deleted, or the store was put back to an older copy)", n, from, h.Seq, path, h.Seq, last)}
	}
	if hash == nil {
		return nil // a gap, already reported by the chain walk
	}
	if !bytes.Equal(hash, h.Hash) {
		return &Problem{Seq: h.Seq, Reason: fmt.Sprintf("event %d is not the one the head record %s saw written: "+
			"the trail was rewritten, or put back to an older copy and refilled", h.Seq, path)}
	}
	return nil
}

// Package audit keeps the audit trail (promise P11): who did what, to
// which datasource, when and with what outcome. It records metadata only:
// never a secret, never a result, and a query's text only when the
// operator turns that on.
//
// Events are appended in the store, each with an HMAC-SHA256 (under a key
// derived from the instance's root key) over the event and the previous
// event's hash. Editing, deleting or reordering rows breaks the chain,
// which Verify finds; forging a row needs the key.
//
// The chain alone cannot show that its newest events were deleted, so its
// head (sequence number and hash of the newest event) is also kept outside
// the store, in a head record file (see head.go), and every event is
// written to the log, another outside copy. What each adversary can hide:
//
//   - the store alone (a stolen or writable store file or database, no
//     master key): nothing. An edit, an insertion or a deleted row breaks
//     the chain; deleting the newest rows, or putting back an older copy of
//     the store, leaves the store short of the head record, which Verify
//     reports with the missing sequence numbers.
//   - the store and the master key: the thief can recompute a valid chain
//     over any content, but not the one ending in the head record's hash
//     at its sequence number, so every change up to the head is still
//     found. Events appended after the last head write (a crash between
//     commit and head write: at most the last 50 ms of events, as the
//     record is written at most that often) are not anchored.
//   - the store and the head record file (the data directory, which by
//     default also holds the master key): everything, locally. Putting an
//     older head record back with an older store, or rewriting both with
//     the key, is undetectable here; only the log lines already shipped
//     elsewhere (each carries seq and hash) show it.
//
// With several replicas on one PostgreSQL store each replica keeps its own
// head record: one replica's record anchors the events up to the newest
// that replica wrote. Verify checks every head record it is given, so
// collecting the replicas' records detects the deletion of any event up
// to the newest of them.
package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// Actions. Each is recorded once per occurrence.
const (
	LoginSuccess     = "login.success"
	LoginFailure     = "login.failure"
	Logout           = "logout"
	LogoutAll        = "logout.everywhere" // every session of a user ended
	SessionRevoke    = "session.revoke"
	PasswordChange   = "user.password"       // a user changed their own password
	PasswordReset    = "user.password_reset" // an admin set another password for a user
	SSOUpdate        = "settings.sso"        // the single sign-on setting changed (field names only)
	SSOLink          = "user.sso_link"       // a user linked their account at the identity provider (or was refused)
	DashboardCreate  = "dashboard.create"
	DashboardUpdate  = "dashboard.update"
	DashboardDelete  = "dashboard.delete"
	DashboardGrants  = "dashboard.grants"
	Setup            = "setup"
	UserCreate       = "user.create"
	UserUpdate       = "user.update"
	UserDelete       = "user.delete"
	TokenCreate      = "token.create"
	TokenDelete      = "token.delete"
	DatasourceCreate = "datasource.create"
	DatasourceUpdate = "datasource.update"
	DatasourceDelete = "datasource.delete"
	DatasourceTest   = "datasource.test"
	DatasourceList   = "datasource.list" // a front end that audits reads listed the datasources (MCP's list_datasources)
	GrantUpdate      = "grant.update"
	GroupCreate      = "group.create"
	GroupUpdate      = "group.update"
	GroupDelete      = "group.delete"
	DeviceUnlock     = "device.unlock"
	DeviceForget     = "device.forget"
	DeviceRevoke     = "device.revoke"
	KeysRotate       = "keys.rotate"
	Query            = "query"
	// SchemaRead is a read of a datasource's schema (never its content).
	SchemaRead  = "datasource.schema"
	WireConnect = "pgwire.connect" // a PostgreSQL wire client opened a session (or was refused)
	// Saved queries: a run names the query and its version, never its text.
	SavedQueryCreate = "savedquery.create"
	SavedQueryUpdate = "savedquery.update"
	SavedQueryDelete = "savedquery.delete"
	SavedQueryRun    = "savedquery.run"
)

// OK is the outcome of an action that succeeded; any other outcome is an
// error code.
const OK = "ok"

// Event is one thing that happened.
type Event struct {
	ActorID, ActorName string
	Action             string
	Target             string
	DatasourceID       string
	Outcome            string // OK or an error code
	Remote             string
	RequestID          string
	// Details are small metadata: field names changed, durations, row
	// and byte counts, error codes. Never values of settings or secrets.
	Details map[string]any
}

// Log appends to and reads the audit trail. Events recorded at the same
// time are written together in one transaction (group commit), so that
// concurrent requests share the store's sync instead of queueing for one
// each; every Record still returns only once its event is durable.
type Log struct {
	store store.Store
	key   seal.Key
	log   *slog.Logger
	now   func() time.Time

	// headPath is the head record file ("" for none); head is the newest
	// event this log knows was written (its record, then its own appends).
	// Only the writer goroutine uses head once New has returned.
	headPath string
	head     head
	// queued: Record does not wait for the commit (Options.Queued).
	queued bool

	queue     chan *pending
	done      chan struct{}
	closeOnce sync.Once
	// heads carries the newest head to the head writer (capacity one:
	// an older head not yet written is replaced by a newer one), which
	// closes headsDone when it has written the last.
	heads     chan head
	headsDone chan struct{}

	// journal is the write-ahead file of the embedded store (journal.go),
	// nil to write batches to the store directly. With a journal the
	// mover goroutine puts journalled events into the store, and it
	// alone then uses head.
	journal *journal
	moveMu  sync.Mutex
	toMove  []moveItem // journalled, not yet in the store, in order
	// journalled and movedCount count the events put in toMove and
	// taken out of it; flushes wait for movedCount to reach a number.
	journalled, movedCount int64
	flushes                []flushReq
	kick                   chan struct{} // capacity one: there is work for the mover
	stop                   chan struct{} // closed when the writer has finished
	moved                  chan struct{} // closed by the mover when it has finished
	// headWrites counts the head record's writes (for tests).
	headWrites atomic.Int64
}

// pending is one event waiting for its batch to be written.
type pending struct {
	e   *store.AuditEvent
	err chan error
	// queued: nobody waits for err; the writer logs the outcome.
	queued bool
}

// maxBatch bounds the events written in one transaction.
const maxBatch = 256

// Options are the dependencies of a Log.
type Options struct {
	Store store.Store
	// Key authenticates the chain and the head record.
	Key    seal.Key
	Logger *slog.Logger
	// Head is the head record file, kept outside the store (normally
	// <data dir>/audit.head); empty keeps none, and the deletion of the
	// newest events cannot then be detected.
	Head string
	// Queued makes Record return once the event is queued for the
	// writer, not once it is committed (--audit-ack queued): requests are
	// acknowledged before their events are durable, and the events
	// queued when the process dies (at most one batch being written and
	// one queue, maxBatch each) are lost. A failed write is logged. The
	// default waits for the commit: acknowledged means recorded.
	Queued bool
	// Journal is the audit journal file (normally <data dir>/audit.journal,
	// for the embedded store only): a batch is acknowledged once it is
	// synced there, and moved into the store in larger transactions (see
	// journal.go). Empty writes every batch to the store directly.
	Journal string
	// JournalNoSync leaves the journal's writes to the operating system
	// (--store-sync normal): an acknowledged event survives a crash of
	// the process, not of the machine.
	JournalNoSync bool
}

// moveItem is a journalled event and where its record ends.
type moveItem struct {
	p   *pending
	gen string
	end int64
}

// moveEvery is the longest a journalled event waits for its move into the
// store (unless a read of the trail asks for it sooner).
const moveEvery = 50 * time.Millisecond

// New returns the audit log of an instance. It reads the head record, if
// there is one; a record that is not valid is logged and replaced at the
// next append.
func New(o Options) *Log {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if !o.Key.Valid() {
		panic("audit: no key")
	}
	l := &Log{store: o.Store, key: o.Key, log: o.Logger, now: time.Now, headPath: o.Head, queued: o.Queued,
		queue: make(chan *pending, maxBatch), done: make(chan struct{}),
		heads: make(chan head, 1), headsDone: make(chan struct{})}
	if o.Head != "" {
		h, err := l.readHead(o.Head)
		switch {
		case err == nil:
			l.head = h
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, errHeadInvalid):
			l.log.Error("the audit head record is not valid (altered, or made under another key); it is replaced at the next event",
				"path", o.Head)
		default:
			l.log.Error("the audit head record cannot be read; it is replaced at the next event",
				"path", o.Head, "error_type", fmt.Sprintf("%T", err))
		}
	}
	if o.Journal != "" {
		l.openJournal(o.Journal, o.JournalNoSync)
	}
	go l.writer()
	go l.headWriter()
	if l.journal != nil {
		go l.mover()
	}
	return l
}

// openJournal opens the journal, and queues for the mover the events a
// stopped process left in it that the store does not hold yet. A journal
// that another process keeps, or that cannot be opened, leaves the log
// writing to the store directly.
func (l *Log) openJournal(path string, noSync bool) {
	claim := func(gen string) error {
		return l.store.Update(context.Background(), func(tx store.Tx) error {
			return tx.SetAuditJournalMark(context.Background(), gen, int64(journalHeader))
		})
	}
	j, recs, dropped, err := openJournal(path, l.key, claim)
	if err == nil {
		j.noSync = noSync
	}
	if errors.Is(err, errJournalLocked) {
		l.log.Info("the audit journal is kept by another process; audit events are written to the store directly", "path", path)
		return
	} else if err != nil {
		l.log.Error("the audit journal cannot be opened; audit events are written to the store directly", "path", path,
			"error_type", fmt.Sprintf("%T", err))
		return
	}
	if dropped > 0 {
		l.log.Warn("the audit journal ended with bytes that are not a whole authentic record (a write cut short by a crash, before it was acknowledged, or an altered file); they were dropped",
			"path", path, "bytes", dropped)
	}
	rest, behind, foreign, err := unmoved(context.Background(), l.store, j.generation(), j.end, recs)
	if foreign && len(recs) > 0 {
		l.log.Error("the audit journal is not the one the store expects (an older copy put back, another instance's, or one replaced just before a stop); its records are not moved, and it is emptied",
			"path", path, "records", len(recs))
	}
	if behind {
		l.log.Error("the audit journal ends before what the store says was moved from it (cut short, or an older copy put back); it is emptied",
			"path", path)
	}
	if behind || foreign {
		// Everything in it is in the store, or is not this store's; a
		// new generation keeps the next records from looking moved.
		if err := j.reset(); err != nil {
			j.close()
			l.log.Error("the audit journal cannot be emptied; audit events are written to the store directly", "path", path,
				"error_type", fmt.Sprintf("%T", err))
			return
		}
	}
	if err != nil {
		// The store cannot say now: queue them all; the move's
		// transaction takes only those of the store's generation past
		// its mark.
		rest = recs
	}
	for _, r := range rest {
		l.toMove = append(l.toMove, moveItem{p: &pending{e: r.e}, gen: j.generation(), end: r.end})
	}
	l.journalled = int64(len(rest))
	if len(rest) > 0 {
		l.log.Info("moving the audit events a stopped gateway left in the audit journal into the store", "events", len(rest))
	}
	l.journal = j
	l.kick = make(chan struct{}, 1)
	l.stop = make(chan struct{})
	l.moved = make(chan struct{})
	if len(l.toMove) > 0 {
		l.kick <- struct{}{}
	}
}

// Close writes the events already recorded and stops the writer. Record
// fails after Close.
func (l *Log) Close() {
	l.closeOnce.Do(func() {
		close(l.queue)
		<-l.done
		<-l.headsDone
		if l.journal != nil {
			l.journal.close()
		}
	})
}

// writer appends batches of queued events, chaining each to the last.
func (l *Log) writer() {
	defer close(l.done)
	if l.journal != nil {
		defer func() {
			close(l.stop)
			<-l.moved
		}()
	} else {
		defer close(l.heads)
	}
	for p := range l.queue {
		batch := []*pending{p}
	drain:
		for len(batch) < maxBatch {
			select {
			case q, ok := <-l.queue:
				if !ok {
					break drain
				}
				batch = append(batch, q)
			default:
				break drain
			}
		}
		if l.journal != nil {
			l.journalBatch(batch)
			continue
		}
		err := l.append(batch)
		if err == nil {
			l.head = head{Seq: batch[len(batch)-1].e.Seq, Hash: batch[len(batch)-1].e.Hash}
			l.publishHead(l.head)
		}
		for _, p := range batch {
			p.err <- err
			if !p.queued {
				continue
			}
			if err != nil {
				l.logFailed(context.Background(), p.e, err)
			} else {
				l.logRecorded(context.Background(), p.e)
			}
		}
	}
}

// publishHead hands h to the head writer, replacing a head it has not
// written yet. Only the writer goroutine calls it.
func (l *Log) publishHead(h head) {
	if l.headPath == "" {
		return
	}
	for {
		select {
		case l.heads <- h:
			return
		default:
			select {
			case <-l.heads: // an older head, not written yet
			default:
			}
		}
	}
}

// headEvery is the least time between two writes of the head record.
const headEvery = 50 * time.Millisecond

// headWriter writes the head record file, off the path of the requests
// whose events it anchors: a request waits for its event to be durable in
// the store, not for the file (one fsync and rename per batch would
// otherwise add milliseconds to every request). It writes at most once
// every headEvery (the newest head then replaces those not yet written),
// so that a steady stream of requests does not cost one more fsync each.
// The record thus lags the store by at most headEvery and the write in
// progress, and never claims an event that was not committed; Close
// writes the last head before it returns.
func (l *Log) headWriter() {
	defer close(l.headsDone)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for h := range l.heads {
		timer.Reset(headEvery)
		l.headWrites.Add(1)
		if err := l.writeHead(l.headPath, h); err != nil {
			// The events are durable in the store: they are not lost,
			// only not anchored until the next write succeeds.
			l.log.Error("audit head record not written", "path", l.headPath, "error_type", fmt.Sprintf("%T", err))
		}
		select {
		case <-timer.C:
		case <-l.done: // closing: write the last head now
		}
	}
}

// append writes one batch in one transaction.
func (l *Log) append(batch []*pending) error {
	ctx := context.Background()
	return l.store.Update(ctx, func(tx store.Tx) error { return l.chain(ctx, tx, batch) })
}

// chain appends a batch to the chain in tx: each event gets the next
// sequence number and its hash.
func (l *Log) chain(ctx context.Context, tx store.Tx, batch []*pending) error {
	var prev []byte
	var seq int64
	last, err := tx.LastAuditEvent(ctx)
	switch {
	case err == nil:
		prev, seq = last.Hash, last.Seq
	case querygate.ErrorCode(err) != querygate.ENOTFOUND:
		return err
	}
	if l.head.Seq > seq {
		// The store ends before an event this log knows was written: its
		// newest events were deleted, or an older copy was put back.
		// Continuing after the head keeps the loss visible as a gap in
		// the chain, instead of quietly reusing the lost numbers.
		l.log.Error("the audit trail's newest events are missing from the store; new events continue after them",
			"missing_from", seq+1, "missing_to", l.head.Seq)
		prev, seq = l.head.Hash, l.head.Seq
	}
	for _, p := range batch {
		seq++
		p.e.Seq = seq
		p.e.Hash = l.hash(prev, p.e)
		if err := tx.AppendAuditEvent(ctx, p.e); err != nil {
			return err
		}
		prev = p.e.Hash
	}
	return nil
}

// hash is the chained HMAC of an event: every field, length-prefixed, and
// the previous event's hash.
func (l *Log) hash(prev []byte, e *store.AuditEvent) []byte {
	var b []byte
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	field("querygate/audit/v1")
	field(string(prev))
	field(strconv.FormatInt(e.Seq, 10))
	field(strconv.FormatInt(e.At.UnixMilli(), 10))
	for _, s := range []string{e.ActorID, e.ActorName, e.Action, e.Target, e.DatasourceID, e.Outcome, e.Remote, e.RequestID, e.Details} {
		field(s)
	}
	return seal.MAC(l.key, b)
}

// Record appends one event. An event that cannot be written is logged as
// an error and returned.
func (l *Log) Record(ctx context.Context, ev Event) error {
	Mark(ctx)
	if ev.Outcome == "" {
		ev.Outcome = OK
	}
	details := []byte("{}")
	if len(ev.Details) > 0 {
		var err error
		if details, err = json.Marshal(ev.Details); err != nil {
			return fmt.Errorf("audit: details: %w", err)
		}
	}
	e := &store.AuditEvent{At: l.now().UTC().Truncate(time.Millisecond), ActorID: ev.ActorID, ActorName: ev.ActorName,
		Action: ev.Action, Target: ev.Target, DatasourceID: ev.DatasourceID, Outcome: ev.Outcome, Remote: ev.Remote,
		RequestID: ev.RequestID, Details: string(details)}
	// The write must not be lost because the client went away: it is
	// queued whatever ctx says.
	ctx = context.WithoutCancel(ctx)
	p := &pending{e: e, err: make(chan error, 1), queued: l.queued}
	err := l.enqueue(p)
	if err == nil && !p.queued {
		err = <-p.err
	}
	if err != nil {
		l.logFailed(ctx, e, err)
		return err
	}
	if !p.queued && l.journal == nil {
		l.logRecorded(ctx, e) // with a journal, the mover logs it with its number
	}
	return nil
}

func (l *Log) logRecorded(ctx context.Context, e *store.AuditEvent) {
	l.log.InfoContext(ctx, "audit", "seq", e.Seq, "action", e.Action, "actor_id", e.ActorID, "target", e.Target,
		"datasource_id", e.DatasourceID, "outcome", e.Outcome, "hash", hex.EncodeToString(e.Hash[:8]))
}

func (l *Log) logFailed(ctx context.Context, e *store.AuditEvent, err error) {
	l.log.ErrorContext(ctx, "audit event not recorded", "action", e.Action, "error_type", fmt.Sprintf("%T", err))
}

// enqueue hands an event to the writer; it fails once the log is closed.
func (l *Log) enqueue(p *pending) (err error) {
	defer func() {
		if recover() != nil {
			err = querygate.Errorf(querygate.EUNAVAILABLE, "The audit log is closed.")
		}
	}()
	l.queue <- p
	return nil
}

// List returns events, newest first unless the filter says otherwise.
func (l *Log) List(ctx context.Context, f store.AuditFilter) ([]*store.AuditEvent, error) {
	if err := l.flush(ctx); err != nil {
		return nil, err
	}
	var out []*store.AuditEvent
	err := l.store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListAuditEvents(ctx, f)
		return err
	})
	return out, err
}

// pageSize is how many events Verify and Export read at a time.
const pageSize = 1000

// each calls fn for every event in order, a page at a time.
func (l *Log) each(ctx context.Context, f store.AuditFilter, fn func(*store.AuditEvent) error) error {
	f.Ascending, f.Limit = true, pageSize
	for {
		page, err := l.List(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
			f.AfterSeq = e.Seq
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// Problem is a break in the chain.
type Problem struct {
	Seq    int64
	Reason string
}

// Report is what Verify found.
type Report struct {
	Events   int64     // events checked
	Last     int64     // the newest event's sequence number (0: none)
	Problems []Problem // every break found, in sequence order of discovery
	// Notes say which head records were checked, and which were missing.
	Notes []string
}

// Verify walks the whole chain and reports every event whose hash does not
// follow from its content and its predecessor, and every gap in the
// sequence (a deleted row). It then checks the chain against each head
// record named in heads: the store must still hold the event the record
// names, with the same hash. A missing head record file is noted, not a
// problem (a new instance has none yet, and whoever could delete it could
// as well put an older one back); a record that does not verify is a
// problem.
func (l *Log) Verify(ctx context.Context, heads ...string) (Report, error) {
	var rep Report
	type anchor struct {
		path string
		h    head
		hash []byte // the store's hash of event h.Seq, once seen
	}
	var anchors []*anchor
	for _, path := range heads {
		h, err := l.readHead(path)
		switch {
		case err == nil:
			anchors = append(anchors, &anchor{path: path, h: h})
		case errors.Is(err, fs.ErrNotExist):
			rep.Notes = append(rep.Notes, fmt.Sprintf("no head record at %s: whether the newest events were deleted cannot be checked against it", path))
		case errors.Is(err, errHeadInvalid):
			rep.Problems = append(rep.Problems, Problem{Reason: fmt.Sprintf("the head record %s is not valid: altered, or made under another key", path)})
		default:
			return rep, fmt.Errorf("audit: read head record: %w", err)
		}
	}
	var want int64 = 1
	var prev []byte
	err := l.each(ctx, store.AuditFilter{}, func(e *store.AuditEvent) error {
		rep.Events++
		if e.Seq != want {
			rep.Problems = append(rep.Problems, Problem{Seq: e.Seq, Reason: fmt.Sprintf("events %d to %d are missing", want, e.Seq-1)})
		}
		if !hmac.Equal(e.Hash, l.hash(prev, e)) {
			rep.Problems = append(rep.Problems, Problem{Seq: e.Seq, Reason: "the event was altered, or the one before it was"})
		}
		for _, a := range anchors {
			if a.h.Seq == e.Seq {
				a.hash = e.Hash
			}
		}
		prev, want, rep.Last = e.Hash, e.Seq+1, e.Seq
		return nil
	})
	if err != nil {
		return rep, err
	}
	for _, a := range anchors {
		if p := checkHead(a.path, a.h, a.hash, rep.Last); p != nil {
			rep.Problems = append(rep.Problems, *p)
			continue
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("head record %s: event %d is present and matches", a.path, a.h.Seq))
	}
	return rep, nil
}

// exported is the JSON form of an event, for the API and for export.
type exported struct {
	Seq          int64           `json:"seq"`
	At           time.Time       `json:"at"`
	ActorID      string          `json:"actor_id,omitempty"`
	ActorName    string          `json:"actor_name,omitempty"`
	Action       string          `json:"action"`
	Target       string          `json:"target,omitempty"`
	DatasourceID string          `json:"datasource_id,omitempty"`
	Outcome      string          `json:"outcome"`
	Remote       string          `json:"remote,omitempty"`
	RequestID    string          `json:"request_id,omitempty"`
	Details      json.RawMessage `json:"details"`
	Hash         string          `json:"hash"`
}

// JSON returns the JSON form of an event.
func JSON(e *store.AuditEvent) any {
	d := json.RawMessage(e.Details)
	if !json.Valid(d) {
		d = json.RawMessage("{}")
	}
	return exported{Seq: e.Seq, At: e.At, ActorID: e.ActorID, ActorName: e.ActorName, Action: e.Action, Target: e.Target,
		DatasourceID: e.DatasourceID, Outcome: e.Outcome, Remote: e.Remote, RequestID: e.RequestID, Details: d,
		Hash: hex.EncodeToString(e.Hash)}
}

// Export writes the events f selects as JSON lines, oldest first.
func (l *Log) Export(ctx context.Context, w io.Writer, f store.AuditFilter) (int64, error) {
	var n int64
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	err := l.each(ctx, f, func(e *store.AuditEvent) error {
		buf.Reset()
		if err := enc.Encode(JSON(e)); err != nil {
			return err
		}
		n++
		_, err := w.Write(buf.Bytes())
		return err
	})
	return n, err
}

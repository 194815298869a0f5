package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The change sequence (table changes, one row) is raised once by every
// committed write transaction that changed a row gateways keep copies of:
// users, sessions, API tokens, groups and their members, datasources,
// grants, device credentials (and anything else, unless the statement is
// marked as changing nothing cached: last-use touches and audit appends).
// Raising it in the same transaction means a reader can never see the
// change without the new number.
const (
	// The new number is the old one plus one, or the time in
	// milliseconds when that is larger: so the sequence keeps rising even
	// after an older copy of the store is put back, and never returns to a
	// number a gateway may still hold copies under.
	bumpChanges = `INSERT INTO changes (id, seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE
		SET seq = CASE WHEN changes.seq + 1 > excluded.seq THEN changes.seq + 1 ELSE excluded.seq END`
	readChanges = `SELECT COALESCE(MAX(seq), 0) FROM changes`
)

// Finish raises the change sequence if the transaction changed anything
// cached. Store packages call it just before they commit a write
// transaction, and report Changed to their Changes after the commit.
func (t *Tx) Finish(ctx context.Context) error {
	if !t.changed {
		return nil
	}
	_, err := t.execKeep(ctx, "raise change sequence", bumpChanges, time.Now().UnixMilli())
	return err
}

// Changed reports whether the transaction changed anything cached.
func (t *Tx) Changed() bool { return t.changed }

// ChangesFresh is how old a reading of the change sequence may be and
// still be used: a reading taken by a query that started at most this long
// before a call answers it. A change committed by another replica is thus
// seen by every call made ChangesFresh or more after its commit; a change
// made through this process is seen at once (Invalidate).
const ChangesFresh = time.Millisecond

// Changes reads the change sequence of one database, sharing a reading
// between the calls that arrive within ChangesFresh of its start, so
// that concurrent requests cost one point query between them.
//
// With a probe (SetProbe), a reading is instead used for as long as the
// probe reports the mark it reported just before the reading's query
// began: no transaction has been committed since, so the query would
// return the same number.
type Changes struct {
	stmt  *sql.Stmt
	fresh time.Duration
	now   func() time.Time
	probe func() (Mark, bool)
	reads atomic.Int64 // queries run, for tests

	mu      sync.Mutex
	epoch   atomic.Uint64 // raised by Invalidate (under mu): readings begun before are not used
	reading *changeReading
	known   atomic.Pointer[changeReading] // the last good reading with a mark
}

type changeReading struct {
	start  time.Time
	epoch  uint64
	mark   Mark // the probe's mark read before the query began
	marked bool
	done   chan struct{}
	seq    int64
	err    error
}

// A Mark is a database's commit state as a probe reads it without a
// query (for SQLite, the WAL-index header): two equal marks read at two
// instants mean that no transaction was committed between them.
type Mark [12]uint32

// SetProbe gives Changes a probe of the database's commit state; ok false
// means the state is not known, and Seq then reads as without a probe.
// The probe must report a different mark after any transaction committed
// to the database by any connection or process. Call it before Seq.
func (c *Changes) SetProbe(probe func() (m Mark, ok bool)) { c.probe = probe }

// Reads returns how many times Seq has queried the database.
func (c *Changes) Reads() int64 { return c.reads.Load() }

// NewChanges prepares the change sequence's point query on db.
func NewChanges(ctx context.Context, db *sql.DB, d *Dialect) (*Changes, error) {
	st, err := db.PrepareContext(ctx, d.rebind(readChanges))
	if err != nil {
		return nil, d.translate(fmt.Errorf("store: prepare change sequence: %w", err))
	}
	return &Changes{stmt: st, fresh: ChangesFresh, now: time.Now}, nil
}

// Seq returns the change sequence, read by a query that began at most
// ChangesFresh before the call and after the last Invalidate. An error
// is returned as it is: callers must then not trust what they cached.
//
// With a probe, the mark is read before anything else: a reading whose
// mark equals it began its query after every commit made before this
// call (none was made between that mark and this one), so its number is
// returned, without a query, however old the reading is.
func (c *Changes) Seq(ctx context.Context) (int64, error) {
	var mark Mark
	marked := false
	if c.probe != nil {
		if mark, marked = c.probe(); marked {
			if k := c.known.Load(); k != nil && k.mark == mark && k.epoch == c.epoch.Load() {
				return k.seq, nil
			}
		}
	}
	for attempt := 0; ; attempt++ {
		r, own := c.join(mark, marked)
		if own {
			c.reads.Add(1)
			r.err = c.stmt.QueryRowContext(ctx).Scan(&r.seq)
			if r.err == nil && r.marked {
				c.known.Store(r)
			}
			close(r.done)
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if r.err == nil {
			return r.seq, nil
		}
		// A failed reading is never shared with later calls.
		c.mu.Lock()
		if c.reading == r {
			c.reading = nil
		}
		c.mu.Unlock()
		if own || attempt > 0 {
			return 0, fmt.Errorf("store: change sequence: %w", r.err)
		}
		// Another call's reading failed (its context may have ended):
		// read once more on this call's own.
	}
}

// join returns the reading a call may use, and whether the call must do
// it itself. A call with a mark (read before join) shares only a reading
// begun under the same mark; one without shares a reading begun within
// ChangesFresh.
func (c *Changes) join(mark Mark, marked bool) (*changeReading, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	epoch := c.epoch.Load()
	if r := c.reading; r != nil && r.epoch == epoch {
		if marked && r.marked && r.mark == mark {
			return r, false
		}
		if !marked && !r.start.After(now) && now.Sub(r.start) <= c.fresh {
			return r, false
		}
	}
	r := &changeReading{start: now, epoch: epoch, mark: mark, marked: marked, done: make(chan struct{})}
	c.reading = r
	return r, true
}

// Invalidate makes the next Seq read the store again: a store calls it
// after committing a change, so that this process sees its own changes at
// once.
func (c *Changes) Invalidate() {
	c.mu.Lock()
	c.epoch.Add(1)
	c.reading = nil
	c.known.Store(nil)
	c.mu.Unlock()
}

// Close releases the prepared statement.
func (c *Changes) Close() error { return c.stmt.Close() }

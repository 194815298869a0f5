package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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
type Changes struct {
	stmt  *sql.Stmt
	fresh time.Duration
	now   func() time.Time

	mu      sync.Mutex
	epoch   uint64 // raised by Invalidate: readings begun before are not used
	reading *changeReading
}

type changeReading struct {
	start time.Time
	epoch uint64
	done  chan struct{}
	seq   int64
	err   error
}

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
func (c *Changes) Seq(ctx context.Context) (int64, error) {
	for attempt := 0; ; attempt++ {
		r, own := c.join()
		if own {
			r.err = c.stmt.QueryRowContext(ctx).Scan(&r.seq)
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
// it itself.
func (c *Changes) join() (*changeReading, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.reading; r != nil && r.epoch == c.epoch && !r.start.After(now) && now.Sub(r.start) <= c.fresh {
		return r, false
	}
	r := &changeReading{start: now, epoch: c.epoch, done: make(chan struct{})}
	c.reading = r
	return r, true
}

// Invalidate makes the next Seq read the store again: a store calls it
// after committing a change, so that this process sees its own changes at
// once.
func (c *Changes) Invalidate() {
	c.mu.Lock()
	c.epoch++
	c.reading = nil
	c.mu.Unlock()
}

// Close releases the prepared statement.
func (c *Changes) Close() error { return c.stmt.Close() }

package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/querygate/querygate/internal/store"
)

// journalBatch makes a batch durable in the journal, answers its waiters
// and hands it to the mover. Only the writer goroutine calls it.
func (l *Log) journalBatch(batch []*pending) {
	events := make([]*store.AuditEvent, len(batch))
	for i, p := range batch {
		events[i] = p.e
	}
	gen, ends, err := l.journal.append(events)
	if err == nil {
		l.moveMu.Lock()
		for i, p := range batch {
			l.toMove = append(l.toMove, moveItem{p: p, gen: gen, end: ends[i]})
		}
		l.journalled += int64(len(batch))
		l.moveMu.Unlock()
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	for _, p := range batch {
		p.err <- err
		if p.queued && err != nil {
			l.logFailed(context.Background(), p.e, err)
		}
	}
}

// mover puts journalled events into the store: at most moveEvery after
// the first of them was journalled, at once when maxBatch are waiting or
// a reader asks (flush), and all of them before it stops.
func (l *Log) mover() {
	defer close(l.moved)
	defer close(l.heads)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	retry := 100 * time.Millisecond
	stopping := false
	for {
		if !stopping {
			select {
			case <-l.kick:
			case <-l.stop:
				stopping = true
			}
		}
		// Wait a little for more, unless enough are waiting already or
		// someone asked.
		if !stopping && !l.moveDue() {
			timer.Reset(moveEvery)
		wait:
			for {
				select {
				case <-timer.C:
					break wait
				case <-l.kick:
					if l.moveDue() {
						timer.Stop()
						break wait
					}
				case <-l.stop:
					stopping = true
					timer.Stop()
					break wait
				}
			}
		}
		for {
			n, err := l.moveSome(stopping)
			if err != nil {
				l.answerFlushes(err)
				if stopping {
					// They stay in the journal; the next process to
					// open it moves them.
					l.log.Error("audit events not moved from the journal into the store before stopping; they are durable in the journal and are moved at the next start",
						"events", n, "error_type", fmt.Sprintf("%T", err))
					return
				}
				l.log.Error("audit events not moved from the journal into the store; retrying (they are durable in the journal)",
					"events", n, "error_type", fmt.Sprintf("%T", err))
				select {
				case <-time.After(retry):
				case <-l.stop:
					stopping = true // one more try, then the journal keeps them
				}
				continue
			}
			if n == 0 {
				break
			}
		}
		if stopping {
			// Everything journalled is moved and the writer has
			// finished: the journal holds nothing that is needed.
			if err := l.journal.emptyAll(); err != nil {
				l.log.Error("the audit journal could not be emptied (its events are in the store)", "error_type", fmt.Sprintf("%T", err))
			}
			return
		}
	}
}

// moveDue reports whether a move should start now.
func (l *Log) moveDue() bool {
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	return len(l.toMove) >= maxBatch || len(l.flushes) > 0
}

// moveSome moves up to 4*maxBatch waiting events in one transaction that
// also records how far the journal was moved; it returns how many it
// moved (0: none was waiting). A journal whose events are all moved is
// emptied when it has grown large, and when the log stops.
func (l *Log) moveSome(stopping bool) (int, error) {
	l.moveMu.Lock()
	items := l.toMove
	if len(items) > 4*maxBatch {
		items = items[:4*maxBatch]
	}
	l.moveMu.Unlock()
	if len(items) == 0 {
		return 0, nil
	}
	last := items[len(items)-1]
	batch := make([]*pending, 0, len(items))
	ctx := context.Background()
	err := l.store.Update(ctx, func(tx store.Tx) error {
		gen, moved, err := tx.AuditJournalMark(ctx)
		if err != nil {
			return err
		}
		batch = batch[:0]
		for _, it := range items {
			// Already in the store (a replay after the move's commit
			// was not seen), or of a generation the store does not
			// take (see journal.claim): skipped, never appended twice.
			if it.gen != gen || it.end <= moved {
				continue
			}
			batch = append(batch, it.p)
		}
		if err := l.chain(ctx, tx, batch); err != nil {
			return err
		}
		return tx.SetAuditJournalMark(ctx, last.gen, last.end)
	})
	if err != nil {
		return len(items), err
	}
	if len(batch) > 0 {
		l.head = head{Seq: batch[len(batch)-1].e.Seq, Hash: batch[len(batch)-1].e.Hash}
		l.publishHead(l.head)
	}
	for _, p := range batch {
		l.logRecorded(context.Background(), p.e)
	}
	l.moveMu.Lock()
	l.toMove = l.toMove[len(items):]
	l.movedCount += int64(len(items))
	empty := len(l.toMove) == 0
	if empty {
		l.toMove = nil
	}
	l.moveMu.Unlock()
	l.answerFlushes(nil)
	if empty {
		if err := l.journal.emptyIf(last.gen, last.end, stopping); err != nil {
			l.log.Error("the audit journal could not be emptied (its events are in the store)", "error_type", fmt.Sprintf("%T", err))
		}
	}
	return len(items), nil
}

// flushReq is a reader waiting until the events journalled before it
// asked (the first target of them) are in the store.
type flushReq struct {
	target int64
	c      chan error
}

// answerFlushes answers the readers whose events are moved, or every
// reader with err.
func (l *Log) answerFlushes(err error) {
	l.moveMu.Lock()
	var keep []flushReq
	var answer []flushReq
	for _, f := range l.flushes {
		if err != nil || f.target <= l.movedCount {
			answer = append(answer, f)
		} else {
			keep = append(keep, f)
		}
	}
	l.flushes = keep
	l.moveMu.Unlock()
	for _, f := range answer {
		f.c <- err
	}
}

// flush waits until the events journalled before the call are in the
// store, so that a read of the trail sees every acknowledged event.
func (l *Log) flush(ctx context.Context) error {
	if l.journal == nil {
		return nil
	}
	f := flushReq{c: make(chan error, 1)}
	l.moveMu.Lock()
	f.target = l.journalled
	if f.target <= l.movedCount {
		l.moveMu.Unlock()
		return nil
	}
	l.flushes = append(l.flushes, f)
	l.moveMu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-f.c:
		if err != nil {
			return fmt.Errorf("audit: events not yet moved into the store: %w", err)
		}
		return nil
	case <-l.moved:
		// The mover stopped: with every event moved, or leaving some in
		// the journal for the next start (the store failed).
		l.moveMu.Lock()
		done := l.movedCount >= f.target
		l.moveMu.Unlock()
		if !done {
			return errors.New("audit: events not yet moved into the store: the log is closed (the next start moves them)")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

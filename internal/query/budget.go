package query

import (
	"context"
	"errors"
	"slices"

	"github.com/querygate/querygate/internal/connect"
)

// The connection budget of a datasource.
//
// A connector never holds more connections than the MaxConns it was built
// with (the connect.Config contract), and a connector's connections are
// all closed once its Close has returned. So the service makes every
// connector of a datasource hold slots of that datasource's budget, as many
// as its MaxConns, from before it is built until after its Close has
// returned: the shared pool holds Limits.MaxConns, each device pool
// Limits.DeviceConns, each connection test (and unlock) one. The slots of
// one datasource never exceed Limits.MaxConns, so neither do the server
// connections this replica holds to it, idle ones included, whatever the
// number of devices, unlocks or parallel queries.
//
// A connector that cannot get its slots waits, in order of arrival, until
// its caller's context ends. Meanwhile pools of that datasource are
// retired to free slots: idle ones first (least recently used first), then
// busy device pools, which are closed as soon as their running queries
// end, so that one device cannot keep the others out. A busy shared pool
// is not retired: only connection tests compete with it, and they wait
// until it is idle. A retired pool takes no new query; the next query of
// its device builds a new pool, queued behind the waiters.

// budget is the connection allowance of one datasource. Its fields are
// guarded by Service.mu.
type budget struct {
	free    int           // slots nobody holds
	pending int           // slots of retired pools, back when they have closed
	waiters []*slotWaiter // in order of arrival
}

// slotWaiter is a connector waiting for n slots.
type slotWaiter struct {
	n     int
	ready chan struct{} // closed when the slots are granted
}

// budgetLocked returns the budget of a datasource, making a full one.
func (s *Service) budgetLocked(dsID string) *budget {
	b, ok := s.budgets[dsID]
	if !ok {
		b = &budget{free: s.limits.MaxConns}
		s.budgets[dsID] = b
	}
	return b
}

// acquireSlots takes n slots of the datasource's budget, waiting for them
// until ctx ends.
func (s *Service) acquireSlots(ctx context.Context, dsID string, n int) error {
	s.mu.Lock()
	b := s.budgetLocked(dsID)
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	s.reclaimLocked(dsID, b)
	s.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.ready:
		b.free += n // granted as the context ended: hand them on
	default:
		b.waiters = slices.DeleteFunc(b.waiters, func(x *slotWaiter) bool { return x == w })
	}
	s.grantLocked(dsID, b)
	return s.busyError(ctx)
}

// busyError is the answer to a caller whose context ended while it waited
// for a connection slot.
func (s *Service) busyError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return connect.Errorf(connect.ETIMEOUT, "No connection to this datasource came free in time: the gateway holds at most %d connections to one datasource (--pool-max-conns), and they were all in use.", s.limits.MaxConns)
	}
	return connect.Errorf(connect.ECANCELED, "The query was cancelled while it waited for a connection to the datasource.")
}

// releaseSlots gives n slots back.
func (s *Service) releaseSlots(dsID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgetLocked(dsID)
	b.free += n
	s.grantLocked(dsID, b)
}

// grantLocked wakes the waiters that now fit, in order, and forgets a
// budget that is whole again.
func (s *Service) grantLocked(dsID string, b *budget) {
	for len(b.waiters) > 0 && b.free >= b.waiters[0].n {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.free -= w.n
		close(w.ready)
	}
	if len(b.waiters) == 0 && b.pending == 0 && b.free >= s.limits.MaxConns {
		delete(s.budgets, dsID)
	}
}

// reclaimLocked retires pools of the datasource until the slots coming
// back cover the waiters: idle pools first, then busy device pools, least
// recently used first.
func (s *Service) reclaimLocked(dsID string, b *budget) {
	need := -b.free - b.pending
	for _, w := range b.waiters {
		need += w.n
	}
	if need <= 0 {
		return
	}
	var idle, busy []*pool
	for _, p := range s.pools {
		switch {
		case p.dsID != dsID || p.conn == nil:
			// another datasource's, or still being built (it holds no slot yet)
		case p.active == 0:
			idle = append(idle, p)
		case p.device:
			busy = append(busy, p)
		}
	}
	byUse := func(a, b *pool) int { return a.lastUsed.Compare(b.lastUsed) }
	slices.SortFunc(idle, byUse)
	slices.SortFunc(busy, byUse)
	for _, p := range append(idle, busy...) {
		if need <= 0 {
			return
		}
		s.retireLocked(p)
		need -= p.slots
	}
}

// retireLocked takes a pool out of use: no new query gets it, and it is
// closed (and its slots given back) once its running queries have ended.
func (s *Service) retireLocked(p *pool) {
	if cur, ok := s.pools[p.key]; ok && cur == p {
		delete(s.pools, p.key)
	}
	if p.retired {
		return
	}
	p.retired = true
	if p.conn == nil {
		return // being built: its builder uses it once and closes it
	}
	s.budgetLocked(p.dsID).pending += p.slots
	if p.active == 0 {
		s.closeLocked(p)
	}
}

// closeLocked closes a retired pool in the background and gives its slots
// back once its connections are closed.
func (s *Service) closeLocked(p *pool) {
	if p.closed {
		return
	}
	p.closed = true
	delete(s.live, p)
	if s.shut {
		go p.conn.Close() // Close has returned: no budget to give back to
		return
	}
	s.closing.Go(func() {
		p.conn.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		b := s.budgetLocked(p.dsID)
		b.pending -= p.slots
		b.free += p.slots
		s.grantLocked(p.dsID, b)
	})
}

// poolSlots is how many connections (and slots) a pool gets.
func (s *Service) poolSlots(dev *Device) int {
	if dev != nil {
		return min(s.limits.DeviceConns, s.limits.MaxConns)
	}
	return s.limits.MaxConns
}

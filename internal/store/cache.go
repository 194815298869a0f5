package store

import "sync"

// Cache keeps copies of what was read from a store for as long as the
// store's change sequence (Store.ChangeSeq) stays the number read before
// they were loaded. It never decides anything itself: a caller reads the
// sequence, asks Get with it, and on a miss loads from the store and Puts
// the copy under the same number. A copy is thus never used once any
// change has been committed after its number was read (as far as the
// sequence shows: see ChangeSeq). Misses (not found) are not kept.
type Cache[K comparable, V any] struct {
	mu  sync.Mutex
	seq int64
	m   map[K]V
	max int
}

// NewCache returns a cache of at most max entries (it is emptied when
// full).
func NewCache[K comparable, V any](max int) *Cache[K, V] {
	return &Cache[K, V]{m: map[K]V{}, max: max}
}

// Get returns the copy kept for k if it was loaded under seq. A different
// seq empties the cache.
func (c *Cache[K, V]) Get(seq int64, k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq != c.seq {
		clear(c.m)
		c.seq = seq
		var zero V
		return zero, false
	}
	v, ok := c.m[k]
	return v, ok
}

// Put keeps v for k, loaded after the change sequence read seq. A copy
// loaded under an older number than the cache's is dropped.
func (c *Cache[K, V]) Put(seq int64, k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq != c.seq {
		if seq < c.seq {
			return
		}
		clear(c.m)
		c.seq = seq
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = v
}

// Delete forgets the copy kept for k.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

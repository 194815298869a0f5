package storetest

import (
	"context"
	"sync/atomic"

	"github.com/querygate/querygate/internal/store"
)

// Counting is a real store that counts its read transactions, so that a
// test can tell whether a service answered from memory.
type Counting struct {
	store.Store
	Views atomic.Int64
}

var _ store.Store = (*Counting)(nil)

// View counts the read transaction and runs it on the store.
func (c *Counting) View(ctx context.Context, fn func(store.Tx) error) error {
	c.Views.Add(1)
	return c.Store.View(ctx, fn)
}

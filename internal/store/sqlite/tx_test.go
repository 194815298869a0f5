package sqlite_test

import (
	"testing"

	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/storetest"
)

// TestContract runs the store contract on fresh SQLite files.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return MustOpen(t, "") })
}

var (
	MustUpdate = storetest.MustUpdate
	MustView   = storetest.MustView
	wantCode   = storetest.WantCode
)

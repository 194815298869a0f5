package mysql_test

import (
	"testing"
	"time"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/testenv"
)

// TestMaxConnsHoldsWithKill: connect.Config.MaxConns is the most
// connections a connector holds (the per-datasource budget counts on it).
// A statement stopped at the row limit takes no connection of its own to
// be stopped, and no KILL connection stays open beside the pool's.
func TestMaxConnsHoldsWithKill(t *testing.T) {
	s := MustServer(t)
	dc := &countingDialer{}
	c, _ := MustConnector(t, s, options{maxConns: 1, dial: dc.Dial})
	if _, err := c.Query(t.Context(), connect.Request{Query: "SELECT seq FROM seq_1_to_100000"}, &sink{stopAfter: 1}); err != nil {
		testenv.Skipf(t, "the test server has no seq_1_to_100000 (MariaDB's sequence engine): %v", err)
	}
	time.Sleep(500 * time.Millisecond) // let the replacement connection open
	dc.mu.Lock()
	defer dc.mu.Unlock()
	// Two dials: the statement's connection and the one that replaces it
	// (a KILL connection would be a third). The statement's socket is
	// closed by the driver's own goroutine when the statement is cut, so
	// it may still be closing when the replacement dials: the peak is not
	// checked, the dials and what stays open are.
	if dc.dials > 2 || dc.open > 1 {
		t.Errorf("MaxConns 1: %d connections open now, %d dialled (want at most the statement's and its replacement)", dc.open, dc.dials)
	}
}

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
	if dc.peak > 1 || dc.open > 1 {
		t.Errorf("MaxConns 1: %d connections open now, %d at once", dc.open, dc.peak)
	}
}

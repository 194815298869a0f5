package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// TestReadOnlyRefusesOtherEscapes: roles that get around a read-only
// transaction in ways privilegeQuery does not list. Each must be refused
// on a read-only datasource without allow_privileged_role, like the
// superuser is.
func TestReadOnlyRefusesOtherEscapes(t *testing.T) {
	s := MustServer(t)
	admin := plainConn(t, s)
	cases := []struct {
		name  string
		grant func(role string) // gives role the privilege
		// escape runs in the read-only request; it must not succeed.
		escape  string
		cleanup string
	}{
		{
			// REPLICATION: a replication slot is not transactional; a slot
			// that reserves WAL survives the rolled-back read-only
			// transaction and keeps WAL on the server's disk forever.
			name:    "replication attribute",
			grant:   func(r string) { MustExec(t, admin, "ALTER ROLE "+r+" REPLICATION") },
			escape:  "SELECT pg_create_physical_replication_slot('qg_review_slot', true)::text",
			cleanup: "SELECT pg_drop_replication_slot('qg_review_slot') FROM pg_replication_slots WHERE slot_name = 'qg_review_slot'",
		},
		{
			// A file function under another signature than the listed ones.
			name: "pg_read_file(text,bigint,bigint,boolean)",
			grant: func(r string) {
				MustExec(t, admin, "GRANT EXECUTE ON FUNCTION pg_read_file(text,bigint,bigint,boolean) TO "+r)
			},
			escape: "SELECT pg_read_file('PG_VERSION', 0, 100, false)",
		},
		{
			// pg_signal_backend: terminate other sessions of the database.
			name:   "pg_signal_backend",
			grant:  func(r string) { MustExec(t, admin, "GRANT pg_signal_backend TO "+r) },
			escape: "SELECT pg_cancel_backend(pg_backend_pid())::text",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRole(t, admin)
			tc.grant(r)
			if tc.cleanup != "" {
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					admin.Exec(ctx, tc.cleanup)
				})
			}
			c, _ := MustConnector(t, s, options{readOnly: true, settings: map[string]any{"user": r}})
			_, err := c.Query(t.Context(), connect.Request{Query: tc.escape, ReadOnly: true}, &sink{})
			if querygate.ErrorCode(err) != connect.EPRIVILEGED {
				t.Errorf("read-only datasource, role with %s: %q ran (err = %v), want %s", tc.name, tc.escape, err, connect.EPRIVILEGED)
			}
		})
	}
}

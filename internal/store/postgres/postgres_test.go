package postgres_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/postgres"
	"github.com/querygate/querygate/internal/store/storetest"
	"github.com/querygate/querygate/internal/testenv"
)

// newDatabase is a fresh database on the test server.
func newDatabase(t *testing.T) string { return testenv.PostgresDatabase(t, "qg_store_test").String() }

func mustOpen(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestContract runs the store contract on fresh PostgreSQL databases.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return mustOpen(t, newDatabase(t)) })
}

// TestConcurrentMigrations opens one empty database from several
// "replicas" at once: each migration is applied exactly once.
func TestConcurrentMigrations(t *testing.T) {
	u := newDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			db, err := postgres.Open(t.Context(), u)
			if err == nil {
				db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n, max int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != postgres.SchemaVersion() || max != postgres.SchemaVersion() {
		t.Fatalf("schema_migrations: %d rows, max %d; want %d", n, max, postgres.SchemaVersion())
	}
}

// TestRefusesNewerSchema: a store migrated by a newer build is refused.
func TestRefusesNewerSchema(t *testing.T) {
	u := newDatabase(t)
	mustOpen(t, u).Close()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`, postgres.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(t.Context(), u); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestAuditAppendOnly: the database itself refuses to change or delete an
// audit row, even outside the application.
func TestAuditAppendOnly(t *testing.T) {
	u := newDatabase(t)
	db := mustOpen(t, u)
	storetest.MustUpdate(t, db, func(ctx context.Context, tx store.Tx) error {
		return tx.AppendAuditEvent(ctx, &store.AuditEvent{Seq: 1, At: storetest.T0, Action: "login.success", Outcome: "ok", Details: "{}", Hash: []byte{1}})
	})
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{`UPDATE audit_events SET outcome = 'forged'`, `DELETE FROM audit_events`, `TRUNCATE audit_events`} {
		if _, err := conn.Exec(t.Context(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want the append-only refusal", q, err)
		}
	}
}

// TestBadURL: an unparsable URL is refused without echoing it (it may
// hold a password); an unreachable server is EUNAVAILABLE.
func TestBadURL(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://user:s3cret-pw@[::1")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("bad URL: %v", err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("u", "s3cret-pw"), Host: "127.0.0.1:1", Path: "/x", RawQuery: "connect_timeout=2"}
	_, err = postgres.Open(t.Context(), u.String())
	if querygate.ErrorCode(err) != querygate.EUNAVAILABLE || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("unreachable: %v (code %s)", err, querygate.ErrorCode(err))
	}
}

// TestSharedChanges: two stores on one database (two replicas) see each
// other's changes through the change sequence.
func TestSharedChanges(t *testing.T) {
	u := newDatabase(t)
	storetest.SharedChanges(t, mustOpen(t, u), mustOpen(t, u))
}

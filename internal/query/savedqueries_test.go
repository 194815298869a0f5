package query

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// catalogueFixture is the query service with real datasource, saved-query
// and audit services on a SQLite metadata store, and one PostgreSQL
// datasource owned by "owner".
type catalogueFixture struct {
	svc *Service
	log *audit.Log
	d   *datasource.Datasource
}

func newCatalogueFixture(t *testing.T) *catalogueFixture {
	t.Helper()
	st, inst := mustStore(t)
	ds := datasource.NewService(datasource.ServiceOptions{Kinds: allKinds, Store: st, Envelope: inst.Envelope})
	log := audit.New(audit.Options{Store: st, Key: seal.GenerateKey()})
	t.Cleanup(log.Close)
	svc := NewService(Options{Datasources: ds, SavedQueries: savedquery.NewService(st), Audit: log, Kinds: allKinds})
	t.Cleanup(svc.Close)
	d, err := ds.Create(t.Context(), "owner", datasource.CreateInput{Name: "r", Kind: "postgres",
		Settings: map[string]json.RawMessage{"host": json.RawMessage(`"127.0.0.1"`), "database": json.RawMessage(`"d"`), "user": json.RawMessage(`"u"`)},
		Secrets:  map[string]json.RawMessage{"password": json.RawMessage(`"pw"`)}})
	if err != nil {
		t.Fatal(err)
	}
	return &catalogueFixture{svc: svc, log: log, d: d}
}

// events returns the audit events recorded since seq after, oldest first.
func (f *catalogueFixture) events(t *testing.T, after int64) []*store.AuditEvent {
	t.Helper()
	evs, err := f.log.List(context.Background(), store.AuditFilter{AfterSeq: after, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f *catalogueFixture) lastSeq(t *testing.T) int64 {
	evs, err := f.log.List(context.Background(), store.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[0].Seq
}

func actor(id, role string) accounts.Actor {
	return accounts.Actor{User: &accounts.User{ID: id, Username: id, Role: role}, Via: accounts.ViaToken, RequestID: "req-" + id}
}

// Each saved-query and grants use case authorizes on the datasource
// (a datasource the actor may not see answers not found, like a query
// that does not exist) and records exactly one audit event, for success
// and for every refusal, with the action, target and datasource the
// handlers recorded before.
func TestCatalogueUseCasesAuditOnce(t *testing.T) {
	f := newCatalogueFixture(t)
	admin, owner := actor("admin", accounts.RoleAdmin), actor("owner", accounts.RoleEditor)
	stranger, viewer := actor("stranger", accounts.RoleEditor), actor("viewer", accounts.RoleViewer)
	def := savedquery.Definition{Body: savedquery.Body{Query: "SELECT 1"}}
	var qid string

	for _, tc := range []struct {
		name                      string
		call                      func() error
		code                      string // "" for success
		action, target, dsID, out string
	}{
		{"create without datasource", func() error {
			_, err := f.svc.CreateSavedQuery(t.Context(), owner, savedquery.CreateInput{Name: "a", Definition: def})
			return err
		}, querygate.EINVALID, audit.SavedQueryCreate, "", "", querygate.EINVALID},
		{"create on an unseen datasource", func() error {
			_, err := f.svc.CreateSavedQuery(t.Context(), stranger, savedquery.CreateInput{DatasourceID: f.d.ID, Name: "a", Definition: def})
			return err
		}, querygate.ENOTFOUND, audit.SavedQueryCreate, "", "", querygate.ENOTFOUND},
		{"create, bad definition", func() error {
			_, err := f.svc.CreateSavedQuery(t.Context(), owner, savedquery.CreateInput{DatasourceID: f.d.ID, Name: "a",
				Definition: savedquery.Definition{Body: savedquery.Body{Command: []string{"GET", "k"}}}})
			return err
		}, querygate.EINVALID, audit.SavedQueryCreate, "", f.d.ID, querygate.EINVALID},
		{"create", func() error {
			q, err := f.svc.CreateSavedQuery(t.Context(), owner, savedquery.CreateInput{DatasourceID: f.d.ID, Name: "a", Definition: def})
			if err == nil {
				qid = q.ID
			}
			return err
		}, "", audit.SavedQueryCreate, "*", f.d.ID, audit.OK},
		{"update an unseen query", func() error {
			_, err := f.svc.UpdateSavedQuery(t.Context(), viewer, qid, savedquery.UpdateInput{})
			return err
		}, querygate.ENOTFOUND, audit.SavedQueryUpdate, "*", "", querygate.ENOTFOUND},
		{"update a query that does not exist", func() error {
			_, err := f.svc.UpdateSavedQuery(t.Context(), admin, "sqnope", savedquery.UpdateInput{})
			return err
		}, querygate.ENOTFOUND, audit.SavedQueryUpdate, "sqnope", "", querygate.ENOTFOUND},
		{"update", func() error {
			_, err := f.svc.UpdateSavedQuery(t.Context(), admin, qid, savedquery.UpdateInput{Body: &savedquery.Body{Query: "SELECT 2"}})
			return err
		}, "", audit.SavedQueryUpdate, "*", f.d.ID, audit.OK},
		{"import into an unseen datasource", func() error {
			_, err := f.svc.ImportSavedQueries(t.Context(), stranger, ImportInput{DatasourceID: f.d.ID, Queries: []ImportQuery{{Name: "b", Definition: def}}})
			return err
		}, querygate.ENOTFOUND, audit.SavedQueryCreate, "", "", querygate.ENOTFOUND},
		{"import of the wrong kind", func() error {
			_, err := f.svc.ImportSavedQueries(t.Context(), owner, ImportInput{DatasourceName: "r", Kind: "redis", Queries: []ImportQuery{{Name: "b", Definition: def}}})
			return err
		}, querygate.EINVALID, audit.SavedQueryCreate, "", f.d.ID, querygate.EINVALID},
		{"delete as a stranger", func() error { return f.svc.DeleteSavedQuery(t.Context(), stranger, qid) },
			querygate.ENOTFOUND, audit.SavedQueryDelete, "*", "", querygate.ENOTFOUND},
		{"delete", func() error { return f.svc.DeleteSavedQuery(t.Context(), owner, qid) },
			"", audit.SavedQueryDelete, "*", f.d.ID, audit.OK},
		{"grants as a viewer", func() error {
			_, err := f.svc.SetGrants(t.Context(), viewer, f.d.ID, nil)
			return err
		}, querygate.ENOTFOUND, audit.GrantUpdate, f.d.ID, f.d.ID, querygate.ENOTFOUND},
		{"bad grants", func() error {
			_, err := f.svc.SetGrants(t.Context(), owner, f.d.ID, []datasource.Grant{{Type: "user", ID: "viewer", Level: "root"}})
			return err
		}, querygate.EINVALID, audit.GrantUpdate, f.d.ID, f.d.ID, querygate.EINVALID},
		{"grants", func() error {
			g, err := f.svc.SetGrants(t.Context(), owner, f.d.ID, nil)
			if err == nil && (g == nil || len(g) != 0) {
				t.Errorf("grants: got %#v, want an empty list", g)
			}
			return err
		}, "", audit.GrantUpdate, f.d.ID, f.d.ID, audit.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeq(t)
			err := tc.call()
			if querygate.ErrorCode(err) != tc.code && !(tc.code == "" && err == nil) {
				t.Fatalf("got %v, want code %q", err, tc.code)
			}
			evs := f.events(t, before)
			if len(evs) != 1 {
				t.Fatalf("%d audit events, want exactly one: %+v", len(evs), evs)
			}
			e := evs[0]
			target := tc.target
			if target == "*" {
				target = qid
				if tc.name == "create" {
					target = e.Target // the new query's id, read back
				}
			}
			if e.Action != tc.action || e.Target != target || e.DatasourceID != tc.dsID || e.Outcome != tc.out {
				t.Errorf("event %s %q ds %q %s, want %s %q ds %q %s", e.Action, e.Target, e.DatasourceID, e.Outcome,
					tc.action, target, tc.dsID, tc.out)
			}
			if e.Target == "" && tc.name == "create" {
				t.Errorf("create recorded no target")
			}
		})
	}
}

package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/store"
)

// record appends an audit event for a request: the actor, the client's
// address, the request id and the outcome (err's code, or ok). Failures
// to record are logged by the audit log itself.
func (s *Server) record(r *http.Request, u *accounts.User, ev audit.Event, err error) {
	if s.audit == nil {
		return
	}
	if u != nil {
		ev.ActorID, ev.ActorName = u.ID, u.Username
	}
	ev.Remote = remoteHost(r)
	ev.RequestID = requestID(r.Context())
	ev.Outcome = audit.OK
	if err != nil {
		ev.Outcome = querygate.ErrorCode(err)
	}
	s.audit.Record(r.Context(), ev)
}

// listAudit answers GET /api/audit (admin): newest first, filtered by
// actor_id, action (a trailing "." matches a prefix), datasource_id,
// outcome, since and until (RFC 3339), paged with before (a seq) and limit.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := accounts.Authorize(u, accounts.ActionUsersManage, accounts.Resource{}); err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{ActorID: q.Get("actor_id"), Action: q.Get("action"), DatasourceID: q.Get("datasource_id"),
		Outcome: q.Get("outcome"), Limit: 100}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return querygate.FieldErrorf(p.name, "%s: must be an RFC 3339 time such as 2026-01-02T15:04:05Z", p.name)
			}
			*p.dst = t
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return querygate.FieldErrorf("before", "before: must be a positive event number")
		}
		f.BeforeSeq = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return querygate.FieldErrorf("limit", "limit: must be between 1 and 1000")
		}
		f.Limit = n
	}
	events, err := s.audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(events))
	for _, e := range events {
		out = append(out, audit.JSON(e))
	}
	resp := map[string]any{"events": out, "next_before": nil}
	if len(events) == f.Limit {
		resp["next_before"] = events[len(events)-1].Seq
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

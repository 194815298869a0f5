package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/web/kit"
)

// record appends an audit event for a request: the actor, the client's
// address, the request id and the outcome (err's code, or ok). Failures
// to record are logged by the audit log itself. It marks the request as
// audited (see audited).
func (s *Server) record(r *http.Request, u *accounts.User, ev audit.Event, err error) {
	audit.Mark(r.Context())
	if s.audit == nil {
		return
	}
	if u != nil {
		ev.ActorID, ev.ActorName = u.ID, u.Username
	}
	ev.Remote = kit.RemoteHost(r)
	ev.RequestID = kit.RequestID(r.Context())
	ev.Outcome = audit.OK
	if err != nil {
		ev.Outcome = querygate.ErrorCode(err)
	}
	s.audit.Record(r.Context(), ev)
}

// auditedAs makes every request of a route leave exactly one audit event,
// refusals included. The handler records its own events (success, and the
// failures it knows the details of); an error it returns without having
// recorded one (not found, forbidden, device locked, an invalid or too
// large body...) is recorded here, once, with the route's action, the
// actor, the route's {id} (as the datasource for /api/datasources/{id}
// routes) and the error's code as outcome. It never records the request
// body (so no query text) nor an error's text, only its code, and the
// egress policy's safe message for an egress refusal.
//
// Use cases (query.Service.Run, ...) record their own refusals; this
// covers the routes whose handlers do not go through one yet.
func (s *Server) auditedAs(action string) func(kit.UserHandlerFunc) kit.UserHandlerFunc {
	return func(h kit.UserHandlerFunc) kit.UserHandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
			r = r.WithContext(audit.WithMark(r.Context()))
			err := h(w, r, u)
			if err != nil && !audit.Marked(r.Context()) {
				ev := audit.Event{Action: action, Target: auditID(r.PathValue("id")), Details: map[string]any{}}
				if strings.HasPrefix(r.Pattern, r.Method+" /api/datasources/{id}") {
					ev.DatasourceID = ev.Target
				}
				egressDetail(ev.Details, err)
				s.record(r, u, ev, err)
			}
			return err
		}
	}
}

// auditID is a route's {id} as a refusal records it (audit.ClientID).
func auditID(id string) string { return audit.ClientID(id) }

// listAudit answers GET /api/audit (admin): newest first, filtered by
// actor_id, action (a trailing "." matches a prefix), datasource_id,
// outcome, since and until (RFC 3339), paged with before (a seq) and limit.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	q := r.URL.Query()
	f := audit.Filter{ActorID: q.Get("actor_id"), Action: q.Get("action"), DatasourceID: q.Get("datasource_id"),
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
	kit.WriteJSON(w, http.StatusOK, resp)
	return nil
}

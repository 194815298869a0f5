package query

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/egress"
)

// This file holds the use cases of the PostgreSQL wire protocol front end
// (package pgwire): opening a wire session on a datasource, and each
// statement relayed in it. They follow the model of Run: authorize,
// validate for the kind, unseal, connect through the egress dialer, and
// one audit event for the session's opening (or its refusal) and one for
// each statement.

// WireKinds are the kinds served over the wire protocol.
var WireKinds = []string{postgres.Name}

// WireSession is one wire client's session on one PostgreSQL datasource:
// a dedicated server connection, never pooled nor shared, closed by Close.
type WireSession struct {
	s       *Service
	a       accounts.Actor
	d       *datasource.Datasource
	conn    *postgres.Wire
	secrets *connect.Detector
	release func() // the connection's slot of the datasource's budget
	tunnel  func() error
	// prove proves the actor again (its token still valid), and checked
	// is when the actor's access was last checked (see Statement).
	prove   func(context.Context) (*accounts.User, error)
	checked time.Time
	// audits bounds the statements' audit writes in flight: a statement
	// does not wait for its own (the answer is not held back by the
	// store), but a session cannot run ahead of the audit trail by more
	// than cap(audits); Close waits for them all.
	audits chan struct{}
}

// maxAuditsInFlight is cap(WireSession.audits).
const maxAuditsInFlight = 32

// errWireKind answers a datasource of a kind the wire protocol does not
// serve.
func errWireKind(k string) error {
	return querygate.Errorf(querygate.EINVALID, "This is a %s datasource; the PostgreSQL wire protocol serves %s datasources only. Use the HTTP API for it.",
		k, strings.Join(WireKinds, ", "))
}

// OpenWire is the use case of a wire client connecting (pgwire): the actor
// opens a session on the datasource named (its name, or its id when names
// are shared), with the client's startup parameters (only presentation
// settings are passed on). It needs the use grant: a wire session runs any
// statement. prove proves the actor again (by its token) while the session
// lasts. One audit event records the opening or its refusal.
func (s *Service) OpenWire(ctx context.Context, a accounts.Actor, name string, params map[string]string, prove func(context.Context) (*accounts.User, error)) (*WireSession, error) {
	ev := audit.Event{Action: audit.WireConnect, Details: map[string]any{"via": "pgwire"}}
	ws, err := s.openWire(ctx, a, name, params, &ev)
	if ws != nil {
		ws.prove, ws.checked = prove, time.Now()
	}
	s.record(ctx, a, ev, err)
	if err != nil {
		s.log.InfoContext(ctx, "wire session refused", "request_id", a.RequestID, "user_id", a.UserID(), "outcome", querygate.ErrorCode(err))
		return nil, err
	}
	return ws, nil
}

func (s *Service) openWire(ctx context.Context, a accounts.Actor, name string, params map[string]string, ev *audit.Event) (*WireSession, error) {
	if a.User == nil {
		return nil, errSignIn
	}
	id, err := s.wireDatasource(ctx, a, name)
	if err != nil {
		return nil, err
	}
	ev.Target, ev.DatasourceID = id, id
	d, err := s.Authorize(ctx, a, id, accounts.ActionDatasourceRead)
	if err != nil {
		return nil, err
	}
	ev.Details["kind"] = d.Kind
	if _, err := s.Authorize(ctx, a, id, accounts.ActionDatasourceUse); err != nil {
		if querygate.ErrorCode(err) == querygate.EFORBIDDEN {
			return nil, querygate.Errorf(querygate.EFORBIDDEN, "Your grant on this datasource runs its saved queries only; a wire client sends any statement, which needs the use grant.")
		}
		return nil, err
	}
	if d.Kind != postgres.Name {
		return nil, errWireKind(d.Kind)
	}
	if d.Custody == datasource.CustodyDevice {
		return nil, querygate.Errorf(querygate.EDEVICELOCKED, "This datasource's password is kept on its users' devices (device custody) and reaches the gateway only with a device's cookie, which a wire client cannot bring; use it in the browser.")
	}
	cfg, _, secrets, err := s.config(ctx, d, nil)
	if err != nil {
		return nil, err
	}
	// The dedicated connection holds a slot of the datasource's
	// connection budget for as long as the session lasts.
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.acquireSlots(actx, d.ID, 1); err != nil {
		return nil, err
	}
	ws := &WireSession{s: s, a: a, d: d, audits: make(chan struct{}, maxAuditsInFlight), release: func() { s.releaseSlots(d.ID, 1) }, secrets: &connect.Detector{}}
	for _, v := range secrets.Values() {
		ws.secrets.Add(v.Reveal())
	}
	if cfg.Tunnel != nil {
		t, err := egress.NewTunnel(cfg.Tunnel, cfg.Dial, s.egress.CheckNamed, 3)
		if err != nil {
			ws.release()
			return nil, ws.check(err)
		}
		cfg.Dial, ws.tunnel = t.Dial, t.Close
	}
	ws.conn, err = postgres.OpenWire(ctx, cfg, postgres.WireOptions{Params: params, KeepText: s.auditText,
		StatementTimeout: s.limits.DefaultTimeout, MaxTimeout: s.limits.MaxTimeout})
	if err != nil {
		ws.Close()
		return nil, s.localTLSHint(d, ws.check(err))
	}
	ev.Details["read_only"] = d.ReadOnly
	return ws, nil
}

// wireDatasource finds the datasource a wire client names: by id, or by
// name among those the actor may see.
func (s *Service) wireDatasource(ctx context.Context, a accounts.Actor, name string) (string, error) {
	if name == "" {
		return "", querygate.Errorf(querygate.EINVALID, "Name a datasource as the database.")
	}
	if d, err := s.datasources.Find(ctx, name); err == nil {
		return d.ID, nil
	}
	list, err := s.datasources.List(ctx)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, d := range list {
		if d.Name != name {
			continue
		}
		if _, err := s.Authorize(ctx, a, d.ID, accounts.ActionDatasourceRead); err == nil {
			ids = append(ids, d.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", errDatasourceNotFound
	case 1:
		return ids[0], nil
	}
	sort.Strings(ids)
	return "", querygate.Errorf(querygate.EINVALID, "Several datasources are named %q: name one by its id as the database (%s).", name, strings.Join(ids, ", "))
}

// check withholds an error message that holds one of the datasource's
// secrets (see shield).
func (w *WireSession) check(err error) error {
	if err == nil || !w.secrets.Contains([]byte(querygate.ErrorMessage(err))) {
		return err
	}
	return querygate.Errorf(querygate.ErrorCode(err), "The datasource's message was withheld: it held one of this datasource's secrets.")
}

// ParameterStatuses are the server's session parameters, for the client.
func (w *WireSession) ParameterStatuses() map[string]string {
	out := w.conn.ParameterStatuses()
	for k, v := range out {
		if !w.Safe(v) {
			delete(out, k)
		}
	}
	return out
}

// Serve relays the client's messages (a *pgproto3.Backend) until it ends
// the session.
func (w *WireSession) Serve(ctx context.Context, client postgres.WireClient) error {
	return w.conn.Relay(ctx, client, w)
}

// Cancel cancels the statement running in the session at the server.
func (w *WireSession) Cancel(ctx context.Context) error { return w.conn.Cancel(ctx) }

// Close closes the server connection and waits for the last audit write.
func (w *WireSession) Close() {
	if w.conn != nil {
		w.conn.Close()
	}
	if w.tunnel != nil {
		w.tunnel()
	}
	for range cap(w.audits) {
		w.audits <- struct{}{}
	}
	w.release()
}

// Recorded implements postgres.WireHooks: it waits for the audit writes
// in flight, so that the client's ReadyForQuery, which acknowledges the
// statements, comes only once their events are recorded (their writes
// overlap with relaying the answers, not with the next statement).
func (w *WireSession) Recorded() {
	for range cap(w.audits) {
		w.audits <- struct{}{}
	}
	for range cap(w.audits) {
		<-w.audits
	}
}

// Safe implements postgres.WireHooks.
func (w *WireSession) Safe(text string) bool {
	return text == "" || !w.secrets.Contains([]byte(text))
}

// recheckEvery is how often a wire session's access is checked again: a
// revoked token or grant, a deleted or demoted user, a changed or deleted
// datasource end the session at its next statement after at most this.
const recheckEvery = time.Second

// Statement implements postgres.WireHooks: it checks that the actor may
// still use the datasource as it was when the session opened (at most
// every recheckEvery), and returns the statement's row limit and audit
// event. A refusal is the statement's audit event and ends the session.
func (w *WireSession) Statement(text string) (postgres.WireStatement, error) {
	st := &wireStatement{w: w, text: text, start: time.Now(), limit: w.s.limits.MaxRows}
	if time.Since(w.checked) >= recheckEvery {
		if err := w.recheck(); err != nil {
			st.Done("", err)
			return nil, err
		}
		w.checked = time.Now()
	}
	return st, nil
}

// recheck proves the actor again and authorizes the use of the datasource,
// which must not have changed since the session opened.
func (w *WireSession) recheck() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if w.prove != nil {
		u, err := w.prove(ctx)
		if err != nil {
			return querygate.Errorf(querygate.EUNAUTHORIZED, "Your API token is no longer valid; the session ends.")
		}
		w.a.User = u
	}
	d, err := w.s.Authorize(ctx, w.a, w.d.ID, accounts.ActionDatasourceUse)
	if err != nil {
		return querygate.Errorf(querygate.ErrorCode(err), "You may no longer use this datasource; the session ends.")
	}
	if !d.UpdatedAt.Equal(w.d.UpdatedAt) {
		return querygate.Errorf(querygate.ECONFLICT, "The datasource was changed; connect again to use it as it is now.")
	}
	return nil
}

type wireStatement struct {
	w     *WireSession
	text  string
	start time.Time
	rows  int64
	limit int64
}

func (st *wireStatement) Row() error {
	st.rows++
	if st.rows > st.limit {
		st.rows--
		return querygate.Errorf(querygate.ETOOLARGE, "The result has more than %d rows, the most the operator allows (--row-limit-max); the statement was stopped.", st.limit)
	}
	return nil
}

// Done records the statement's one audit event, in the background (see
// WireSession.audits); the ReadyForQuery after it waits for the write
// (Recorded).
func (st *wireStatement) Done(tag string, err error) {
	w := st.w
	elapsed := time.Since(st.start)
	ev := audit.Event{Action: audit.Query, Target: w.d.ID, DatasourceID: w.d.ID, Details: map[string]any{
		"kind": w.d.Kind, "via": "pgwire", "rows": st.rows, "duration_ms": elapsed.Milliseconds()}}
	if w.s.auditText {
		ev.Details["query"] = st.text
	}
	if tag != "" {
		ev.Details["command"] = strings.SplitN(tag, " ", 2)[0]
	}
	outcome := "ok"
	if err != nil {
		outcome = querygate.ErrorCode(err)
	}
	if w.s.metrics != nil {
		w.s.metrics.Query(w.d.Kind, outcome, elapsed, st.rows, 0)
	}
	w.audits <- struct{}{}
	go func() {
		defer func() { <-w.audits }()
		w.s.record(context.Background(), w.a, ev, err)
	}()
}

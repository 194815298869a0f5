package query

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/reqlog"
	"github.com/querygate/querygate/internal/seal"
)

// This file holds the use cases of running things on a datasource: an
// ad-hoc query, a connection test and a device unlock (saved-query runs
// are in saved.go). Each takes the actor and does, in this one place:
// authorize, open the device credential, validate the request for the
// kind, unseal, connect, stream or encode, and record exactly one audit
// event, for success and for every refusal (P14). Front ends (the HTTP
// API, the pages, the PostgreSQL wire protocol) only decode, call and
// encode.

// maxConcurrentTests bounds the connection tests and device unlocks
// running at once: each opens a fresh connection outside the pools.
const maxConcurrentTests = 8

// Input is a query as a client sends it (DESIGN section 5), before it is
// read for the datasource's kind: Query is the statement text (a JSON
// string) for the SQL kinds and the URL query object for HTTP ones;
// Command is a Redis command; Method, Path, Headers and Body are an HTTP
// request.
type Input struct {
	Query     json.RawMessage
	Params    []any
	Command   []string
	Method    string
	Path      *string
	Headers   map[string]string
	Body      json.RawMessage
	Limit     int64
	TimeoutMS int64
	// ReadOnlyOnly refuses (EFORBIDDEN) a datasource not marked read-only:
	// a front end that lets ad-hoc statements run only where the
	// datasource enforces read-only sets it (MCP's run_sql).
	ReadOnlyOnly bool
}

// errNotReadOnly refuses an ad-hoc query asked with ReadOnlyOnly on a
// datasource that is not read-only.
var errNotReadOnly = querygate.Errorf(querygate.EFORBIDDEN,
	"This front end sends ad-hoc statements only to read-only datasources, and this datasource is not read-only.")

// request reads in for a datasource whose requests have that shape.
func (in *Input) request(shape kind.Shape) (Request, error) {
	out := Request{Params: in.Params, Command: in.Command, Limit: in.Limit,
		Timeout: time.Duration(in.TimeoutMS) * time.Millisecond}
	if in.TimeoutMS < 0 {
		return out, querygate.FieldErrorf("timeout_ms", "timeout_ms: must not be negative")
	}
	if shape == kind.HTTP {
		h := &connect.HTTPRequest{Method: in.Method, Headers: in.Headers, Body: in.Body}
		if in.Path != nil {
			h.Path = *in.Path
		}
		v, err := urlValues(in.Query)
		if err != nil {
			return out, err
		}
		h.Query = v
		out.HTTP = h
		return out, nil
	}
	if in.Method != "" || in.Path != nil || in.Headers != nil || in.Body != nil {
		return out, querygate.FieldErrorf("method", "method, path, headers and body are only for HTTP datasources")
	}
	if len(in.Query) > 0 && string(in.Query) != "null" {
		if err := json.Unmarshal(in.Query, &out.Query); err != nil {
			return out, querygate.FieldErrorf("query", "query: must be a string")
		}
	}
	return out, nil
}

// urlValues reads an HTTP request's "query" object: each value a string,
// number or boolean, or an array of them.
func urlValues(raw json.RawMessage) (url.Values, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, querygate.FieldErrorf("query", "query: must be an object of names and values")
	}
	out := url.Values{}
	scalar := func(name string, v any) (string, error) {
		switch v := v.(type) {
		case string:
			return v, nil
		case json.Number:
			return v.String(), nil
		case bool:
			return strconv.FormatBool(v), nil
		}
		return "", querygate.FieldErrorf("query", "query.%s: must be a string, number or boolean, or an array of them", name)
	}
	for name, v := range m {
		if list, ok := v.([]any); ok {
			for _, item := range list {
				s, err := scalar(name, item)
				if err != nil {
					return nil, err
				}
				out.Add(name, s)
			}
			continue
		}
		s, err := scalar(name, v)
		if err != nil {
			return nil, err
		}
		out.Add(name, s)
	}
	return out, nil
}

// errSignIn refuses a use case without a user.
var errSignIn = querygate.Errorf(querygate.EUNAUTHORIZED, "Sign in first.")

// errDatasourceNotFound answers a datasource that does not exist or that
// the actor may not see: the same answer, so existence is not confirmed.
var errDatasourceNotFound = querygate.Errorf(querygate.ENOTFOUND, "Datasource not found.")

// Authorize loads datasource id and checks that the actor may do a on it:
// the one place where the use cases decide access to a datasource. A
// datasource the actor may not read is ENOTFOUND.
func (s *Service) Authorize(ctx context.Context, a accounts.Actor, id string, act accounts.Action) (*datasource.Datasource, error) {
	if a.User == nil {
		return nil, errSignIn
	}
	d, err := s.datasources.Find(ctx, id)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, errDatasourceNotFound
	} else if err != nil {
		return nil, err
	}
	res, err := s.Resource(ctx, a, d)
	if err != nil {
		return nil, err
	}
	if accounts.Authorize(a.User, accounts.ActionDatasourceRead, res) != nil {
		return nil, errDatasourceNotFound
	}
	if err := accounts.Authorize(a.User, act, res); err != nil {
		return nil, err
	}
	return d, nil
}

// Resource describes datasource d for accounts.Authorize, with the
// actor's grant level on it (their own or through a group).
func (s *Service) Resource(ctx context.Context, a accounts.Actor, d *datasource.Datasource) (accounts.Resource, error) {
	res := accounts.Resource{DatasourceID: d.ID, OwnerID: d.OwnerID}
	if a.User == nil || a.User.Role == accounts.RoleAdmin {
		return res, nil
	}
	levels, err := s.datasources.Levels(ctx, a.User.ID, d.ID)
	if err != nil {
		return res, err
	}
	res.Level = levels[d.ID]
	return res, nil
}

// Visible is a datasource the actor may see, with what their role and
// grants give them on it.
type Visible struct {
	*datasource.Datasource
	Resource accounts.Resource
}

// May reports whether u may do act on the datasource.
func (v Visible) May(u *accounts.User, act accounts.Action) bool {
	return accounts.Authorize(u, act, v.Resource) == nil
}

// VisibleDatasources lists the datasources the actor may see, by name,
// with their grant levels: the one place that filters a list by access.
func (s *Service) VisibleDatasources(ctx context.Context, a accounts.Actor) ([]Visible, error) {
	if a.User == nil {
		return nil, errSignIn
	}
	if err := accounts.Authorize(a.User, accounts.ActionDatasourceList, accounts.Resource{}); err != nil {
		return nil, err
	}
	list, err := s.datasources.List(ctx)
	if err != nil {
		return nil, err
	}
	levels, err := s.datasources.Levels(ctx, a.User.ID, "")
	if err != nil {
		return nil, err
	}
	out := []Visible{}
	for _, d := range list {
		v := Visible{Datasource: d, Resource: accounts.Resource{DatasourceID: d.ID, OwnerID: d.OwnerID, Level: levels[d.ID]}}
		if v.May(a.User, accounts.ActionDatasourceRead) {
			out = append(out, v)
		}
	}
	return out, nil
}

// DeviceKeys gives the device key the actor's device brought for a
// datasource (for the HTTP front end, the value of the datasource's device
// cookie), or "" for none. A nil DeviceKeys brings none.
type DeviceKeys func(datasourceID string) string

// openDevice opens the actor's device credential for a device-custody
// datasource from the key its device brought; for any other datasource it
// returns nil.
func (s *Service) openDevice(ctx context.Context, a accounts.Actor, d *datasource.Datasource, keys DeviceKeys) (*Device, error) {
	if d.Custody != datasource.CustodyDevice {
		return nil, nil
	}
	key := ""
	if keys != nil {
		key = keys(d.ID)
	}
	if key == "" || s.devices == nil {
		return nil, device.Locked()
	}
	cred, err := s.devices.Open(ctx, a.UserID(), d.ID, key)
	if err != nil {
		return nil, err
	}
	return &Device{ID: cred.ID, Password: cred.Password}, nil
}

// record appends ev for the actor with err's code as outcome (or ok), and
// marks ctx as audited (audit.Marked). It returns the error of a write
// that failed.
func (s *Service) record(ctx context.Context, a accounts.Actor, ev audit.Event, err error) error {
	return audit.RecordOutcome(ctx, s.recorder(), a.Who(), ev, err)
}

// Run is the query use case (POST /api/datasources/{id}/query): the actor
// runs in on datasource dsID, with the device key (for device custody)
// brought by keys, and the result streams to out. It needs the use grant.
// Exactly one audit event is recorded, whatever happens; the query text
// is in it only with --audit-query-text.
func (s *Service) Run(ctx context.Context, a accounts.Actor, dsID string, in Input, keys DeviceKeys, out Output) (Summary, error) {
	ev := audit.Event{Action: audit.Query, Target: audit.ClientID(dsID), DatasourceID: audit.ClientID(dsID), Details: map[string]any{}}
	d, err := s.Authorize(ctx, a, dsID, accounts.ActionDatasourceUse)
	if err == nil && in.ReadOnlyOnly && !d.ReadOnly {
		err = errNotReadOnly
	}
	if err != nil {
		s.record(ctx, a, ev, err)
		return Summary{}, &notStarted{err}
	}
	req, err := in.request(s.shape(d.Kind))
	if err != nil {
		s.record(ctx, a, ev, err)
		return Summary{}, &notStarted{err}
	}
	if s.auditText {
		ev.Details["query"] = auditText(req)
	}
	if req.Device, err = s.openDevice(ctx, a, d, keys); err != nil {
		s.record(ctx, a, ev, err)
		return Summary{}, &notStarted{err}
	}
	return s.stream(ctx, a, d, req, ev, out)
}

// stream runs req on d (already authorized), records ev completed with the
// summary, counts the query in the metrics and logs its metadata, on the
// request's own line when the front end writes one (reqlog), else on a
// line of its own.
//
// The stream's last line (done, or the error) is what acknowledges the
// request to the client, so it is written only once ev is durable: an
// acknowledged query's event survives a crash. Until then the result
// waits in the encoder (a small one whole, so that it goes out in one
// write). When the event cannot be recorded, the stream ends with an
// error instead of its done line.
func (s *Service) stream(ctx context.Context, a accounts.Actor, d *datasource.Datasource, req Request, ev audit.Event, out Output) (Summary, error) {
	sum, enc, err := s.execute(ctx, d, req, out)
	outcome := "ok"
	if err != nil {
		outcome = querygate.ErrorCode(err)
	}
	if ev.Details == nil {
		ev.Details = map[string]any{}
	}
	details := ev.Details
	details["kind"], details["rows"], details["truncated"], details["bytes"] = d.Kind, sum.Rows, sum.Truncated, sum.Bytes
	details["duration_ms"] = sum.Elapsed.Milliseconds()
	if sum.RowsAffected > 0 {
		details["rows_affected"] = sum.RowsAffected
	}
	recErr := s.record(ctx, a, ev, err)
	if enc != nil {
		if recErr != nil && err == nil {
			err = errNotRecorded
		}
		if endErr := enc.end(enc.last(sum, err), err != nil); err == nil {
			err = endErr
		}
	}
	if s.metrics != nil {
		s.metrics.Query(d.Kind, outcome, sum.Elapsed, sum.Rows, sum.Bytes)
	}
	// Metadata only: never the query text, a parameter or a value.
	attrs := []slog.Attr{slog.String("request_id", a.RequestID), slog.String("user_id", a.UserID()),
		slog.String("datasource_id", d.ID), slog.String("kind", d.Kind), slog.String("action", ev.Action), slog.String("target", ev.Target),
		slog.Int64("rows", sum.Rows), slog.Bool("truncated", sum.Truncated), slog.Int64("bytes", sum.Bytes),
		slog.Int64("elapsed_ms", sum.Elapsed.Milliseconds()), slog.String("outcome", outcome)}
	if !reqlog.Add(ctx, attrs[1:]...) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "query", attrs...)
	}
	return sum, err
}

// errNotRecorded ends a result whose audit event could not be written: it
// is not acknowledged.
var errNotRecorded = querygate.Errorf(querygate.EUNAVAILABLE, "The audit event of this query could not be recorded, so its result is not confirmed; try again.")

// auditText is what --audit-query-text records of a query: the statement,
// the Redis command name, or the HTTP method and path. Never parameters,
// headers or bodies, which may hold values.
func auditText(req Request) string {
	switch {
	case req.HTTP != nil:
		return req.HTTP.Method + " " + req.HTTP.Path
	case len(req.Command) > 0:
		return req.Command[0]
	}
	return req.Query
}

// testSlot takes one of the slots that bound how many fresh connections
// clients can make the gateway open at once outside the pools: connection
// tests and device unlocks share them. When all are taken it refuses at
// once rather than queue; release gives the slot back.
func (s *Service) testSlot() (release func(), err error) {
	select {
	case s.tests <- struct{}{}:
		return func() { <-s.tests }, nil
	default:
		return nil, querygate.Errorf(querygate.EUNAVAILABLE, "Too many connection tests and unlocks at once; try again in a moment.")
	}
}

// TestDatasource is the connection-test use case (POST
// /api/datasources/{id}/test): a fresh connection with the stored
// settings, for an actor with the use grant. One audit event.
func (s *Service) TestDatasource(ctx context.Context, a accounts.Actor, dsID string, keys DeviceKeys) error {
	ev := audit.Event{Action: audit.DatasourceTest, Target: audit.ClientID(dsID), DatasourceID: audit.ClientID(dsID), Details: map[string]any{}}
	err := s.testDatasource(ctx, a, dsID, keys, ev.Details)
	s.record(ctx, a, ev, err)
	if err != nil {
		s.log.InfoContext(ctx, "datasource test failed", "request_id", a.RequestID, "datasource_id", dsID, "outcome", querygate.ErrorCode(err))
	}
	return err
}

func (s *Service) testDatasource(ctx context.Context, a accounts.Actor, dsID string, keys DeviceKeys, details map[string]any) error {
	d, err := s.Authorize(ctx, a, dsID, accounts.ActionDatasourceUse)
	if err != nil {
		return err
	}
	details["kind"] = d.Kind
	dev, err := s.openDevice(ctx, a, d, keys)
	if err != nil {
		return err
	}
	release, err := s.testSlot()
	if err != nil {
		return err
	}
	defer release()
	return s.localTLSHint(d, s.test(ctx, d, dev))
}

// localTLSHint completes a TLS failure against a datasource on this
// machine (a loopback host) with what to choose there: local databases
// often have no TLS, and the default mode requires it.
func (s *Service) localTLSHint(d *datasource.Datasource, err error) error {
	if querygate.ErrorCode(err) != querygate.ETLS || s.kinds == nil {
		return err
	}
	k, ok := s.kinds.Find(d.Kind)
	if !ok || k.TLSSetting == "" || k.Destination == nil {
		return err
	}
	dest, ok := k.Destination(d.Settings)
	if !ok {
		return err
	}
	host, _, splitErr := net.SplitHostPort(dest.Addr)
	if splitErr != nil {
		return err
	}
	if ip, ipErr := netip.ParseAddr(host); host != "localhost" && (ipErr != nil || !ip.IsLoopback()) {
		return err
	}
	return querygate.Errorf(querygate.ETLS, "%s For a database on this machine without TLS, set %s to disable.", querygate.ErrorMessage(err), k.TLSSetting)
}

// Unlocked is what a device unlock gives the device: the cookie that holds
// its key, and the credential's metadata.
type Unlocked struct {
	Cookie    device.Cookie
	DeviceID  string
	ExpiresAt time.Time
}

// Unlock is the device-unlock use case (POST /api/datasources/{id}/unlock):
// it tests password against a device-custody datasource and, when it
// works, seals it with a fresh key that only this device's cookie holds.
// A wrong password stores nothing. Anyone who may see the datasource may
// unlock it: a run grant needs the key to run its saved queries, and the
// password is the person's own to bring. One audit event.
func (s *Service) Unlock(ctx context.Context, a accounts.Actor, dsID string, password seal.Secret, remember bool) (Unlocked, error) {
	ev := audit.Event{Action: audit.DeviceUnlock, Target: audit.ClientID(dsID), DatasourceID: audit.ClientID(dsID), Details: map[string]any{}}
	u, err := s.unlock(ctx, a, dsID, password, remember, &ev)
	s.record(ctx, a, ev, err)
	if err != nil {
		s.log.InfoContext(ctx, "device unlock refused", "request_id", a.RequestID, "user_id", a.UserID(),
			"datasource_id", dsID, "outcome", querygate.ErrorCode(err))
		return Unlocked{}, err
	}
	s.log.InfoContext(ctx, "device unlocked", "request_id", a.RequestID, "user_id", a.UserID(),
		"datasource_id", dsID, "device_id", u.DeviceID, "remember", remember)
	return u, nil
}

func (s *Service) unlock(ctx context.Context, a accounts.Actor, dsID string, password seal.Secret, remember bool, ev *audit.Event) (Unlocked, error) {
	d, err := s.Authorize(ctx, a, dsID, accounts.ActionDatasourceRead)
	if err != nil {
		return Unlocked{}, err
	}
	if d.Custody != datasource.CustodyDevice {
		return Unlocked{}, querygate.Errorf(querygate.EINVALID, "This datasource's secrets are kept sealed on the server; it needs no unlock.")
	}
	if password.IsZero() {
		return Unlocked{}, querygate.FieldErrorf("password", "password: must not be empty")
	}
	if len(password.Reveal()) > device.MaxPassword {
		return Unlocked{}, querygate.FieldErrorf("password", "password: at most %d bytes", device.MaxPassword)
	}
	if s.devices == nil {
		return Unlocked{}, querygate.Errorf(querygate.ENOTIMPLEMENTED, "Device custody is not available.")
	}
	// Testing the password opens a fresh connection: it takes a slot of
	// the bound on connection tests.
	release, err := s.testSlot()
	if err != nil {
		return Unlocked{}, err
	}
	defer release()
	if err := s.test(ctx, d, &Device{Password: password}); err != nil {
		return Unlocked{}, err
	}
	c, cred, forgotten, err := s.devices.Unlock(ctx, a.UserID(), d.ID, password, remember)
	if err != nil {
		return Unlocked{}, err
	}
	// Beyond device.MaxDevices the devices unused for longest were
	// forgotten: close their pools too.
	for _, id := range forgotten {
		s.ForgetDevice(d.ID, id)
	}
	ev.Target = cred.ID
	ev.Details["remember"], ev.Details["expires_at"] = remember, cred.ExpiresAt
	if len(forgotten) > 0 {
		ev.Details["forgotten"] = forgotten
		ev.Details["forgotten_reason"] = "device_limit"
	}
	return Unlocked{Cookie: c, DeviceID: cred.ID, ExpiresAt: cred.ExpiresAt}, nil
}

// recorder is the audit log the use cases record to, or nil for none.
func (s *Service) recorder() audit.Recorder {
	if s.audit == nil {
		return nil
	}
	return s.audit
}

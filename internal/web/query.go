package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/query"
)

// queryRequest is the body of a query (DESIGN section 5). "query" is the
// statement text for SQL kinds and the URL query object for HTTP ones.
type queryRequest struct {
	Query     json.RawMessage   `json:"query"`
	Params    []any             `json:"params"`
	Command   []string          `json:"command"`
	Method    string            `json:"method"`
	Path      *string           `json:"path"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	Limit     int64             `json:"limit"`
	TimeoutMS int64             `json:"timeout_ms"`
}

// toQuery reads the request for a datasource of kind.
func (q *queryRequest) toQuery(kind string) (query.Request, error) {
	out := query.Request{Params: q.Params, Command: q.Command, Limit: q.Limit,
		Timeout: time.Duration(q.TimeoutMS) * time.Millisecond}
	if q.TimeoutMS < 0 {
		return out, querygate.FieldErrorf("timeout_ms", "timeout_ms: must not be negative")
	}
	if kind == datasource.KindHTTP {
		h := &connect.HTTPRequest{Method: q.Method, Headers: q.Headers, Body: q.Body}
		if q.Path != nil {
			h.Path = *q.Path
		}
		v, err := urlValues(q.Query)
		if err != nil {
			return out, err
		}
		h.Query = v
		out.HTTP = h
		return out, nil
	}
	if q.Method != "" || q.Path != nil || q.Headers != nil || q.Body != nil {
		return out, querygate.FieldErrorf("method", "method, path, headers and body are only for HTTP datasources")
	}
	if len(q.Query) > 0 && string(q.Query) != "null" {
		if err := json.Unmarshal(q.Query, &out.Query); err != nil {
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
	for k, v := range m {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				s, err := scalar(k, e)
				if err != nil {
					return nil, err
				}
				out.Add(k, s)
			}
			continue
		}
		s, err := scalar(k, v)
		if err != nil {
			return nil, err
		}
		out.Add(k, s)
	}
	return out, nil
}

// wantsCSV reports whether the client asked for CSV (Accept: text/csv, or
// ?format=csv for a plain download link).
func wantsCSV(r *http.Request) bool {
	if r.URL.Query().Get("format") == "csv" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(mt, "text/csv") {
			return true
		}
	}
	return false
}

// runQuery streams a query result (DESIGN section 5). Nothing of the result
// is kept: rows go from the connector through one buffer to the client.
func (s *Server) runQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.findAuthorized(r, u, accounts.ActionDatasourceUse)
	if err != nil {
		return err
	}
	var body queryRequest
	if err := decode(w, r, &body); err != nil {
		return err
	}
	req, err := body.toQuery(d.Kind)
	if err != nil {
		return err
	}
	if req.Device, err = s.deviceFor(r, u, d); err != nil {
		return err
	}
	ev := audit.Event{Action: audit.Query, Target: d.ID, DatasourceID: d.ID, Details: map[string]any{}}
	if s.auditText {
		ev.Details["query"] = auditText(req)
	}
	return s.streamQuery(w, r, u, d, req, ev)
}

// streamQuery runs req on d and streams the result (DESIGN section 5), then
// records ev (its Details completed with the summary), the metric and one
// log line. Nothing of the result is kept: rows go from the connector
// through one buffer to the client. Ad-hoc and saved queries both stream
// through here.
func (s *Server) streamQuery(w http.ResponseWriter, r *http.Request, u *accounts.User, d *datasource.Datasource, req query.Request, ev audit.Event) error {
	format := query.NDJSON
	if wantsCSV(r) {
		format = query.CSV
	}
	flusher := http.NewResponseController(w)
	out := query.Output{
		Format: format, W: w,
		Flush: func() { flusher.Flush() },
		Start: func() {
			h := w.Header()
			h.Set("Content-Type", format.ContentType())
			h.Set("X-Content-Type-Options", "nosniff")
			if format == query.CSV {
				h.Set("Content-Disposition", `attachment; filename="query.csv"`)
			}
			w.WriteHeader(http.StatusOK)
		},
	}
	sum, err := s.queries.Run(r.Context(), d, req, out)
	outcome := "ok"
	if err != nil {
		outcome = querygate.ErrorCode(err)
	}
	details := ev.Details
	if details == nil {
		details = map[string]any{}
	}
	details["kind"], details["rows"], details["truncated"], details["bytes"] = d.Kind, sum.Rows, sum.Truncated, sum.Bytes
	details["duration_ms"] = sum.Elapsed.Milliseconds()
	if sum.RowsAffected > 0 {
		details["rows_affected"] = sum.RowsAffected
	}
	egressDetail(details, err)
	ev.Details = details
	s.record(r, u, ev, err)
	s.metrics.Query(d.Kind, outcome, sum.Elapsed, sum.Rows, sum.Bytes)
	// Metadata only: never the query text, a parameter or a value.
	s.log.InfoContext(r.Context(), "query", "request_id", requestID(r.Context()), "user_id", u.ID,
		"datasource_id", d.ID, "kind", d.Kind, "action", ev.Action, "target", ev.Target, "rows", sum.Rows, "truncated", sum.Truncated, "bytes", sum.Bytes,
		"elapsed_ms", sum.Elapsed.Milliseconds(), "outcome", outcome)
	if err == nil {
		return nil
	}
	if !query.Started(err) {
		return err
	}
	if format == query.CSV {
		// A CSV stream has no room for an error line: cut the connection so
		// the client sees an incomplete download, never a short "whole" file.
		panic(http.ErrAbortHandler)
	}
	return nil // the error line ends the stream
}

// testDatasource tries a fresh connection with the stored settings.
func (s *Server) testDatasource(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.findAuthorized(r, u, accounts.ActionDatasourceUse)
	if err != nil {
		return err
	}
	dev, err := s.deviceFor(r, u, d)
	if err != nil {
		return err
	}
	// Each test opens a fresh connection outside the pools: bound how many
	// run at once, so that clients cannot make the gateway open (and a
	// datasource accept) connections without limit.
	release, err := s.testSlot()
	if err != nil {
		return err
	}
	defer release()
	err = s.queries.Test(r.Context(), d, dev)
	details := map[string]any{"kind": d.Kind}
	egressDetail(details, err)
	s.record(r, u, audit.Event{Action: audit.DatasourceTest, Target: d.ID, DatasourceID: d.ID, Details: details}, err)
	if err != nil {
		s.log.InfoContext(r.Context(), "datasource test failed", "request_id", requestID(r.Context()), "datasource_id", d.ID, "outcome", querygate.ErrorCode(err))
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

// auditText is what --audit-query-text records of a query: the statement,
// the Redis command name, or the HTTP method and path. Never parameters,
// headers or bodies, which may hold values.
func auditText(req query.Request) string {
	switch {
	case req.HTTP != nil:
		return req.HTTP.Method + " " + req.HTTP.Path
	case len(req.Command) > 0:
		return req.Command[0]
	}
	return req.Query
}

// egressDetail adds the refused destination to an audit event: the egress
// policy's message names the address and port (never a secret).
func egressDetail(details map[string]any, err error) {
	if querygate.ErrorCode(err) == connect.EEGRESS {
		details["refused"] = querygate.ErrorMessage(err)
	}
}

package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/web/kit"
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

// wantsCSV reports whether the client asked for CSV (Accept: text/csv, or
// ?format=csv for a plain download link).
func wantsCSV(r *http.Request) bool {
	if r.URL.RawQuery != "" && r.URL.Query().Get("format") == "csv" {
		return true
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(mt, "text/csv") {
			return true
		}
	}
	return false
}

// runQuery answers POST /api/datasources/{id}/query: it decodes the body
// and hands it to the query use case, which authorizes, runs, streams and
// audits (DESIGN section 5). Nothing of the result is kept.
func (s *Server) runQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	a := s.Actor(r, u)
	var body queryRequest
	if err := kit.Decode(w, r, &body); err != nil {
		return err
	}
	in := query.Input{Query: body.Query, Params: body.Params, Command: body.Command, Method: body.Method, Path: body.Path,
		Headers: body.Headers, Body: body.Body, Limit: body.Limit, TimeoutMS: body.TimeoutMS}
	return s.stream(w, r, func(out query.Output) error {
		_, err := s.queries.Run(r.Context(), a, r.PathValue("id"), in, s.DeviceKeys(r), out)
		return err
	})
}

// stream answers a use case that streams a result (ad-hoc and saved
// queries): NDJSON, or CSV when asked. An error before the first byte is
// returned for the usual error answer; after it, the stream ends with its
// error line, or a CSV download is cut short.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, run func(query.Output) error) error {
	format := query.NDJSON
	if wantsCSV(r) {
		format = query.CSV
	}
	flusher := http.NewResponseController(w)
	started := false
	out := query.Output{
		Format: format, W: w,
		Flush: func() { flusher.Flush() },
		Start: func() {
			started = true
			h := w.Header() // X-Content-Type-Options: nosniff is set (kit, securityHeaders)
			h.Set("Content-Type", format.ContentType())
			if format == query.CSV {
				h.Set("Content-Disposition", `attachment; filename="query.csv"`)
			}
			w.WriteHeader(http.StatusOK)
		},
	}
	err := run(out)
	if err == nil {
		return nil
	}
	// Nothing written yet (the use case refused, or failed before the
	// first byte: query.Started is false): the usual error answer.
	if !started {
		return err
	}
	if format == query.CSV {
		// A CSV stream has no room for an error line: cut the connection so
		// the client sees an incomplete download, never a short "whole" file.
		panic(http.ErrAbortHandler)
	}
	return nil // the error line ends the stream
}

// testDatasource answers POST /api/datasources/{id}/test.
func (s *Server) testDatasource(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.queries.TestDatasource(r.Context(), s.Actor(r, u), r.PathValue("id"), s.DeviceKeys(r)); err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

// egressDetail adds the refused destination to an audit event: the egress
// policy's message names the address and port (never a secret).
func egressDetail(details map[string]any, err error) {
	if querygate.ErrorCode(err) == querygate.EEGRESS {
		details["refused"] = querygate.ErrorMessage(err)
	}
}

package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/query"
)

type queryRequest struct {
	Query     string `json:"query"`
	Params    []any  `json:"params"`
	Limit     int64  `json:"limit"`
	TimeoutMS int64  `json:"timeout_ms"`
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
	var req queryRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.TimeoutMS < 0 {
		return querygate.FieldErrorf("timeout_ms", "timeout_ms: must not be negative")
	}
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
	sum, err := s.queries.Run(r.Context(), d, query.Request{
		Query: req.Query, Params: req.Params, Limit: req.Limit, Timeout: time.Duration(req.TimeoutMS) * time.Millisecond,
	}, out)
	outcome := "ok"
	if err != nil {
		outcome = querygate.ErrorCode(err)
	}
	// Metadata only: never the query text, a parameter or a value.
	s.log.InfoContext(r.Context(), "query", "request_id", requestID(r.Context()), "user_id", u.ID,
		"datasource_id", d.ID, "kind", d.Kind, "rows", sum.Rows, "truncated", sum.Truncated, "bytes", sum.Bytes,
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
	if err := s.queries.Test(r.Context(), d); err != nil {
		s.log.InfoContext(r.Context(), "datasource test failed", "request_id", requestID(r.Context()), "datasource_id", d.ID, "outcome", querygate.ErrorCode(err))
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

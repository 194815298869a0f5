package kit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/querygate/querygate"
)

// driverError stands for an error of a database driver, whose text may hold
// a connection string or a value.
type driverError struct{ text string }

func (e *driverError) Error() string { return e.text }

// TestAdaptHidesErrorText checks the error adapter: a *querygate.Error is
// answered with its code and message; anything else with a fixed internal
// sentence; and the log line names the error's types and the request id,
// never its text.
func TestAdaptHidesErrorText(t *testing.T) {
	const secret = "postgres://app:s3cr3t-canary@db.internal/prod"
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantCode    string
		wantMessage string
		wantField   string
		wantLog     string // "" when nothing is logged
	}{
		{"driver error", &driverError{"connect " + secret + ": refused"}, 500, querygate.EINTERNAL, msgInternal, "",
			"error_type=*kit.driverError"},
		{"wrapped driver error", fmt.Errorf("store: find %s: %w", secret, &driverError{secret}), 500, querygate.EINTERNAL, msgInternal, "",
			`error_type="*fmt.wrapError > *kit.driverError"`},
		{"joined errors", errors.Join(&driverError{secret}, errors.New(secret)), 500, querygate.EINTERNAL, msgInternal, "",
			`error_type="*errors.joinError > *kit.driverError"`},
		{"domain error", querygate.FieldErrorf("port", "port: must be between 1 and 65535"), 400, querygate.EINVALID,
			"port: must be between 1 and 65535", "port", ""},
		{"wrapped unavailable", fmt.Errorf("open %s: %w", secret, querygate.Errorf(querygate.EUNAVAILABLE, "The store is busy; try again.")),
			503, querygate.EUNAVAILABLE, "The store is busy; try again.", "", "code=unavailable"},
		{"key mismatch", querygate.Errorf(querygate.EKEY, "The master key does not open the store."), 500, querygate.EINTERNAL, msgInternal, "",
			"code=key_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			h := s.requestLog(s.Adapt(func(w http.ResponseWriter, r *http.Request) error { return tt.err }))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			var body ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if want := (ErrorDetail{Code: tt.wantCode, Message: tt.wantMessage, Field: tt.wantField}); body.Error != want {
				t.Errorf("error %+v, want %+v", body.Error, want)
			}
			out := logs.String()
			for _, where := range []string{rec.Body.String(), out} {
				if strings.Contains(where, "s3cr3t-canary") || strings.Contains(where, "refused") {
					t.Errorf("error text leaked: %s", where)
				}
			}
			id := rec.Header().Get("X-Request-Id")
			failed := strings.Contains(out, "request failed")
			if tt.wantLog == "" {
				if failed {
					t.Errorf("logged %s, want no failure line", out)
				}
				return
			}
			if !failed || !strings.Contains(out, tt.wantLog) || !strings.Contains(out, "request_id="+id) {
				t.Errorf("log %q, want a failure line with %s and request_id=%s", out, tt.wantLog, id)
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	s := New(Options{AllowedHosts: []string{"qg.example", "[::1]", "Upper.Example."}})
	h := s.checkHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	tests := []struct {
		host, path string
		want       int
	}{
		{"qg.example", "/api/me", http.StatusTeapot},
		{"QG.example:8443", "/api/me", http.StatusTeapot},
		{"qg.example.", "/api/me", http.StatusTeapot},
		{"[::1]:8080", "/", http.StatusTeapot},
		{"upper.example", "/", http.StatusTeapot},
		{"evil.example", "/api/me", http.StatusMisdirectedRequest},
		{"qg.example.evil.example", "/api/me", http.StatusMisdirectedRequest},
		{"", "/api/me", http.StatusMisdirectedRequest},
		{"evil.example", "/healthz", http.StatusTeapot},
		{"evil.example", "/readyz", http.StatusTeapot},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.path, nil)
		r.Host = tt.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.want {
			t.Errorf("Host %q %s: got %d, want %d", tt.host, tt.path, rec.Code, tt.want)
		}
	}
	// Without a list, every host is answered.
	open := New(Options{})
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/api/me", nil)
	r.Host = "evil.example"
	open.checkHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })).ServeHTTP(rec, r)
	if rec.Code != http.StatusTeapot {
		t.Errorf("no list: got %d, want every host answered", rec.Code)
	}
}

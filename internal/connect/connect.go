// Package connect defines the Connector interface that every datasource
// kind implements (in the sub-packages postgres, mysql, sqlite), the small
// set of typed values connectors hand to the result encoders, and the
// errors they report.
//
// A connector must never log or return a secret or a result value in an
// error message, must build connection settings structurally (never by
// pasting user text into a DSN), and must dial only through the egress
// dialer it is given.
package connect

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/seal"
)

// Column describes one result column.
type Column struct {
	Name string `json:"name"`
	// Type is the datasource's own type name, lower case (int8, varchar,
	// numeric, jsonb, ...).
	Type string `json:"type"`
}

// Values a connector hands to a Sink are one of:
//
//	nil                  SQL NULL
//	bool
//	int64, uint64
//	float64              (NaN and ±Inf are encoded as strings)
//	string               text
//	[]byte               binary data (encoded as base64)
//	Date                 a calendar date without time zone ("2024-03-01")
//	LocalDateTime        a date and time of day without time zone ("2024-03-01T10:00:00")
//	time.Time            an instant: a timestamp with time zone (encoded as RFC 3339 with its offset)
//	Numeric              exact numbers that a float would round (encoded as a JSON string)
//	JSON                 a JSON document, embedded as is
//	[]any                an array of these values
//
// Connectors convert driver values to these so that encoders never need
// reflection.
type (
	// Numeric is an exact decimal number in its text form, such as "12.50".
	Numeric string
	// JSON is a valid JSON document.
	JSON []byte
	// Date is a calendar date that names no instant, as the database
	// means a DATE: "2024-03-01". Connectors build it with NewDate.
	Date string
	// LocalDateTime is a date and a time of day that name no instant, as
	// the database means a timestamp without time zone (PostgreSQL
	// timestamp, MySQL DATETIME): "2024-03-01T10:00:00", with a
	// fraction only when it is not zero. Connectors build it with
	// NewLocalDateTime.
	LocalDateTime string
)

// NewDate returns the date of t's wall clock in t's own location.
func NewDate(t time.Time) Date {
	return Date(t.Format(time.DateOnly))
}

// NewLocalDateTime returns t's wall clock in t's own location, without
// its zone.
func NewLocalDateTime(t time.Time) LocalDateTime {
	return LocalDateTime(t.Format("2006-01-02T15:04:05.999999999"))
}

// Sink receives a result as it streams. Connectors call Columns once, then
// Row for each row, in order. A Sink may return ErrStop from Row to end the
// result early (the row limit); the connector then stops reading, releases
// the statement, and returns nil. The values slice is only valid during the
// call.
type Sink interface {
	Columns(cols []Column) error
	Row(values []any) error
}

// ErrStop is returned by a Sink to end a result early without error.
var ErrStop = errors.New("connect: stop")

// Request is one statement to run. SQL kinds read Query and Params, Redis
// reads Command, HTTP reads HTTP.
type Request struct {
	Query  string
	Params []any // JSON-decoded values: nil, bool, float64 or json.Number, string, []any, map[string]any
	// Command is a Redis command and its arguments, such as ["GET", "k"].
	Command []string
	// HTTP is a request to an HTTP datasource.
	HTTP *HTTPRequest
	// ReadOnly makes the datasource itself refuse writes (read-only
	// transaction, read-only file, read commands or methods only).
	ReadOnly bool
}

// HTTPRequest is one request to an HTTP datasource, relative to its
// base_url.
type HTTPRequest struct {
	Method  string            // GET when empty
	Path    string            // resolved under base_url; can never leave it
	Query   url.Values        // added to the URL's query
	Headers map[string]string // the caller's headers (never the credentials')
	// Body is the request body as the caller sent it in JSON: absent
	// (nil), a JSON string (sent as text), or any other JSON value (sent
	// as application/json).
	Body json.RawMessage
}

// Result is what a statement did once the rows are streamed.
type Result struct {
	// RowsAffected is set for statements that return no rows; -1 when unknown.
	RowsAffected int64
	// HasRows is true when the statement returned a result set.
	HasRows bool
}

// Connector runs statements against one datasource, with its own pool. It
// is safe for concurrent use.
type Connector interface {
	// Query runs req and streams its rows into sink. Cancelling ctx
	// cancels the statement at the datasource, not only in the gateway.
	Query(ctx context.Context, req Request, sink Sink) (Result, error)
	// Ping checks that a connection can be made and authenticated.
	Ping(ctx context.Context) error
	// Close closes every pooled connection.
	Close() error
}

// DialFunc dials a network address. Connectors get one from the egress
// package and must use it for every connection, including cancel requests.
type DialFunc = egress.DialFunc

// Config is what a connector is built from.
type Config struct {
	// ID is the datasource's id; connectors need not read it.
	ID string
	// Settings are the datasource's settings and secrets, as the kind's
	// Decode function returned them (such as *postgres.Settings).
	Settings any
	// Tunnel, when set, is the datasource's SSH tunnel. The query service
	// opens it and hands the connector a Dial that goes through it:
	// connectors need not read it.
	Tunnel *egress.SSH
	// ReadOnly makes the datasource itself refuse writes, whatever the
	// request asks.
	ReadOnly bool
	Dial     DialFunc
	// MaxConns bounds the pool; MaxIdle is how long an idle connection lives.
	MaxConns int
	MaxIdle  time.Duration
	// SQLiteDirs are the directories SQLite files may be opened from;
	// SQLiteDeny lists paths (the gateway's own store, key file, data
	// directory) that may never be opened.
	SQLiteDirs []string
	SQLiteDeny []string
	// HTTPResponseMax caps the body of an HTTP datasource's response, in
	// bytes (--http-response-max); 0 means the connector's default.
	HTTPResponseMax int64
	// Bounds caps one value and one row of a SQL result in the gateway
	// (querygate.ETOOLARGE beyond); the zero value takes the defaults.
	Bounds Bounds
}

// Secrets are the opened secret values of one datasource, as a kind's
// Decode function reads them (datasource.Secrets implements it).
type Secrets interface {
	// Get returns a string secret.
	Get(name string) (seal.Secret, bool)
	// Headers returns a header-map secret.
	Headers(name string) map[string]seal.Secret
}

// NoSecrets holds no secret: what a kind's Decode function reads when it
// is given none.
type NoSecrets struct{}

// Get returns nothing.
func (NoSecrets) Get(string) (seal.Secret, bool) { return seal.Secret{}, false }

// Headers returns nothing.
func (NoSecrets) Headers(string) map[string]seal.Secret { return nil }

// Redacted, embedded in a connector's typed settings (which hold
// secrets), makes them print, log and marshal as REDACTED whatever code
// touches them.
type Redacted struct{}

// String implements fmt.Stringer without revealing anything.
func (Redacted) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer without revealing anything.
func (Redacted) GoString() string { return "REDACTED" }

// LogValue implements slog.LogValuer without revealing anything.
func (Redacted) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON refuses to reveal anything.
func (Redacted) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// Error codes of connectors: the querygate codes of what happened at a
// datasource, named here too for the connectors.
const (
	EAUTH        = querygate.EAUTH        // the datasource refused the credentials
	EUNREACHABLE = querygate.EUNREACHABLE // the host cannot be reached
	ENODATABASE  = querygate.ENODATABASE  // the database does not exist
	ETLS         = querygate.ETLS         // the TLS handshake or verification failed
	EREADONLY    = querygate.EREADONLY    // a write was refused by a read-only datasource
	ETIMEOUT     = querygate.ETIMEOUT     // the query ran out of time
	ECANCELED    = querygate.ECANCELED    // the client went away
	EQUERY       = querygate.EQUERY       // the datasource rejected the statement
	EEGRESS      = querygate.EEGRESS      // the egress policy refused the destination
	ECONFIG      = querygate.ECONFIG      // the datasource settings cannot be used
	EPRIVILEGED  = querygate.EPRIVILEGED  // a read-only datasource's role can escape read-only
)

// AllowPrivilegedRole is the setting (PostgreSQL and MySQL) by which an
// operator accepts a read-only datasource whose role could escape
// read-only; it is listed among the datasource's insecure settings.
const AllowPrivilegedRole = "allow_privileged_role"

// Errorf returns a *querygate.Error with a connector code. The message must
// be safe to show: no secret, no DSN, no result value.
func Errorf(code, format string, args ...any) error {
	return querygate.Errorf(code, format, args...)
}

// ContextError returns the error for a statement whose context has ended
// (timeout or canceled), whatever the driver reported, or nil while ctx is
// live. Connectors check it before reading a driver's error: once the
// context ends, a cut connection is the context's doing.
func ContextError(ctx context.Context) error {
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(ETIMEOUT, "The query ran out of time.")
	case err != nil:
		return Errorf(ECANCELED, "The query was cancelled.")
	}
	return nil
}

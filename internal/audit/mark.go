package audit

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/querygate/querygate"
)

// markKey is the context key of a request's audit marker.
type markKey struct{}

// WithMark returns a context that remembers whether an event was recorded
// under it (see Marked): a front end gives it to a use case, and records a
// refusal itself only when the use case recorded nothing.
func WithMark(ctx context.Context) context.Context {
	return context.WithValue(ctx, markKey{}, new(atomic.Bool))
}

// Mark notes that an event was recorded under ctx.
func Mark(ctx context.Context) {
	if m, ok := ctx.Value(markKey{}).(*atomic.Bool); ok {
		m.Store(true)
	}
}

// Marked reports whether an event was recorded under ctx (made by WithMark).
func Marked(ctx context.Context) bool {
	m, ok := ctx.Value(markKey{}).(*atomic.Bool)
	return ok && m.Load()
}

// maxClientID bounds the length of an id a client chose that an event
// records (a route's {id}): it may name nothing that exists.
const maxClientID = 64

// ClientID is an id a client sent, as an event records it: at most 64
// bytes of valid UTF-8.
func ClientID(id string) string {
	if len(id) > maxClientID {
		id = id[:maxClientID]
	}
	return strings.ToValidUTF8(id, "")
}

// Recorder appends events; Log is one.
type Recorder interface {
	Record(ctx context.Context, ev Event) error
}

// Who is the actor of an event and where the request came from.
type Who struct {
	ID, Name          string
	Remote, RequestID string
	// Front is the front end the request came through when it is not the
	// HTTP API or the pages ("mcp"): recorded as the detail "front".
	Front string
}

// RecordOutcome is how every use case records its one event: it marks ctx
// as audited (Marked), fills in the actor, sets the outcome to err's code
// (OK without error), notes the front end when it is not the HTTP API or
// the pages (Who.Front) and, for an egress refusal, the policy's message
// naming the refused address (never a secret), then records ev with rec
// (nothing is written when rec is nil). It returns the error of an event
// that could not be written (the recorder has logged it), so that a
// caller can withhold the acknowledgment of the request.
func RecordOutcome(ctx context.Context, rec Recorder, who Who, ev Event, err error) error {
	Mark(ctx)
	if rec == nil {
		return nil
	}
	ev.ActorID, ev.ActorName = who.ID, who.Name
	ev.Remote, ev.RequestID = who.Remote, who.RequestID
	if who.Front != "" {
		if ev.Details == nil {
			ev.Details = map[string]any{}
		}
		ev.Details["front"] = who.Front
	}
	ev.Outcome = OK
	if err != nil {
		ev.Outcome = querygate.ErrorCode(err)
	}
	if querygate.ErrorCode(err) == querygate.EEGRESS {
		if ev.Details == nil {
			ev.Details = map[string]any{}
		}
		ev.Details["refused"] = querygate.ErrorMessage(err)
	}
	return rec.Record(ctx, ev)
}

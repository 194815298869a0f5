package audit

import (
	"context"
	"strings"
	"sync/atomic"
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

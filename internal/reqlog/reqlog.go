// Package reqlog carries the log line of one request through its context,
// so that a request is one line: the front end that writes a line per
// request (the HTTP middleware) puts a Line in the context, and a use case
// adds its metadata to it (Add) instead of writing a line of its own.
// Where there is no Line (the wire protocol, tests), or the Line already
// holds another use case's metadata or is written, Add reports false and
// the use case writes its own line, so nothing is lost.
//
// A Line carries only what may be logged anyway: metadata, never a
// secret, query text, a parameter or a value.
package reqlog

import (
	"context"
	"log/slog"
	"sync"
)

// Line is the log line of one request, written by its front end when the
// request ends.
type Line struct {
	mu     sync.Mutex
	attrs  [MaxAttrs]slog.Attr // held here, so that the caller's stay on its stack
	n      int
	added  bool // a use case added its attributes
	closed bool // Take was called: the line is written or being written
}

// MaxAttrs is how many attributes a use case may add to a line; Add
// reports false for more.
const MaxAttrs = 12

type key struct{}

// NewContext returns ctx carrying l.
func NewContext(ctx context.Context, l *Line) context.Context {
	return context.WithValue(ctx, key{}, l)
}

// Add adds attrs to the line of ctx's request and reports whether it did:
// false when ctx carries no line, when a use case already added to it (a
// request that runs two queries logs the second on its own), when the
// line is already written, or for more than MaxAttrs attributes.
func Add(ctx context.Context, attrs ...slog.Attr) bool {
	l, _ := ctx.Value(key{}).(*Line)
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.added || len(attrs) > MaxAttrs {
		return false
	}
	l.n, l.added = copy(l.attrs[:], attrs), true
	return true
}

// Take returns what a use case added to the line (nil for nothing) and
// closes it: a later Add reports false.
func (l *Line) Take() []slog.Attr {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.attrs[:l.n:l.n]
}

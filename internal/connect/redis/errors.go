package redis

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

var (
	errReplyTooLarge = querygate.Errorf(querygate.ETOOLARGE,
		"The reply is larger than the gateway takes from Redis (%d MiB, or %d elements); ask for less: SCAN instead of KEYS, HSCAN instead of HGETALL, a range such as LRANGE key 0 999.",
		MaxReplyBytes>>20, MaxReplyElements)
	errReplyTooDeep = querygate.Errorf(querygate.ETOOLARGE,
		"The reply nests deeper than the gateway takes from Redis (%d levels of arrays, maps and sets).", MaxReplyDepth)
	errReplyMalformed = connect.Errorf(connect.EUNREACHABLE, "The server sent a reply that is not in the Redis protocol.")
	errClosed         = querygate.Errorf(querygate.EUNAVAILABLE, "The connections to this datasource were closed; try again.")
)

// maxMessage bounds a server's error message passed on to the client.
const maxMessage = 1024

// dialError marks a failure of the egress dialer.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// tlsError marks a failure of the TLS handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "tls: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// mapError turns a go-redis error into a *querygate.Error whose message is
// safe to show: it holds no secret, no address and no driver text, only
// the server's own message for a command it rejected. Errors are told
// apart by type, and Redis error replies by their error code (the reply's
// first word), never by the rest of their text.
func mapError(ctx context.Context, err error, password string) error {
	if err == nil {
		return nil
	}
	// The egress dialer's refusals, the reply caps and the pool's closing
	// are already safe and precise.
	if qe, ok := errors.AsType[*querygate.Error](err); ok {
		return qe
	}
	// Whatever go-redis reports once the context has ended (a cut
	// connection, an i/o timeout at the deadline) is the context's doing.
	if err := connect.ContextError(ctx); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		// The socket's deadline (the context's) passed a moment before the
		// context noticed.
		return connect.Errorf(connect.ETIMEOUT, "The query ran out of time.")
	}
	if errors.Is(err, redis.ErrClosed) {
		return errClosed
	}
	if _, ok := errors.AsType[*tlsError](err); ok {
		return connect.Errorf(connect.ETLS, "The TLS connection to the server failed: it does not speak TLS, its certificate could not be verified for this tls mode, or it refused the client certificate.")
	}
	if _, ok := errors.AsType[*dialError](err); ok {
		return connect.Errorf(connect.EUNREACHABLE, "The server cannot be reached.")
	}
	if re, ok := errors.AsType[redis.Error](err); ok {
		return replyError(re, password)
	}
	if isTLSError(err) {
		// An alert after the handshake (a refused client certificate is
		// reported on the first read in TLS 1.3).
		return connect.Errorf(connect.ETLS, "The TLS connection to the server failed: it refused the client certificate, or closed the TLS session.")
	}
	return connect.Errorf(connect.EUNREACHABLE, "The connection to the server was lost.")
}

// replyError maps an error reply of the server.
func replyError(re redis.Error, password string) error {
	switch {
	case redis.IsAuthError(re):
		return connect.Errorf(connect.EAUTH, "The server refused the user name or password, or requires them.")
	case redis.IsReadOnlyError(re):
		return connect.Errorf(connect.EREADONLY, "The server is a read-only replica and refused the write.")
	}
	msg := re.Error()
	// Redis has echoed the arguments of commands it did not know (HELLO
	// with its AUTH on old servers); never pass on a message that holds
	// the password, whatever the command was.
	if password != "" && strings.Contains(msg, password) {
		return connect.Errorf(connect.EQUERY, "The server refused the command.")
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
		msg += "…"
	}
	return connect.Errorf(connect.EQUERY, "%s", msg)
}

// isTLSError reports a failure of the TLS layer.
func isTLSError(err error) bool {
	return connect.IsTLSError(err)
}

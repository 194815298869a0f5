package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// mapError turns an error of the HTTP exchange into a *querygate.Error with
// a fixed sentence. The transport's errors (a *url.Error) hold the URL,
// with the API key of a query, and are never shown; errors are told apart
// by type, never by their text.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	// The egress dialer's refusals and checkRedirect's own errors are
	// already safe and precise.
	if qe, ok := errors.AsType[*querygate.Error](err); ok {
		return qe
	}
	if err := connect.ContextError(ctx); err != nil {
		return err
	}
	if isTLSError(err) {
		return connect.Errorf(connect.ETLS, "The TLS connection to the server failed: its certificate could not be verified (see the ca_cert setting), or the handshake failed.")
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return connect.Errorf(connect.EUNREACHABLE, "The server's host name could not be resolved.")
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "dial" {
		return connect.Errorf(connect.EUNREACHABLE, "The server cannot be reached.")
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return connect.Errorf(connect.ETIMEOUT, "The server did not answer in time.")
	}
	return connect.Errorf(connect.EUNREACHABLE, "The HTTP exchange with the server failed: the connection was lost or the answer was not valid HTTP.")
}

// isTLSError reports a failure of the TLS handshake or verification.
func isTLSError(err error) bool {
	if errors.Is(err, http.ErrSchemeMismatch) {
		return true
	}
	return connect.IsTLSError(err)
}

package postgres

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// SQLSTATE codes that map to their own connect codes.
const (
	codeInvalidPassword      = "28P01"
	codeInvalidAuthorization = "28000"
	codeInvalidCatalogName   = "3D000"
	codeReadOnlyTransaction  = "25006"
	// The server ended the session: terminated (pg_terminate_backend,
	// shutdown), crashed, or not accepting connections yet.
	codeAdminShutdown    = "57P01"
	codeCrashShutdown    = "57P02"
	codeCannotConnectNow = "57P03"
	// Class 08: connection exceptions.
	classConnectionException = "08"
)

// phase is the step that failed, for errors that are not the server's.
type phase int

const (
	phaseConnect phase = iota // acquiring a connection: dial, TLS, startup
	phaseQuery                // running the statement on a connection
)

// mapError turns a driver error into a *querygate.Error whose message is
// safe to show: it holds no secret, no connection string and no driver
// text, only the server's own message for statements it rejected.
// Errors are told apart by type and SQLSTATE code, never by their text.
// lost reports whether the connection was found closed afterwards.
func mapError(ctx context.Context, err error, ph phase, lost bool) error {
	if err == nil {
		return nil
	}
	// The egress dialer's refusals (and any other querygate error) are
	// already safe and precise.
	if qe, ok := errors.AsType[*querygate.Error](err); ok {
		return qe
	}
	if err := connect.ContextError(ctx); err != nil {
		return err
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return serverError(pgErr)
	}
	if strings.Contains(err.Error(), "require_auth check failed") {
		// The server asked for the password in clear (see cleartextAllowed).
		return connect.Errorf(connect.ECONFIG, "The server asked for the password in clear text, which the gateway sends only over TLS that verifies the server's name (sslmode verify-full): an impostor in the middle could ask the same. Use sslmode verify-full, or scram-sha-256 (or md5) authentication on the server.")
	}
	if isTLSError(err) {
		return connect.Errorf(connect.ETLS, "The TLS connection to the server failed: the server refused TLS, or its certificate could not be verified for this sslmode.")
	}
	if _, ok := errors.AsType[*dialError](err); ok {
		return connect.Errorf(connect.EUNREACHABLE, "The server cannot be reached.")
	}
	if ph == phaseConnect {
		return connect.Errorf(connect.EUNREACHABLE, "The server did not complete a PostgreSQL connection.")
	}
	if lost || isNetError(err) {
		return connect.Errorf(connect.EUNREACHABLE, "The connection to the server was lost.")
	}
	// What remains are the driver's checks before anything is sent:
	// wrong number of parameters, or a value that cannot be encoded as
	// the parameter's type.
	return connect.Errorf(connect.EQUERY, "The parameters do not fit the statement: check their number and types.")
}

// serverError maps an error the server reported.
func serverError(e *pgconn.PgError) error {
	switch e.Code {
	case codeInvalidPassword, codeInvalidAuthorization:
		return connect.Errorf(connect.EAUTH, "The server refused the user name or password.")
	case codeInvalidCatalogName:
		return connect.Errorf(connect.ENODATABASE, "The database does not exist on the server.")
	case codeReadOnlyTransaction:
		return connect.Errorf(connect.EREADONLY, "This datasource is read-only: %s", e.Message)
	case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow:
		return connect.Errorf(connect.EUNREACHABLE, "The server closed the connection: %s", e.Message)
	}
	if strings.HasPrefix(e.Code, classConnectionException) {
		return connect.Errorf(connect.EUNREACHABLE, "The connection to the server failed: %s", e.Message)
	}
	// 57014 without our context ending: statement_timeout or another
	// session's cancel; the server says which. The position, hint and
	// detail help the person who wrote the statement (the query service
	// checks them for secrets like the message).
	qe := querygate.Errorf(connect.EQUERY, "%s", e.Message)
	qe.Position, qe.Hint, qe.Detail = int(e.Position), e.Hint, e.Detail
	return qe
}

// isTLSError reports a failure of the TLS negotiation, the handshake, or
// the TLS layer afterwards (an alert from the server, for instance a
// client certificate it refused, arrives after the TLS 1.3 handshake).
func isTLSError(err error) bool {
	if _, ok := errors.AsType[*tlsError](err); ok {
		return true
	}
	return connect.IsTLSError(err)
}

// isNetError reports an I/O failure on the connection.
func isNetError(err error) bool {
	_, ok := errors.AsType[net.Error](err)
	return ok
}

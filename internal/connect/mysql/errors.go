package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"regexp"
	"strconv"

	"github.com/go-sql-driver/mysql"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// Server error numbers that map to their own connect codes.
const (
	erDBAccessDenied      = 1044 // ER_DBACCESS_DENIED_ERROR
	erAccessDenied        = 1045 // ER_ACCESS_DENIED_ERROR
	erBadDB               = 1049 // ER_BAD_DB_ERROR
	erParseError          = 1064 // ER_PARSE_ERROR
	erQueryInterrupted    = 1317 // ER_QUERY_INTERRUPTED (KILL QUERY)
	erAccessDeniedNoPass  = 1698 // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
	erReadOnlyTransaction = 1792 // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	erConnectionKilled    = 1927 // ER_CONNECTION_KILLED (MariaDB)
	erStatementTimeout    = 1969 // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
	erQueryTimeout        = 3024 // ER_QUERY_TIMEOUT (MySQL max_execution_time)
)

// phase is the step that failed, for errors that are not the server's.
type phase int

const (
	phaseConnect phase = iota // getting a connection: dial, TLS, handshake
	phaseQuery                // running a statement on a connection
)

// mapError turns a driver error into a *querygate.Error whose message is
// safe to show: it holds no secret, no connection setting and no driver
// text, only the server's own message for statements it rejected. Errors
// are told apart by type and error number, never by their text.
func mapError(ctx context.Context, err error, ph phase) error {
	if err == nil {
		return nil
	}
	// The egress dialer's refusals (and any other querygate error) are
	// already safe and precise.
	if qe, ok := errors.AsType[*querygate.Error](err); ok {
		return qe
	}
	// Whatever the driver reports once the context has ended (1317 after
	// our KILL QUERY, a closed connection, context.Canceled) is the
	// context's doing.
	if err := connect.ContextError(ctx); err != nil {
		return err
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return serverError(me, ph)
	}
	switch {
	case errors.Is(err, mysql.ErrNoTLS):
		return connect.Errorf(connect.ETLS, "The server does not accept TLS connections; this datasource's tls mode requires TLS.")
	case isTLSError(err):
		return connect.Errorf(connect.ETLS, "The TLS connection to the server failed: its certificate could not be verified for this tls mode, or it refused the client certificate.")
	case errors.Is(err, mysql.ErrCleartextPassword), errors.Is(err, mysql.ErrOldPassword),
		errors.Is(err, mysql.ErrUnknownPlugin), errors.Is(err, mysql.ErrNativePassword):
		return connect.Errorf(connect.EAUTH, "The server asked for an authentication method the gateway does not use (clear-text or old passwords are refused).")
	}
	if _, ok := errors.AsType[*dialError](err); ok {
		return connect.Errorf(connect.EUNREACHABLE, "The server cannot be reached.")
	}
	if ph == phaseConnect {
		return connect.Errorf(connect.EUNREACHABLE, "The server did not complete a MySQL connection.")
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || isNetError(err) {
		return connect.Errorf(connect.EUNREACHABLE, "The connection to the server was lost.")
	}
	if errors.Is(err, mysql.ErrPktTooLarge) {
		return connect.Errorf(connect.EQUERY, "The statement and its parameters are larger than the server accepts (max_allowed_packet).")
	}
	// What remains are the checks of database/sql and the driver on this
	// side: a wrong number of parameters, or a LOAD DATA LOCAL INFILE that
	// asked for a file of the gateway (always refused).
	return connect.Errorf(connect.EQUERY, "The statement could not be run: the number of parameters does not fit it, or it asked for a local file (LOAD DATA LOCAL INFILE is refused).")
}

// serverError maps an error the server reported.
func serverError(e *mysql.MySQLError, ph phase) error {
	switch e.Number {
	case erAccessDenied, erDBAccessDenied, erAccessDeniedNoPass:
		return connect.Errorf(connect.EAUTH, "The server refused the user name or password, or this user's access to the database.")
	case erBadDB:
		return connect.Errorf(connect.ENODATABASE, "The database does not exist on the server.")
	case erReadOnlyTransaction:
		return connect.Errorf(connect.EREADONLY, "This datasource is read-only: %s", e.Message)
	case erStatementTimeout, erQueryTimeout:
		return connect.Errorf(connect.ETIMEOUT, "The server stopped the query at its time limit: %s", e.Message)
	case erQueryInterrupted, erConnectionKilled:
		// Without our context ending: someone else killed it.
		return connect.Errorf(connect.EQUERY, "The server interrupted the query: %s", e.Message)
	}
	if ph == phaseConnect {
		// Too many connections, host blocked, server shutting down, ...
		return connect.Errorf(connect.EUNREACHABLE, "The server refused the connection: %s", e.Message)
	}
	qe := querygate.Errorf(connect.EQUERY, "%s", e.Message)
	if e.Number == erParseError {
		qe.Line = parseErrorLine(e.Message)
	}
	return qe
}

// lineRE is the end of a parse error's message: "... near 'x' at line 3".
var lineRE = regexp.MustCompile(`at line ([0-9]{1,9})$`)

// parseErrorLine returns the statement line a parse error names (the
// server gives it only in the message), or 0.
func parseErrorLine(msg string) int {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// isTLSError reports a failure of the TLS handshake or of the TLS layer
// afterwards (an alert from the server, for instance for a client
// certificate it refused).
func isTLSError(err error) bool {
	return connect.IsTLSError(err)
}

// isNetError reports an I/O failure on the connection.
func isNetError(err error) bool {
	_, ok := errors.AsType[net.Error](err)
	return ok
}

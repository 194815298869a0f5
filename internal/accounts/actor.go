package accounts

import "github.com/querygate/querygate/internal/audit"

// Actor is who asks for a use case: a user, proved by a session or an API
// token, and where the request came from. Every use-case method takes the
// actor, authorizes by its user and records it in the audit trail.
type Actor struct {
	User *User
	// Via says how the user was proved (ViaSession, ViaToken).
	Via string
	// Remote is the client's address and RequestID the request's id,
	// both for the audit trail.
	Remote    string
	RequestID string
	// Front names the front end the request came through when it is not
	// the HTTP API or the pages (FrontMCP); audit events record it.
	Front string
}

// How an actor's user was proved.
const (
	ViaSession = "session"
	ViaToken   = "token"
)

// FrontMCP is the Front of a request made through the MCP endpoint.
const FrontMCP = "mcp"

// UserID returns the actor's user id, or "" for no user.
func (a Actor) UserID() string {
	if a.User == nil {
		return ""
	}
	return a.User.ID
}

// Who is the actor as an audit event names it.
func (a Actor) Who() audit.Who {
	w := audit.Who{Remote: a.Remote, RequestID: a.RequestID, Front: a.Front}
	if a.User != nil {
		w.ID, w.Name = a.User.ID, a.User.Username
	}
	return w
}

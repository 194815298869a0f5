// Package store defines the metadata store: the only place where querygate
// keeps anything. It holds instance settings, users, sessions (as hashes),
// API tokens (as hashes) and datasources (plain settings plus one sealed
// secrets blob). It must never hold a query result, a request body, a
// plaintext secret or a session id.
//
// Implementations live in sub-packages named for what they wrap (sqlite).
package store

import (
	"context"
	"time"
)

// Store is a transactional metadata store.
//
// Errors: a missing row is a *querygate.Error with code ENOTFOUND; a unique
// name taken is ECONFLICT; an unreachable store is EUNAVAILABLE. Other
// errors are internal and must not be shown to clients.
type Store interface {
	// Update runs fn in a read-write transaction. Write transactions are
	// serialised: two Updates never interleave. If fn returns an error the
	// transaction is rolled back and nothing changes.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// ChangeSeq returns the change sequence: a number raised by every
	// committed Update that changed users, sessions, API tokens, groups,
	// datasources, grants or device credentials (not by last-use touches
	// nor audit appends), in the same transaction. Callers that keep
	// copies of those compare it with the number they read before loading
	// them: equal means the copies are current, also when other replicas
	// write to the same store. The answer comes from a reading that began
	// at most a millisecond before the call, or after the last change made
	// through this Store. An error means the copies must not be trusted.
	ChangeSeq(ctx context.Context) (int64, error)
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// Instance setting names.
const (
	InstanceSalt       = "salt"        // 32 random bytes, unless the operator sets the salt
	InstanceSaltSource = "salt_source" // "store" or "operator"
	InstanceKeyCheck   = "key_check"   // a sealed known value: proves the master key and salt fit
	InstanceRootKey    = "root_key"    // a sealed random key from which cookie keys are derived
	InstancePrimaryKey = "primary_key" // id of the master key new seals must use
	InstanceSetupToken = "setup_token" // SHA-256 of the one-time setup token, while no user exists
	InstanceCreatedAt  = "created_at"  // RFC 3339
	InstanceSSO        = "sso"         // single sign-on settings, JSON, no secret
	InstanceSSOSecret  = "sso_secret"  // the OIDC client secret, sealed
)

// Tx is a transaction. Every method takes the context of the call.
type Tx interface {
	Instance(ctx context.Context, name string) ([]byte, error)
	SetInstance(ctx context.Context, name string, value []byte) error
	DeleteInstance(ctx context.Context, name string) error

	// FindIdentity returns the user an identity provider's account signs
	// in (ENOTFOUND when none); UserIdentity the subject linked to a user
	// at an issuer; LinkIdentity links one (ECONFLICT when either side is
	// linked already).
	FindIdentity(ctx context.Context, issuer, subject string) (userID string, err error)
	UserIdentity(ctx context.Context, issuer, userID string) (subject string, err error)
	LinkIdentity(ctx context.Context, issuer, subject, userID string, at time.Time) error

	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u *User) error
	FindUser(ctx context.Context, id string) (*User, error)
	FindUserByName(ctx context.Context, username string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, id string) error

	CreateSession(ctx context.Context, s *Session) error
	FindSession(ctx context.Context, idHash []byte) (*Session, error)
	// FindSessionByPublicID finds a session by the handle lists show.
	FindSessionByPublicID(ctx context.Context, publicID string) (*Session, error)
	// ListSessions lists a user's sessions, newest first.
	ListSessions(ctx context.Context, userID string) ([]*Session, error)
	// TouchSession records that a session was used at a time.
	TouchSession(ctx context.Context, idHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, idHash []byte) error
	DeleteUserSessions(ctx context.Context, userID string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) error

	CreateToken(ctx context.Context, t *Token) error
	FindTokenByHash(ctx context.Context, hash []byte) (*Token, error)
	FindToken(ctx context.Context, id string) (*Token, error)
	ListTokens(ctx context.Context, userID string) ([]*Token, error)
	DeleteToken(ctx context.Context, id string) error
	// DeleteUserTokens deletes every API token of a user.
	DeleteUserTokens(ctx context.Context, userID string) error
	TouchToken(ctx context.Context, id string, at time.Time) error

	CreateDatasource(ctx context.Context, d *Datasource) error
	FindDatasource(ctx context.Context, id string) (*Datasource, error)
	ListDatasources(ctx context.Context) ([]*Datasource, error)
	UpdateDatasource(ctx context.Context, d *Datasource) error
	DeleteDatasource(ctx context.Context, id string) error
	// SetDatasourceSecrets replaces only the sealed blob (key rotation).
	SetDatasourceSecrets(ctx context.Context, id string, sealed []byte) error

	CreateDeviceCredential(ctx context.Context, d *DeviceCredential) error
	FindDeviceCredential(ctx context.Context, id string) (*DeviceCredential, error)
	// ListDeviceCredentials lists by user, by datasource, or both (an
	// empty argument matches any).
	ListDeviceCredentials(ctx context.Context, userID, datasourceID string) ([]*DeviceCredential, error)
	DeleteDeviceCredential(ctx context.Context, id string) error
	// DeleteDeviceCredentials deletes by user, by datasource, or both, and
	// returns how many were deleted.
	DeleteDeviceCredentials(ctx context.Context, userID, datasourceID string) (int64, error)
	DeleteExpiredDeviceCredentials(ctx context.Context, now time.Time) error
	TouchDeviceCredential(ctx context.Context, id string, at time.Time) error

	CreateGroup(ctx context.Context, g *Group) error
	FindGroup(ctx context.Context, id string) (*Group, error)
	ListGroups(ctx context.Context) ([]*Group, error)
	DeleteGroup(ctx context.Context, id string) error
	SetGroupMembers(ctx context.Context, groupID string, userIDs []string) error
	ListGroupMembers(ctx context.Context, groupID string) ([]string, error)
	ListUserGroups(ctx context.Context, userID string) ([]string, error)

	ListGrants(ctx context.Context, datasourceID string) ([]Grant, error)
	// SetGrants replaces every grant of a datasource.
	SetGrants(ctx context.Context, datasourceID string, grants []Grant) error
	// UserGrantLevels lists the grants that reach a user, directly or
	// through a group, on one datasource or (with "") all of them.
	UserGrantLevels(ctx context.Context, userID, datasourceID string) ([]Grant, error)

	// Audit events are only appended, never changed or deleted.
	LastAuditEvent(ctx context.Context) (*AuditEvent, error)
	AppendAuditEvent(ctx context.Context, e *AuditEvent) error
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// AuditJournalMark is how far a gateway's audit journal was moved
	// into the events (generation "" and 0 when never); SetAuditJournalMark
	// records it in the transaction that appends the events it covers.
	AuditJournalMark(ctx context.Context) (generation string, moved int64, err error)
	SetAuditJournalMark(ctx context.Context, generation string, moved int64) error

	SavedQueries
	Dashboards
}

// Dashboards are the dashboard methods of a Tx.
type Dashboards interface {
	// CreateDashboard stores a dashboard; a name taken is ECONFLICT.
	CreateDashboard(ctx context.Context, d *Dashboard) error
	FindDashboard(ctx context.Context, id string) (*Dashboard, error)
	// ListDashboards lists every dashboard by name.
	ListDashboards(ctx context.Context) ([]*Dashboard, error)
	// UpdateDashboard changes name, description, definition and
	// updated_at.
	UpdateDashboard(ctx context.Context, d *Dashboard) error
	DeleteDashboard(ctx context.Context, id string) error
	ListDashboardGrants(ctx context.Context, dashboardID string) ([]DashboardGrant, error)
	// SetDashboardGrants replaces every grant of a dashboard.
	SetDashboardGrants(ctx context.Context, dashboardID string, grants []DashboardGrant) error
	// UserDashboardLevels lists the dashboard grants that reach a user,
	// directly or through a group.
	UserDashboardLevels(ctx context.Context, userID string) ([]DashboardGrant, error)
}

// Dashboard is a stored dashboard: its definition (a JSON object of
// inputs and panels), never a result.
type Dashboard struct {
	ID          string
	Name        string
	Description string
	OwnerID     string
	Definition  []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// DashboardGrant gives a user or a group a level ("view" or "edit") on a
// dashboard.
type DashboardGrant struct {
	DashboardID string
	SubjectType string
	SubjectID   string
	Level       string
}

// SavedQueries are the saved-query methods of a Tx. A saved query's
// versions are only appended; deleting the query deletes them.
type SavedQueries interface {
	// CreateSavedQuery stores a new query and its first version (v.QueryID
	// and v.Version are set from q). A name taken on the datasource is
	// ECONFLICT.
	CreateSavedQuery(ctx context.Context, q *SavedQuery, v *SavedQueryVersion) error
	FindSavedQuery(ctx context.Context, id string) (*SavedQuery, error)
	// ListSavedQueries lists the queries of one datasource, or (with "")
	// of all of them, by datasource and name.
	ListSavedQueries(ctx context.Context, datasourceID string) ([]*SavedQuery, error)
	// UpdateSavedQuery changes name, description, current_version and
	// updated_at.
	UpdateSavedQuery(ctx context.Context, q *SavedQuery) error
	DeleteSavedQuery(ctx context.Context, id string) error
	AddSavedQueryVersion(ctx context.Context, v *SavedQueryVersion) error
	FindSavedQueryVersion(ctx context.Context, queryID string, version int) (*SavedQueryVersion, error)
	// ListSavedQueryVersions lists every version of a query, oldest first.
	ListSavedQueryVersions(ctx context.Context, queryID string) ([]*SavedQueryVersion, error)
}

// User is a person or robot who logs in.
type User struct {
	ID           string
	Username     string
	PasswordHash string // argon2id, PHC string format
	Role         string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a login session. Only a hash of its id is kept; lists name a
// session by PublicID, a separate random handle that cannot be used as a
// cookie.
type Session struct {
	IDHash     []byte
	PublicID   string
	UserID     string
	CreatedAt  time.Time
	ExpiresAt  time.Time // the absolute end
	LastSeenAt time.Time // zero: not used since it began
	Remote     string    // the client address at login
	UserAgent  string    // the browser at login, truncated
}

// Token is an API token. Only a hash of its value is kept.
type Token struct {
	ID         string
	UserID     string
	Name       string
	Hash       []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
}

// Datasource is the stored form of a datasource: plain settings as JSON, the
// names of the secrets that are configured (so listing never opens them), and
// one sealed blob holding every secret value.
type Datasource struct {
	ID          string
	Name        string
	Kind        string
	Custody     string
	ReadOnly    bool
	Settings    []byte   // JSON object, non-secret settings only
	SecretNames []string // names of configured secrets, never their values
	Secrets     []byte   // sealed blob (seal.Envelope), nil when no secret is set
	OwnerID     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// DeviceCredential is a device-custody password sealed with a key that only
// the user's device holds (DESIGN section 3). The server cannot open it.
type DeviceCredential struct {
	ID           string // the device id, also inside the device's cookie
	UserID       string
	DatasourceID string
	Sealed       []byte // seal.SealWithKey(K, password, device AD)
	CreatedAt    time.Time
	ExpiresAt    time.Time
	LastUsedAt   time.Time // zero: never used
}

// AuditEvent is one entry of the audit trail: metadata only, never a secret
// or a result (and a query's text only when the operator asks for it).
type AuditEvent struct {
	Seq          int64 // 1, 2, 3, ... in order of appending
	At           time.Time
	ActorID      string
	ActorName    string
	Action       string // login.success, datasource.update, query, ...
	Target       string // the object acted on (user, token, datasource or device id)
	DatasourceID string
	Outcome      string // "ok" or an error code
	Remote       string // the client's address
	RequestID    string
	Details      string // a JSON object
	Hash         []byte // HMAC over this event and the previous event's Hash
}

// AuditFilter selects audit events. Zero fields match everything; an
// Action ending in "." matches that prefix.
type AuditFilter struct {
	ActorID, Action, DatasourceID, Outcome string
	Since, Until                           time.Time
	BeforeSeq, AfterSeq                    int64
	Limit                                  int
	Ascending                              bool
}

// Group is a named set of users that grants can name.
type Group struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Grant gives a user or a group a level of access to a datasource.
type Grant struct {
	DatasourceID string
	SubjectType  string // "user" or "group"
	SubjectID    string
	Level        string // "run", "use" or "manage"
}

// SavedQuery is a named query on a datasource, run by reference.
type SavedQuery struct {
	ID             string
	DatasourceID   string
	Name           string
	Description    string
	OwnerID        string
	CurrentVersion int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SavedQueryVersion is one version of a saved query: its body (a JSON
// object holding the statement or the request or command template) and its
// parameter declarations (a JSON array).
type SavedQueryVersion struct {
	QueryID    string
	Version    int
	Body       []byte
	Parameters []byte
	CreatedBy  string
	CreatedAt  time.Time
}

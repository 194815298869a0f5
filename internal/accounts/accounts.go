// Package accounts provides users, password hashing (argon2id), login
// sessions, API tokens, the one-time setup token and the one function that
// makes every authorization decision (Authorize).
//
// It must never store or log a password, session id or token in clear: the
// store holds argon2id hashes of passwords and SHA-256 hashes of session ids
// and tokens, which are 256-bit random values.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

// Roles.
const (
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleEditor || r == RoleViewer }

// User is a user as callers see it: never the password hash.
type User struct {
	ID        string
	Username  string
	Role      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Token is an API token's metadata; the value is shown only once, at creation.
type Token struct {
	ID         string
	UserID     string
	Name       string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
}

// Service manages accounts.
type Service struct {
	store      store.Store
	params     HashParams
	sessionTTL time.Duration
	idle       time.Duration
	now        func() time.Time
	dummyHash  string
	// hashSlots bounds the argon2id hashes running at once: each takes
	// params.Memory, so unbounded concurrent logins could exhaust memory.
	hashSlots chan struct{}
	hashWait  time.Duration

	// sessions and tokens keep, per hash of a session id or token, the
	// row and its user, for as long as the store's change sequence stays
	// the same: every change to users, sessions or tokens (on any replica)
	// raises it, so a logged-out session, a deleted user or token and a
	// changed role stop working at the next request.
	sessions *store.Cache[string, sessionEntry]
	tokens   *store.Cache[string, tokenEntry]

	// audit records the use cases' events (usecase.go); nil records none.
	audit Recorder
}

type sessionEntry struct {
	sess store.Session
	user store.User
}

type tokenEntry struct {
	tok  store.Token
	user store.User
}

// maxCached bounds each cache of sessions and tokens.
const maxCached = 10000

// Options configures NewService.
type Options struct {
	Store store.Store
	// HashParams defaults to DefaultHashParams.
	HashParams HashParams
	// SessionTTL is the absolute lifetime of a login session (default 12h).
	SessionTTL time.Duration
	// SessionIdle ends a session unused for this long (default 2h, at most
	// SessionTTL).
	SessionIdle time.Duration
	// MaxConcurrentHashes bounds the password hashes (logins, setup,
	// password changes) computed at once (default max(2, GOMAXPROCS)).
	MaxConcurrentHashes int
	// HashWait is how long a hash waits for a free slot before the request
	// is refused as unavailable (default 2s).
	HashWait time.Duration
	// Audit records the use cases' events (nil: none are recorded).
	Audit Recorder
}

// NewService returns the accounts service.
func NewService(o Options) *Service {
	if o.HashParams == (HashParams{}) {
		o.HashParams = DefaultHashParams
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 2 * time.Hour
	}
	o.SessionIdle = min(o.SessionIdle, o.SessionTTL)
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = max(2, runtime.GOMAXPROCS(0))
	}
	if o.HashWait <= 0 {
		o.HashWait = 2 * time.Second
	}
	s := &Service{store: o.Store, params: o.HashParams, sessionTTL: o.SessionTTL, idle: o.SessionIdle, now: nowMS,
		hashSlots: make(chan struct{}, o.MaxConcurrentHashes), hashWait: o.HashWait, audit: o.Audit,
		sessions: store.NewCache[string, sessionEntry](maxCached), tokens: store.NewCache[string, tokenEntry](maxCached)}
	// A hash to verify against when the user does not exist, so that an
	// unknown user costs the same time as a wrong password.
	s.dummyHash = HashPassword("querygate-no-such-user", s.params)
	return s
}

// SessionTTL returns the lifetime of a new session.
func (s *Service) SessionTTL() time.Duration { return s.sessionTTL }

// SessionIdle returns how long a session may go unused.
func (s *Service) SessionIdle() time.Duration { return s.idle }

var errBusy = querygate.Errorf(querygate.EUNAVAILABLE, "Too many logins at once; try again in a moment.")

// hashSlot waits up to hashWait for a free hashing slot and returns the
// function that frees it, or errBusy.
func (s *Service) hashSlot(ctx context.Context) (func(), error) {
	release := func() { <-s.hashSlots }
	select {
	case s.hashSlots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(s.hashWait)
	defer t.Stop()
	select {
	case s.hashSlots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, errBusy
	}
}

// hashPassword is HashPassword within a hashing slot.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(pw, s.params), nil
}

// verifyPassword is VerifyPassword within a hashing slot.
func (s *Service) verifyPassword(ctx context.Context, hash, pw string) (bool, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return VerifyPassword(hash, pw)
}

var errLogin = querygate.Errorf(querygate.EUNAUTHORIZED, "Wrong user name or password.")
var errAuth = querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in, or your session or token is no longer valid.")

func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Hash returns SHA-256 of a random credential (session id, token). These are
// 256-bit random values, so a fast hash is enough: there is nothing to guess.
func Hash(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func validUsername(u string) error {
	if u == "" || len(u) > 64 {
		return querygate.FieldErrorf("username", "username: must be 1 to 64 characters")
	}
	for _, c := range []byte(u) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._@+-", c) >= 0) {
			return querygate.FieldErrorf("username", "username: may hold only letters, digits and . _ @ + -")
		}
	}
	return nil
}

func validPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < 10:
		return querygate.FieldErrorf("password", "password: must be at least 10 characters")
	case len(pw) > 1024:
		return querygate.FieldErrorf("password", "password: must be at most 1024 bytes")
	case !utf8.ValidString(pw):
		return querygate.FieldErrorf("password", "password: must be valid UTF-8")
	}
	return nil
}

func fromRow(u *store.User) *User {
	return &User{ID: u.ID, Username: u.Username, Role: u.Role, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// CreateUserInput holds what creating a user takes.
type CreateUserInput struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

func validUser(in CreateUserInput) error {
	if err := validUsername(in.Username); err != nil {
		return err
	}
	if !ValidRole(in.Role) {
		return querygate.FieldErrorf("role", "role: must be admin, editor or viewer")
	}
	return validPassword(in.Password)
}

// newUser checks in and hashes its password.
func (s *Service) newUser(ctx context.Context, in CreateUserInput) (*store.User, error) {
	if err := validUser(in); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return &store.User{ID: newID("u"), Username: in.Username, PasswordHash: hash,
		Role: in.Role, CreatedAt: now, UpdatedAt: now}, nil
}

func userConflict(err error) error {
	if querygate.ErrorCode(err) == querygate.ECONFLICT {
		return &querygate.Error{Code: querygate.ECONFLICT, Field: "username", Message: "username: is already taken"}
	}
	return err
}

// CreateUser creates a user. Bad input changes nothing.
func (s *Service) CreateUser(ctx context.Context, in CreateUserInput) (*User, error) {
	row, err := s.newUser(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateUser(ctx, row); err != nil {
			return err
		}
		// The first user ends the setup window.
		return tx.DeleteInstance(ctx, store.InstanceSetupToken)
	}); err != nil {
		return nil, userConflict(err)
	}
	return fromRow(row), nil
}

// FindUser returns one user.
func (s *Service) FindUser(ctx context.Context, id string) (*User, error) {
	var u *store.User
	err := s.store.View(ctx, func(tx store.Tx) (err error) { u, err = tx.FindUser(ctx, id); return err })
	if err != nil {
		return nil, err
	}
	return fromRow(u), nil
}

// FindUserByName returns the user with that user name.
func (s *Service) FindUserByName(ctx context.Context, username string) (*User, error) {
	var u *store.User
	err := s.store.View(ctx, func(tx store.Tx) (err error) { u, err = tx.FindUserByName(ctx, username); return err })
	if err != nil {
		return nil, err
	}
	return fromRow(u), nil
}

// ListUsers returns every user.
func (s *Service) ListUsers(ctx context.Context) ([]*User, error) {
	var rows []*store.User
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { rows, err = tx.ListUsers(ctx); return err }); err != nil {
		return nil, err
	}
	out := make([]*User, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// UpdateUserInput is a partial update of a user.
type UpdateUserInput struct {
	Role     *string `json:"role"`
	Password *string `json:"password"`
}

// UpdateUser changes a user's role or password. A new password ends every
// session of that user and revokes every API token of theirs, so that a
// credential taken before the change stops working; a new role ends their
// sessions. The last admin cannot be demoted.
func (s *Service) UpdateUser(ctx context.Context, id string, in UpdateUserInput) (*User, error) {
	if in.Role != nil && !ValidRole(*in.Role) {
		return nil, querygate.FieldErrorf("role", "role: must be admin, editor or viewer")
	}
	var hash string
	if in.Password != nil {
		if err := validPassword(*in.Password); err != nil {
			return nil, err
		}
		// Hash before the write transaction, which must stay short.
		var err error
		if hash, err = s.hashPassword(ctx, *in.Password); err != nil {
			return nil, err
		}
	}
	var out *store.User
	err := s.store.Update(ctx, func(tx store.Tx) error {
		u, err := tx.FindUser(ctx, id)
		if err != nil {
			return err
		}
		if in.Role != nil {
			if u.Role == RoleAdmin && *in.Role != RoleAdmin {
				if err := s.keepAnAdmin(ctx, tx, u.ID); err != nil {
					return err
				}
			}
			if u.Role != *in.Role {
				// A privilege change ends the user's sessions: the next
				// sign-in gets a fresh session id with the new role.
				if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
					return err
				}
			}
			u.Role = *in.Role
		}
		if in.Password != nil {
			u.PasswordHash = hash
			if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
				return err
			}
			if err := tx.DeleteUserTokens(ctx, u.ID); err != nil {
				return err
			}
		}
		u.UpdatedAt = s.now()
		out = u
		return tx.UpdateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	return fromRow(out), nil
}

func (s *Service) keepAnAdmin(ctx context.Context, tx store.Tx, leaving string) error {
	users, err := tx.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, o := range users {
		if o.Role == RoleAdmin && o.ID != leaving {
			return nil
		}
	}
	return querygate.Errorf(querygate.ECONFLICT, "This is the last admin; make another user admin first.")
}

// DeleteUser deletes a user with their sessions and tokens. The last admin
// cannot be deleted.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx store.Tx) error {
		u, err := tx.FindUser(ctx, id)
		if err != nil {
			return err
		}
		if u.Role == RoleAdmin {
			if err := s.keepAnAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		return tx.DeleteUser(ctx, id)
	})
}

// Authenticate checks a user name and password. Unknown users and wrong
// passwords get the same error after the same work. When every hashing slot
// stays taken for HashWait, it returns an EUNAVAILABLE error.
func (s *Service) Authenticate(ctx context.Context, username, password string) (*User, error) {
	var u *store.User
	err := s.store.View(ctx, func(tx store.Tx) (err error) { u, err = tx.FindUserByName(ctx, username); return err })
	hash := s.dummyHash
	if err == nil {
		hash = u.PasswordHash
	} else if querygate.ErrorCode(err) != querygate.ENOTFOUND {
		return nil, err
	}
	ok, herr := s.verifyPassword(ctx, hash, password)
	if querygate.ErrorCode(herr) == querygate.EUNAVAILABLE {
		return nil, herr
	}
	if err != nil || herr != nil || !ok {
		return nil, errLogin
	}
	return fromRow(u), nil
}

// SessionMeta is what a session records of where it began.
type SessionMeta struct {
	Remote    string
	UserAgent string
}

// maxUserAgent bounds the browser description a session keeps.
const maxUserAgent = 200

// touchEvery bounds how often a session's last use is written: at most
// once a minute per session, not at every request.
const touchEvery = time.Minute

// NewSession starts a session for the user and returns its id (256 random
// bits, to be sealed into a cookie) and expiry. Only a hash is stored,
// with a separate public handle for lists.
func (s *Service) NewSession(ctx context.Context, userID string, meta SessionMeta) ([]byte, time.Time, error) {
	id := make([]byte, 32)
	rand.Read(id)
	now := s.now()
	exp := now.Add(s.sessionTTL)
	ua := strings.ToValidUTF8(meta.UserAgent, "")
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.DeleteExpiredSessions(ctx, now); err != nil {
			return err
		}
		return tx.CreateSession(ctx, &store.Session{IDHash: Hash(id), PublicID: newID("se"), UserID: userID, CreatedAt: now, ExpiresAt: exp,
			LastSeenAt: now, Remote: meta.Remote, UserAgent: ua})
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("accounts: new session: %w", err)
	}
	return id, exp, nil
}

// live reports whether a session is within both its absolute and its
// idle timeout.
func (s *Service) live(sess *store.Session, now time.Time) bool {
	last := sess.LastSeenAt
	if last.IsZero() {
		last = sess.CreatedAt
	}
	return now.Before(sess.ExpiresAt) && now.Sub(last) < s.idle
}

// SessionUser returns the user of a live session, and records its use.
// The session and its user are kept in memory while the store's change
// sequence stays the same (see store.Cache); a kept session that looks
// idle is read again before it is refused, since another replica may have
// recorded a later use.
func (s *Service) SessionUser(ctx context.Context, id []byte) (*User, error) {
	now := s.now()
	h := Hash(id)
	seq, err := s.store.ChangeSeq(ctx)
	if err != nil {
		return nil, err
	}
	e, ok := s.sessions.Get(seq, string(h))
	if !ok || !s.live(&e.sess, now) {
		err := s.store.View(ctx, func(tx store.Tx) error {
			sess, err := tx.FindSession(ctx, h)
			if err != nil {
				return err
			}
			if !s.live(sess, now) {
				return errAuth
			}
			u, err := tx.FindUser(ctx, sess.UserID)
			if err != nil {
				return err
			}
			e = sessionEntry{sess: *sess, user: *u}
			return nil
		})
		if code := querygate.ErrorCode(err); code == querygate.ENOTFOUND || code == querygate.EUNAUTHORIZED {
			s.sessions.Delete(string(h))
			return nil, errAuth
		} else if err != nil {
			return nil, err
		}
		s.sessions.Put(seq, string(h), e)
	}
	if now.Sub(e.sess.LastSeenAt) >= touchEvery {
		if err := s.store.Update(ctx, func(tx store.Tx) error { return tx.TouchSession(ctx, h, now) }); err != nil {
			return nil, err
		}
		e.sess.LastSeenAt = now
		s.sessions.Put(seq, string(h), e)
	}
	return fromRow(&e.user), nil
}

// EndSession deletes a session.
func (s *Service) EndSession(ctx context.Context, id []byte) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return tx.DeleteSession(ctx, Hash(id)) })
}

// Session is a live login session as its owner and admins see it: never
// its id, only a public handle.
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IdleEndsAt time.Time `json:"idle_expires_at"`
	Remote     string    `json:"remote"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

// ListSessions lists a user's live sessions, newest first; current, if
// not nil, is the id of the caller's own session, marked as such.
func (s *Service) ListSessions(ctx context.Context, userID string, current []byte) ([]Session, error) {
	var rows []*store.Session
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { rows, err = tx.ListSessions(ctx, userID); return err }); err != nil {
		return nil, err
	}
	now := s.now()
	var cur []byte
	if current != nil {
		cur = Hash(current)
	}
	out := []Session{}
	for _, r := range rows {
		if !s.live(r, now) {
			continue
		}
		last := r.LastSeenAt
		if last.IsZero() {
			last = r.CreatedAt
		}
		idleEnd := last.Add(s.idle)
		if r.ExpiresAt.Before(idleEnd) {
			idleEnd = r.ExpiresAt
		}
		out = append(out, Session{ID: r.PublicID, CreatedAt: r.CreatedAt, LastSeenAt: last, ExpiresAt: r.ExpiresAt,
			IdleEndsAt: idleEnd, Remote: r.Remote, UserAgent: r.UserAgent,
			Current: cur != nil && string(cur) == string(r.IDHash)})
	}
	return out, nil
}

var errSessionNotFound = querygate.Errorf(querygate.ENOTFOUND, "Session not found.")

// RevokeSession ends the session with a public handle: the caller's own,
// or anyone's for a caller who may manage users. Any other session is
// ENOTFOUND, so that its existence is not confirmed. It returns the
// session's user.
func (s *Service) RevokeSession(ctx context.Context, actor *User, publicID string) (string, error) {
	var owner string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		sess, err := tx.FindSessionByPublicID(ctx, publicID)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND || publicID == "" {
			return errSessionNotFound
		} else if err != nil {
			return err
		}
		if sess.UserID != actor.ID && Authorize(actor, ActionAdmin, Resource{}) != nil {
			return errSessionNotFound
		}
		owner = sess.UserID
		return tx.DeleteSession(ctx, sess.IDHash)
	})
	return owner, err
}

// EndUserSessions ends every session of a user ("log out everywhere").
func (s *Service) EndUserSessions(ctx context.Context, userID string) error {
	return s.store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.FindUser(ctx, userID); err != nil {
			return err
		}
		return tx.DeleteUserSessions(ctx, userID)
	})
}

// ChangePassword changes the caller's own password after checking the
// current one. Like an admin's change, it ends every session and revokes
// every API token of the user; the caller then gets a fresh session.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next string) (*User, error) {
	u, err := s.FindUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if _, err := s.Authenticate(ctx, u.Username, current); err != nil {
		if querygate.ErrorCode(err) == querygate.EUNAUTHORIZED {
			return nil, querygate.FieldErrorf("current_password", "current_password: is not your password")
		}
		return nil, err
	}
	if err := validPassword(next); err != nil {
		return nil, querygate.FieldErrorf("new_password", "new_password: %s", strings.TrimPrefix(querygate.ErrorMessage(err), "password: "))
	}
	return s.UpdateUser(ctx, userID, UpdateUserInput{Password: &next})
}

// TokenPrefix starts every API token, so that secret scanners can find them.
const TokenPrefix = "qgt_"

// CreateToken makes an API token for the user. The returned value is shown
// once; only its hash is stored. ttl 0 means no expiry.
func (s *Service) CreateToken(ctx context.Context, userID, name string, ttl time.Duration) (string, *Token, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", nil, querygate.FieldErrorf("name", "name: must be 1 to 100 characters without control characters")
	}
	if ttl < 0 {
		return "", nil, querygate.FieldErrorf("expires_in_days", "expires_in_days: must not be negative")
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	value := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	row := &store.Token{ID: newID("tk"), UserID: userID, Name: name, Hash: Hash([]byte(value)), CreatedAt: now}
	if ttl > 0 {
		row.ExpiresAt = now.Add(ttl)
	}
	if err := s.store.Update(ctx, func(tx store.Tx) error { return tx.CreateToken(ctx, row) }); err != nil {
		return "", nil, err
	}
	return value, tokenFromRow(row), nil
}

func tokenFromRow(t *store.Token) *Token {
	return &Token{ID: t.ID, UserID: t.UserID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

// TokenUser returns the user of a valid API token. Like sessions, the
// token and its user are kept in memory while the store's change sequence
// stays the same.
func (s *Service) TokenUser(ctx context.Context, value string) (*User, error) {
	if !strings.HasPrefix(value, TokenPrefix) || len(value) > 100 {
		return nil, errAuth
	}
	h := Hash([]byte(value))
	seq, err := s.store.ChangeSeq(ctx)
	if err != nil {
		return nil, err
	}
	e, ok := s.tokens.Get(seq, string(h))
	if !ok {
		err := s.store.View(ctx, func(tx store.Tx) error {
			tok, err := tx.FindTokenByHash(ctx, h)
			if err != nil {
				return err
			}
			u, err := tx.FindUser(ctx, tok.UserID)
			if err != nil {
				return err
			}
			e = tokenEntry{tok: *tok, user: *u}
			return nil
		})
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return nil, errAuth
		} else if err != nil {
			return nil, err
		}
		s.tokens.Put(seq, string(h), e)
	}
	now := s.now()
	if !e.tok.ExpiresAt.IsZero() && !now.Before(e.tok.ExpiresAt) {
		return nil, errAuth
	}
	// Last use is metadata for the owner; it is recorded at most once a minute.
	if now.Sub(e.tok.LastUsedAt) > time.Minute {
		if s.store.Update(ctx, func(tx store.Tx) error { return tx.TouchToken(ctx, e.tok.ID, now) }) == nil {
			e.tok.LastUsedAt = now
			s.tokens.Put(seq, string(h), e)
		}
	}
	return fromRow(&e.user), nil
}

// ListTokens returns a user's tokens (never their values).
func (s *Service) ListTokens(ctx context.Context, userID string) ([]*Token, error) {
	var rows []*store.Token
	if err := s.store.View(ctx, func(tx store.Tx) (err error) { rows, err = tx.ListTokens(ctx, userID); return err }); err != nil {
		return nil, err
	}
	out := make([]*Token, len(rows))
	for i, r := range rows {
		out[i] = tokenFromRow(r)
	}
	return out, nil
}

var errTokenNotFound = querygate.Errorf(querygate.ENOTFOUND, "API token not found.")

// DeleteToken revokes a token: the caller's own, or anyone's for a caller
// who may manage users. Any other token is ENOTFOUND, so that its existence
// is not confirmed.
func (s *Service) DeleteToken(ctx context.Context, actor *User, id string) error {
	return s.store.Update(ctx, func(tx store.Tx) error {
		t, err := tx.FindToken(ctx, id)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return errTokenNotFound
		} else if err != nil {
			return err
		}
		if t.UserID != actor.ID && Authorize(actor, ActionAdmin, Resource{}) != nil {
			return errTokenNotFound
		}
		return tx.DeleteToken(ctx, id)
	})
}

// NeedsSetup reports whether the gateway has no user yet (and so awaits
// its first admin). An error reading the store counts as no.
func (s *Service) NeedsSetup(ctx context.Context) bool {
	n := 1
	s.store.View(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.CountUsers(ctx)
		return err
	})
	return n == 0
}

// PrepareSetup makes a fresh one-time setup token when the store has no
// user, and returns it with true. With users present it returns "", false.
func (s *Service) PrepareSetup(ctx context.Context) (string, bool, error) {
	var token string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		n, err := tx.CountUsers(ctx)
		if err != nil || n > 0 {
			return err
		}
		raw := make([]byte, 24)
		rand.Read(raw)
		token = base64.RawURLEncoding.EncodeToString(raw)
		return tx.SetInstance(ctx, store.InstanceSetupToken, Hash([]byte(token)))
	})
	return token, token != "", err
}

var errSetup = querygate.Errorf(querygate.ESETUP, "The setup token is wrong, or setup is already done.")

// checkSetup returns errSetup unless no user exists and token is the
// setup token.
func checkSetup(ctx context.Context, tx store.Tx, token string) error {
	n, err := tx.CountUsers(ctx)
	if err != nil {
		return err
	}
	want, err := tx.Instance(ctx, store.InstanceSetupToken)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND || n > 0 {
		return errSetup
	} else if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(Hash([]byte(token)), want) != 1 {
		return errSetup
	}
	return nil
}

// Setup creates the first admin with the one-time setup token. The token
// stops working once any user exists. The token is checked before the
// password is hashed, so that guessing costs the gateway no hashing.
func (s *Service) Setup(ctx context.Context, token string, in CreateUserInput) (*User, error) {
	in.Role = RoleAdmin
	if err := validUser(in); err != nil {
		return nil, err
	}
	if err := s.store.View(ctx, func(tx store.Tx) error { return checkSetup(ctx, tx, token) }); err != nil {
		return nil, err
	}
	row, err := s.newUser(ctx, in)
	if err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		// Again, under the write lock: another setup may have won.
		if err := checkSetup(ctx, tx, token); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, row); err != nil {
			return err
		}
		return tx.DeleteInstance(ctx, store.InstanceSetupToken)
	})
	if err != nil {
		return nil, userConflict(err)
	}
	return fromRow(row), nil
}

// nowMS is the current time at the store's precision (milliseconds), so
// that what a call returns equals what a later read finds.
func nowMS() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// Package sso is single sign-on with OpenID Connect: the settings (kept in
// the store, the client secret sealed like any secret), the authorization
// code flow with state, nonce and PKCE, and the checks on the ID token
// (signature, issuer, audience, expiry, nonce, verified email in an
// allowed domain), ending in an Identity with the role and groups its
// claims map to. Provisioning the user and the session is the caller's.
//
// Every call to the identity provider (discovery, keys, token exchange)
// goes through the egress Dialer: this package must never make an HTTP
// client of its own.
package sso

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// Config is the single sign-on setting. The client secret is not in it:
// it is sealed apart and never leaves the gateway.
type Config struct {
	Enabled  bool   `json:"enabled"`
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// RedirectURL is the callback the IdP sends browsers back to; empty:
	// derived from the request (set it behind a TLS-terminating proxy).
	RedirectURL string `json:"redirect_url,omitempty"`
	// AllowedDomains are the email domains that may sign in; empty: any
	// verified email.
	AllowedDomains []string `json:"allowed_domains"`
	// GroupsClaim names the ID-token claim holding the user's IdP groups
	// (a string or a list of strings); default "groups".
	GroupsClaim string `json:"groups_claim"`
	// RoleMap gives a querygate role to members of an IdP group; the
	// highest wins. DefaultRole is for new users no mapping names.
	RoleMap     map[string]string `json:"role_map"`
	DefaultRole string            `json:"default_role"`
	// GroupMap puts members of an IdP group into a querygate group (by
	// name); users leave the mapped groups their claims no longer name.
	GroupMap map[string]string `json:"group_map"`
	// LocalLogin keeps password sign-in working beside SSO.
	LocalLogin bool `json:"local_login"`
}

var roleRank = map[string]int{"viewer": 1, "editor": 2, "admin": 3}

// Check validates a configuration.
func (c *Config) Check() error {
	fe := querygate.FieldErrorf
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	if c.DefaultRole == "" {
		c.DefaultRole = "viewer"
	}
	if roleRank[c.DefaultRole] == 0 {
		return fe("default_role", "default_role: must be admin, editor or viewer")
	}
	for g, r := range c.RoleMap {
		if roleRank[r] == 0 || g == "" {
			return fe("role_map", "role_map: each IdP group must map to admin, editor or viewer")
		}
	}
	for g, name := range c.GroupMap {
		if g == "" || name == "" {
			return fe("group_map", "group_map: each IdP group must map to a querygate group name")
		}
	}
	for i, d := range c.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(d, "@")))
		if d == "" || strings.ContainsAny(d, "@/ ") {
			return fe("allowed_domains", "allowed_domains: each must be a domain such as example.com")
		}
		c.AllowedDomains[i] = d
	}
	if !c.Enabled {
		return nil
	}
	if err := checkURL(c.Issuer, "issuer"); err != nil {
		return err
	}
	if c.RedirectURL != "" {
		if err := checkURL(c.RedirectURL, "redirect_url"); err != nil {
			return err
		}
	}
	if c.ClientID == "" || len(c.ClientID) > 512 {
		return fe("client_id", "client_id: is required")
	}
	return nil
}

// checkURL accepts https URLs, and http ones on loopback only (a local
// test IdP).
func checkURL(s, field string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return querygate.FieldErrorf(field, "%s: must be an https:// URL", field)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
	}
	return querygate.FieldErrorf(field, "%s: must be an https:// URL (http only on localhost)", field)
}

// Service keeps the setting and runs the flow.
type Service struct {
	store  store.Store
	env    *seal.Envelope
	client *http.Client

	mu        sync.Mutex
	providers map[string]cachedProvider
}

type cachedProvider struct {
	p   *oidc.Provider
	exp time.Time
}

// NewService returns the service. Its calls to the IdP (discovery, keys,
// token exchange) are made through dialer, the gateway's one egress
// Dialer, so that the egress policy decides whether the IdP may be
// reached, on the resolved address, for every connection and redirect;
// nil means a Dialer with the default policy.
func NewService(st store.Store, env *seal.Envelope, dialer *egress.Dialer) *Service {
	if dialer == nil {
		dialer = egress.NewDialer(egress.Options{})
	}
	client := &http.Client{Transport: dialer.HTTPTransport(), Timeout: 15 * time.Second}
	return &Service{store: st, env: env, client: client, providers: map[string]cachedProvider{}}
}

// Settings is the stored setting as the admin API shows it.
type Settings struct {
	Config
	SecretConfigured bool `json:"client_secret_configured"`
}

// Load returns the setting (disabled when none is stored).
func (s *Service) Load(ctx context.Context) (Settings, error) {
	var out Settings
	out.GroupsClaim, out.DefaultRole, out.LocalLogin = "groups", "viewer", true
	err := s.store.View(ctx, func(tx store.Tx) error {
		b, err := tx.Instance(ctx, store.InstanceSSO)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &out.Config); err != nil {
			return fmt.Errorf("sso: stored setting: %w", err)
		}
		_, err = tx.Instance(ctx, store.InstanceSSOSecret)
		out.SecretConfigured = err == nil
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			err = nil
		}
		return err
	})
	if out.AllowedDomains == nil {
		out.AllowedDomains = []string{}
	}
	return out, err
}

// Save stores a setting; secret, when not nil, replaces the client secret
// (an empty one removes it). Enabling needs a secret.
func (s *Service) Save(ctx context.Context, c Config, secret *string) (Settings, error) {
	if err := c.Check(); err != nil {
		return Settings{}, err
	}
	if secret != nil && len(*secret) > 4096 {
		return Settings{}, querygate.FieldErrorf("client_secret", "client_secret: at most 4096 bytes")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return Settings{}, err
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if secret != nil {
			if *secret == "" {
				if err := tx.DeleteInstance(ctx, store.InstanceSSOSecret); err != nil {
					return err
				}
			} else {
				keyID, err := instance.PrimaryKeyID(ctx, tx)
				if err != nil {
					return err
				}
				sealed, err := s.env.Seal(keyID, []byte(*secret), instance.SSOSecretAD)
				if err != nil {
					return err
				}
				if err := tx.SetInstance(ctx, store.InstanceSSOSecret, sealed); err != nil {
					return err
				}
			}
		}
		if c.Enabled {
			if _, err := tx.Instance(ctx, store.InstanceSSOSecret); querygate.ErrorCode(err) == querygate.ENOTFOUND {
				return querygate.FieldErrorf("client_secret", "client_secret: is required to turn single sign-on on")
			} else if err != nil {
				return err
			}
		}
		return tx.SetInstance(ctx, store.InstanceSSO, b)
	})
	if err != nil {
		return Settings{}, err
	}
	s.mu.Lock()
	clear(s.providers) // a new issuer is discovered afresh
	s.mu.Unlock()
	return s.Load(ctx)
}

// FlowError is a refusal of the flow. Reason names the step (state,
// exchange, id_token, nonce, domain, ...) for the audit trail and the
// login page; the IdP's own words stay in the wrapped error, for the log.
type FlowError struct {
	Reason string
	Err    error
}

func (e *FlowError) Error() string {
	if e.Err != nil {
		return "sso: " + e.Reason + ": " + e.Err.Error()
	}
	return "sso: " + e.Reason
}

func (e *FlowError) Unwrap() error { return e.Err }

func errFlow(reason string) error { return &FlowError{Reason: reason} }

func flowErr(reason string, err error) error { return &FlowError{Reason: reason, Err: err} }

// ReasonEgress is the Reason of a flow refused because the egress policy
// does not allow the IdP's address.
const ReasonEgress = "egress"

// Reason returns the step at which a flow was refused ("" for another
// error), or ReasonEgress when the egress policy refused the IdP,
// whatever the step.
func Reason(err error) string {
	if querygate.ErrorCode(err) == egress.EDENIED {
		return ReasonEgress
	}
	var e *FlowError
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func (s *Service) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	s.mu.Lock()
	c, ok := s.providers[issuer]
	s.mu.Unlock()
	if ok && time.Now().Before(c.exp) {
		return c.p, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, s.client), issuer)
	if err != nil {
		return nil, flowErr("discovery", err)
	}
	s.mu.Lock()
	s.providers[issuer] = cachedProvider{p, time.Now().Add(10 * time.Minute)}
	s.mu.Unlock()
	return p, nil
}

// flow holds what the flow needs of the setting.
type flow struct {
	cfg    Settings
	oauth  oauth2.Config
	verify *oidc.IDTokenVerifier
}

func (s *Service) flow(ctx context.Context, redirectURL string) (*flow, error) {
	cfg, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return nil, querygate.Errorf(querygate.ENOTFOUND, "Single sign-on is not set up.")
	}
	if cfg.RedirectURL != "" {
		redirectURL = cfg.RedirectURL
	}
	var secret []byte
	err = s.store.View(ctx, func(tx store.Tx) error {
		b, err := tx.Instance(ctx, store.InstanceSSOSecret)
		if err != nil {
			return err
		}
		secret, err = s.env.Open(b, instance.SSOSecretAD)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sso: client secret: %w", err)
	}
	p, err := s.provider(ctx, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	return &flow{cfg: cfg,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: string(secret), Endpoint: p.Endpoint(), RedirectURL: redirectURL,
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
		verify: p.Verifier(&oidc.Config{ClientID: cfg.ClientID})}, nil
}

// State is what a browser carries, sealed in a short-lived cookie, from
// the start of a sign-in to its callback.
type State struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Redirect string    `json:"r"`
	Expires  time.Time `json:"e"`
	// Link, when set, is the id of the signed-in user who started the
	// flow to link their account at the IdP (see Begin). Sealed in the
	// browser's single-use cookie, so another user or browser cannot
	// complete it.
	Link string `json:"l,omitempty"`
}

// StateTTL bounds how long a sign-in may take at the IdP.
const StateTTL = 10 * time.Minute

// Begin starts a sign-in: the IdP URL to send the browser to, and the
// state to keep in its cookie. linkUser, when not empty, is the signed-in
// user asking to link their account at the IdP rather than sign in; the
// callback must complete the link for that user only.
func (s *Service) Begin(ctx context.Context, redirectURL, linkUser string) (string, State, error) {
	f, err := s.flow(ctx, redirectURL)
	if err != nil {
		return "", State{}, err
	}
	st := State{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(),
		Redirect: f.oauth.RedirectURL, Expires: time.Now().Add(StateTTL), Link: linkUser}
	u := f.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	return u, st, nil
}

// Identity is who the IdP vouched for, and what the setting maps them to.
type Identity struct {
	Issuer  string
	Subject string
	Email   string
	Name    string
	// Role is the highest role the RoleMap gives, or "" when none does.
	Role        string
	DefaultRole string
	// Groups are the querygate groups the user belongs in; Managed are
	// every group the GroupMap names (membership of the others is left
	// alone).
	Groups  []string
	Managed []string
}

// Finish completes a sign-in at the callback: the state must match the
// cookie's, the code is exchanged (with the PKCE verifier), and the ID
// token is verified (signature, issuer, audience, expiry) and must carry
// the nonce and a verified email in an allowed domain.
func (s *Service) Finish(ctx context.Context, st State, state, code string) (*Identity, error) {
	if time.Now().After(st.Expires) {
		return nil, errFlow("expired")
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(st.State)) != 1 {
		return nil, errFlow("state")
	}
	if code == "" {
		return nil, errFlow("code")
	}
	f, err := s.flow(ctx, st.Redirect)
	if err != nil {
		return nil, err
	}
	f.oauth.RedirectURL = st.Redirect
	cctx := oidc.ClientContext(ctx, s.client)
	tok, err := f.oauth.Exchange(cctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return nil, flowErr("exchange", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errFlow("id_token")
	}
	idt, err := f.verify.Verify(cctx, raw)
	if err != nil {
		return nil, flowErr("id_token", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return nil, errFlow("nonce")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, errFlow("claims")
	}
	email, _ := claims["email"].(string)
	// Some providers send the flag as the string "true".
	verified := claims["email_verified"] == true || claims["email_verified"] == "true"
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || !verified {
		return nil, errFlow("email_unverified")
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return nil, errFlow("email")
	}
	if len(f.cfg.AllowedDomains) > 0 && !slices.Contains(f.cfg.AllowedDomains, email[at+1:]) {
		return nil, errFlow("domain")
	}
	id := &Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: email, DefaultRole: f.cfg.DefaultRole}
	id.Name, _ = claims["name"].(string)
	var groups []string
	switch g := claims[f.cfg.GroupsClaim].(type) {
	case string:
		groups = []string{g}
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				groups = append(groups, s)
			}
		}
	}
	for _, g := range groups {
		if r := f.cfg.RoleMap[g]; roleRank[r] > roleRank[id.Role] {
			id.Role = r
		}
		if name, ok := f.cfg.GroupMap[g]; ok && !slices.Contains(id.Groups, name) {
			id.Groups = append(id.Groups, name)
		}
	}
	for _, name := range f.cfg.GroupMap {
		if !slices.Contains(id.Managed, name) {
			id.Managed = append(id.Managed, name)
		}
	}
	slices.Sort(id.Groups)
	slices.Sort(id.Managed)
	return id, nil
}

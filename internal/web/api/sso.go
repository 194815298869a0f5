package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/sso"
	"github.com/querygate/querygate/internal/web/kit"
)

// Single sign-on: the admin API for its setting, the two browser routes
// of the authorization code flow, and the API that starts a link. A
// sign-in ends exactly like a local one: a fresh session and a
// login.success event (method oidc). A link binds the IdP account to the
// signed-in user who started it, and only to them: their id travels in
// the flow's sealed, single-use cookie, and the callback must come with
// that same user's session.

func (s *Server) ssoCookie() string {
	if s.secure {
		return "__Host-qg-oidc"
	}
	return "qg_oidc"
}

// SSOSettingsResponse is the setting as admins see it: never the secret.
type SSOSettingsResponse struct {
	sso.Settings
	// CallbackURL is the redirect URL to register at the IdP.
	CallbackURL string `json:"callback_url"`
	// LocalLoginForced is true when --local-login keeps password sign-in
	// on whatever the setting says.
	LocalLoginForced bool `json:"local_login_forced"`
}

func (s *Server) CallbackURL(r *http.Request, cfg sso.Config) string {
	if cfg.RedirectURL != "" {
		return cfg.RedirectURL
	}
	scheme := "http"
	if s.secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/auth/oidc/callback"
}

func (s *Server) getSSO(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	st, err := s.sso.Load(r.Context())
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, SSOSettingsResponse{Settings: st, CallbackURL: s.CallbackURL(r, st.Config), LocalLoginForced: s.forceLocalLogin})
	return nil
}

type ssoRequest struct {
	sso.Config
	// ClientSecret is write-only: absent keeps the stored one.
	ClientSecret *string `json:"client_secret"`
}

func (s *Server) putSSO(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req ssoRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	fields := []string{"enabled", "issuer", "client_id", "redirect_url", "allowed_domains", "groups_claim", "role_map", "default_role", "group_map", "local_login"}
	if req.ClientSecret != nil {
		fields = append(fields, "client_secret")
	}
	st, err := s.sso.Save(r.Context(), req.Config, req.ClientSecret)
	s.record(r, u, audit.Event{Action: audit.SSOUpdate, Details: map[string]any{"fields": fields, "enabled": req.Enabled}}, err)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, SSOSettingsResponse{Settings: st, CallbackURL: s.CallbackURL(r, st.Config), LocalLoginForced: s.forceLocalLogin})
	return nil
}

// LocalLoginAllowed reports whether password sign-in is on.
func (s *Server) LocalLoginAllowed(r *http.Request) bool {
	if s.forceLocalLogin || s.sso == nil {
		return true
	}
	st, err := s.sso.Load(r.Context())
	if err != nil {
		return true // the store answers the login itself, with its own error
	}
	return !st.Enabled || st.LocalLogin
}

// ssoLogin sends the browser to the IdP, with the state, nonce and PKCE
// verifier sealed into a short-lived cookie of this browser.
func (s *Server) SSOLogin(w http.ResponseWriter, r *http.Request) {
	st, err := s.sso.Load(r.Context())
	if err != nil || !st.Enabled {
		http.Redirect(w, r, "/login?sso_error=not_configured", http.StatusSeeOther)
		return
	}
	authURL, err := s.beginSSO(w, r, st.Config, "")
	if err != nil {
		s.LogError(r, "single sign-on could not start", err)
		http.Redirect(w, r, "/login?sso_error="+url.QueryEscape(reasonOf(err)), http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
}

// beginSSO starts a flow (a link for linkUser when not empty), sets the
// state cookie and returns the IdP URL to send the browser to.
func (s *Server) beginSSO(w http.ResponseWriter, r *http.Request, cfg sso.Config, linkUser string) (string, error) {
	authURL, state, err := s.sso.Begin(r.Context(), s.CallbackURL(r, cfg), linkUser)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(state)
	// SameSite=Lax: the IdP's redirect back is a top-level GET, which
	// carries it; a cross-site POST would not.
	http.SetCookie(w, &http.Cookie{Name: s.ssoCookie(), Value: s.cookies.Seal(s.ssoCookie(), b, state.Expires), Path: "/",
		MaxAge: int(sso.StateTTL / time.Second), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return authURL, nil
}

// ssoLinkResponse is where to send the browser to link its user's
// account at the IdP.
type ssoLinkResponse struct {
	URL string `json:"url"`
}

// linkSSO answers POST /api/me/sso-link: it starts a flow that links the
// signed-in user's account at the IdP to them (the callback finishes it),
// and returns the IdP URL for the page to go to. Only a signed-in browser
// may start one (not an API token): the callback needs its session. A POST,
// so that another site cannot start one (cross-origin protection).
func (s *Server) linkSSO(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if kit.ViaToken(r) {
		err := querygate.Errorf(querygate.EFORBIDDEN, "Link single sign-on from a signed-in browser, not with an API token.")
		s.record(r, u, audit.Event{Action: audit.SSOLink, Target: u.ID, Details: map[string]any{"method": "oidc", "reason": "api_token"}}, err)
		return err
	}
	if s.sso == nil {
		return querygate.Errorf(querygate.ENOTFOUND, "Single sign-on is not set up.")
	}
	st, err := s.sso.Load(r.Context())
	if err != nil {
		return err
	}
	if !st.Enabled {
		return querygate.Errorf(querygate.ENOTFOUND, "Single sign-on is not set up.")
	}
	authURL, err := s.beginSSO(w, r, st.Config, u.ID)
	if err != nil {
		reason := reasonOf(err)
		s.record(r, u, audit.Event{Action: audit.SSOLink, Target: u.ID, Details: map[string]any{"method": "oidc", "reason": reason}}, err)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return err
		}
		s.LogError(r, "single sign-on link could not start", err)
		return querygate.Errorf(querygate.EUNAVAILABLE, "%s", SSOErrors[reason])
	}
	w.Header().Set("Cache-Control", "no-store")
	kit.WriteJSON(w, http.StatusOK, ssoLinkResponse{URL: authURL})
	return nil
}

func reasonOf(err error) string {
	if r := sso.Reason(err); r != "" {
		return r
	}
	return "unavailable"
}

// ssoCallback finishes the flow: the state must match this browser's
// cookie, the ID token must pass every check, and then either the user is
// found or created with the mapped role and groups (a sign-in), or the IdP
// account is linked to the user who started the flow (a link).
func (s *Server) SSOCallback(w http.ResponseWriter, r *http.Request) {
	var state sso.State
	fail := func(reason string, err error) {
		if err != nil {
			s.log.WarnContext(r.Context(), "single sign-on refused", "request_id", kit.RequestID(r.Context()), "reason", reason, "err", err)
		}
		if state.Link != "" {
			// A refused link: the user who started it stays signed in.
			if s.audit != nil {
				s.audit.Record(r.Context(), audit.Event{Action: audit.SSOLink, ActorID: state.Link, Target: state.Link, Remote: kit.RemoteHost(r),
					RequestID: kit.RequestID(r.Context()), Outcome: querygate.EFORBIDDEN, Details: map[string]any{"method": "oidc", "reason": reason}})
			}
			http.Redirect(w, r, "/account?sso_error="+url.QueryEscape(reason), http.StatusSeeOther)
			return
		}
		s.metrics.LoginFailed()
		if s.audit != nil {
			s.audit.Record(r.Context(), audit.Event{Action: audit.LoginFailure, Remote: kit.RemoteHost(r), RequestID: kit.RequestID(r.Context()),
				Outcome: querygate.EUNAUTHORIZED, Details: map[string]any{"method": "oidc", "reason": reason}})
		}
		http.Redirect(w, r, "/login?sso_error="+url.QueryEscape(reason), http.StatusSeeOther)
	}
	c, err := r.Cookie(s.ssoCookie())
	// The state cookie is used once, whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: s.ssoCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	if err != nil {
		fail("state", nil)
		return
	}
	raw, _, err := s.cookies.Open(c.Name, c.Value)
	if err != nil || json.Unmarshal(raw, &state) != nil {
		state = sso.State{}
		fail("state", nil)
		return
	}
	q := r.URL.Query()
	if q.Get("error") != "" {
		fail("denied", nil) // the IdP's own error text is not echoed
		return
	}
	if state.Link != "" {
		// A link completes only with the session of the user who
		// started it: not in another browser (no cookie, above), not
		// after another user signed in here.
		if u, token, err := s.Identify(r); err != nil || token || u.ID != state.Link {
			fail("link_user", nil)
			return
		}
	}
	id, err := s.sso.Finish(r.Context(), state, q.Get("state"), q.Get("code"))
	if err != nil {
		fail(reasonOf(err), err)
		return
	}
	ext := accounts.External{Issuer: id.Issuer, Subject: id.Subject, Username: id.Email,
		Role: id.Role, DefaultRole: id.DefaultRole, Groups: id.Groups, Managed: id.Managed}
	if state.Link != "" {
		u, err := s.accounts.LinkExternal(r.Context(), state.Link, ext)
		switch {
		case errors.Is(err, accounts.ErrIdentityLinked):
			fail("linked_elsewhere", err)
		case errors.Is(err, accounts.ErrUserLinked):
			fail("already_linked", err)
		case err != nil:
			fail("account", err)
		default:
			s.record(r, u, audit.Event{Action: audit.SSOLink, Target: u.ID, Details: map[string]any{"method": "oidc"}}, nil)
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, "/account?sso_linked=1", http.StatusSeeOther)
		}
		return
	}
	u, err := s.accounts.SignInExternal(r.Context(), ext)
	if err != nil {
		reason := "account"
		var qe *querygate.Error
		switch {
		case errors.As(err, &qe) && qe.Field == "username":
			reason = "email"
		case errors.Is(err, accounts.ErrLinkRequired):
			reason = "link_required"
		case querygate.ErrorCode(err) == querygate.ECONFLICT:
			reason = "identity"
		}
		fail(reason, err)
		return
	}
	if old, _, err := s.cookies.Open(s.SessionCookie(), cookieValue(r, s.SessionCookie())); err == nil {
		s.accounts.EndSession(r.Context(), old)
	}
	if err := s.SetSession(w, r, u.ID); err != nil {
		fail("session", err)
		return
	}
	s.record(r, u, audit.Event{Action: audit.LoginSuccess, Target: u.ID, Details: map[string]any{"method": "oidc"}}, nil)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// AccountSSO is the single sign-on part of the account page.
type AccountSSO struct {
	Enabled bool   // single sign-on is on
	Linked  bool   // the user's account at the IdP is linked
	Status  string // the outcome of a link that just ended
	Error   bool   // Status is a refusal
}

func (s *Server) AccountSSO(r *http.Request, u *accounts.User) AccountSSO {
	var out AccountSSO
	if s.sso == nil {
		return out
	}
	st, err := s.sso.Load(r.Context())
	if err != nil || !st.Enabled {
		return out
	}
	out.Enabled = true
	out.Linked, _ = s.accounts.ExternalLinked(r.Context(), st.Issuer, u.ID)
	q := r.URL.Query()
	switch {
	case q.Get("sso_error") != "":
		out.Status, out.Error = SSOErrors[q.Get("sso_error")], true
		if out.Status == "" {
			out.Status = SSOErrors["unavailable"]
		}
	case q.Get("sso_linked") != "":
		out.Status = "Single sign-on is linked: you can now sign in with the identity provider."
	}
	return out
}

// SSOErrors is the sentence shown for each reason a single sign-on
// failed (the reason travels in ?sso_error=; never the IdP's text).
var SSOErrors = map[string]string{
	"not_configured":   "Single sign-on is not set up.",
	"state":            "The sign-in took too long or was started in another browser. Try again.",
	"expired":          "The sign-in took too long. Try again.",
	"denied":           "The identity provider did not sign you in.",
	"code":             "The identity provider answered without a sign-in code. Try again.",
	"exchange":         "The identity provider refused the sign-in code. Try again.",
	"id_token":         "The identity provider's token could not be verified (signature, issuer, audience or expiry).",
	"nonce":            "The identity provider's token was not made for this sign-in.",
	"claims":           "The identity provider's token could not be read.",
	"email_unverified": "Your email address is not verified at the identity provider.",
	"email":            "Your email address cannot be a querygate user name.",
	"domain":           "Your email domain may not sign in here.",
	"account":          "Your account could not be set up. Ask an admin.",
	"identity":         "This email address belongs to another account at the identity provider than the one that first signed in with it. Ask an admin.",
	"link_required":    "A querygate account with this email address already exists. Sign in to it with its password, then link single sign-on on your account page (or ask an admin).",
	"link_user":        "The link to single sign-on was started by another user or in another session. Start it again from your account page.",
	"linked_elsewhere": "That account at the identity provider is already linked to another querygate user.",
	"already_linked":   "Your account is already linked to another account at the identity provider.",
	"egress":           "The egress policy does not let the gateway reach the identity provider. Ask an admin.",
	"session":          "The session could not start. Try again.",
	"discovery":        "The identity provider could not be reached.",
	"unavailable":      "Single sign-on is unavailable right now. Try again, or ask an admin.",
}

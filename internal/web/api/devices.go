package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/web/kit"
)

// deviceKeys gives the use cases the device key this browser holds for a
// datasource: the value of its device cookie.
func (s *Server) DeviceKeys(r *http.Request) query.DeviceKeys {
	return func(datasourceID string) string {
		c, err := r.Cookie(s.devices.CookieName(datasourceID))
		if err != nil {
			return ""
		}
		return c.Value
	}
}

// Actor is the use cases' view of the request's user.
func (s *Server) Actor(r *http.Request, u *accounts.User) accounts.Actor {
	via := accounts.ViaSession
	if kit.ViaToken(r) {
		via = accounts.ViaToken
	}
	return accounts.Actor{User: u, Via: via, Remote: kit.RemoteHost(r), RequestID: kit.RequestID(r.Context())}
}

// deviceCases returns the device use cases, authorized by the query
// service (query.Service.Authorize).
func (s *Server) deviceCases() *device.UseCases {
	var rec device.Recorder
	if s.audit != nil {
		rec = s.audit
	}
	return device.NewUseCases(s.devices, s.queries, rec)
}

type unlockRequest struct {
	Password string `json:"password"`
	Remember bool   `json:"remember"`
}

type DeviceResponse struct {
	ID             string     `json:"id"`
	DatasourceID   string     `json:"datasource_id"`
	DatasourceName string     `json:"datasource_name,omitempty"`
	UserID         string     `json:"user_id"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      time.Time  `json:"expires_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	// Current is true for the credential this browser holds the key of.
	Current bool `json:"current"`
}

func (s *Server) NewDeviceResponse(r *http.Request, d *device.Record, names map[string]string) DeviceResponse {
	out := DeviceResponse{ID: d.ID, DatasourceID: d.DatasourceID, DatasourceName: names[d.DatasourceID], UserID: d.UserID,
		CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt}
	if !d.LastUsedAt.IsZero() {
		t := d.LastUsedAt
		out.LastUsedAt = &t
	}
	if c, err := r.Cookie(s.devices.CookieName(d.DatasourceID)); err == nil {
		if id, ok := s.devices.CookieDevice(d.DatasourceID, c.Value); ok && id == d.ID {
			out.Current = true
		}
	}
	return out
}

// unlock answers POST /api/datasources/{id}/unlock: the unlock use case
// tests the password and seals it under a key that only the cookie set
// here holds.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req unlockRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	got, err := s.queries.Unlock(r.Context(), s.Actor(r, u), r.PathValue("id"), seal.NewSecret(req.Password), req.Remember)
	if err != nil {
		return err
	}
	s.setDeviceCookie(w, got.Cookie)
	kit.WriteJSON(w, http.StatusOK, map[string]any{"unlocked": true, "device_id": got.DeviceID,
		"expires_at": got.ExpiresAt, "remember": req.Remember})
	return nil
}

func (s *Server) setDeviceCookie(w http.ResponseWriter, c device.Cookie) {
	hc := &http.Cookie{Name: c.Name, Value: c.Value, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if c.Persistent {
		hc.Expires = c.Expires
		hc.MaxAge = int(time.Until(c.Expires).Seconds())
	}
	http.SetCookie(w, hc)
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// forgetDevice forgets this device for a datasource: its ciphertext is
// deleted and its cookie cleared.
func (s *Server) forgetDevice(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	dsID := r.PathValue("id")
	name := s.devices.CookieName(dsID)
	var value string
	if c, err := r.Cookie(name); err == nil {
		value = c.Value
	}
	id, err := s.deviceCases().ForgetThis(r.Context(), s.Actor(r, u), dsID, value)
	if err != nil {
		return err
	}
	if id != "" {
		s.log.InfoContext(r.Context(), "device forgotten", "request_id", kit.RequestID(r.Context()), "user_id", u.ID, "datasource_id", dsID, "device_id", id)
	}
	s.clearCookie(w, name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// forgetDeviceCookies forgets every device this browser holds a key cookie
// for (at logout): a valid cookie proves possession, so its credential is
// deleted, and every such cookie is cleared.
func (s *Server) forgetDeviceCookies(w http.ResponseWriter, r *http.Request) {
	prefix := s.devices.CookiePrefix()
	for _, c := range r.Cookies() {
		dsID, ok := strings.CutPrefix(c.Name, prefix)
		if !ok {
			continue
		}
		if id, ok := s.devices.Forget(r.Context(), dsID, c.Value); ok {
			s.queries.ForgetDevice(dsID, id)
		}
		s.clearCookie(w, c.Name)
	}
}

// listDevices lists the caller's unlocked devices; an admin may ask for
// every device of a datasource with ?datasource_id=.
func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	userID, dsID := u.ID, r.URL.Query().Get("datasource_id")
	if dsID != "" {
		if err := accounts.Authorize(u, accounts.ActionAdmin, accounts.Resource{}); err != nil {
			return err
		}
		userID = ""
	}
	list, err := s.devices.List(r.Context(), userID, dsID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	if all, err := s.datasources.List(r.Context()); err == nil {
		for _, d := range all {
			names[d.ID] = d.Name
		}
	}
	out := make([]DeviceResponse, 0, len(list))
	for _, d := range list {
		out = append(out, s.NewDeviceResponse(r, d, names))
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"devices": out})
	return nil
}

// deleteDevice forgets one device credential: the caller's own, or any for
// an admin. Another user's device is not found.
func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.deviceCases().Delete(r.Context(), s.Actor(r, u), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "device forgotten", "request_id", kit.RequestID(r.Context()), "user_id", u.ID, "datasource_id", d.DatasourceID, "device_id", d.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeDevices forgets every device of a datasource (those who manage it).
func (s *Server) revokeDevices(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	n, err := s.deviceCases().RevokeAll(r.Context(), s.Actor(r, u), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "devices revoked", "request_id", kit.RequestID(r.Context()), "user_id", u.ID, "datasource_id", r.PathValue("id"), "count", n)
	kit.WriteJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}

package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// deviceFor opens this device's credential for a device-custody
// datasource; for any other datasource it returns nil.
func (s *Server) deviceFor(r *http.Request, u *accounts.User, d *datasource.Datasource) (*query.Device, error) {
	if d.Custody != datasource.CustodyDevice {
		return nil, nil
	}
	c, err := r.Cookie(s.devices.CookieName(d.ID))
	if err != nil {
		return nil, device.Locked()
	}
	cred, err := s.devices.Open(r.Context(), u.ID, d.ID, c.Value)
	if err != nil {
		return nil, err
	}
	return &query.Device{ID: cred.ID, Password: cred.Password}, nil
}

type unlockRequest struct {
	Password string `json:"password"`
	Remember bool   `json:"remember"`
}

type deviceResponse struct {
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

func (s *Server) newDeviceResponse(r *http.Request, d *store.DeviceCredential, names map[string]string) deviceResponse {
	out := deviceResponse{ID: d.ID, DatasourceID: d.DatasourceID, DatasourceName: names[d.DatasourceID], UserID: d.UserID,
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

// unlock tests a device-custody password against the datasource, seals it
// with a fresh key that only this device's cookie holds, and sets that
// cookie. A wrong password stores nothing. Anyone who may see the
// datasource may unlock it: a run grant needs the key to run its saved
// queries, and the password is the person's own to bring.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.findAuthorized(r, u, accounts.ActionDatasourceRead)
	if err != nil {
		return err
	}
	if d.Custody != datasource.CustodyDevice {
		return querygate.Errorf(querygate.EINVALID, "This datasource's secrets are kept sealed on the server; it needs no unlock.")
	}
	var req unlockRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Password == "" {
		return querygate.FieldErrorf("password", "password: must not be empty")
	}
	if len(req.Password) > device.MaxPassword {
		return querygate.FieldErrorf("password", "password: at most %d bytes", device.MaxPassword)
	}
	// Testing the password opens a fresh connection: it takes a slot of
	// the bound on connection tests.
	release, err := s.testSlot()
	if err != nil {
		return err
	}
	defer release()
	pw := seal.NewSecret(req.Password)
	if err := s.queries.Test(r.Context(), d, &query.Device{Password: pw}); err != nil {
		s.record(r, u, audit.Event{Action: audit.DeviceUnlock, Target: d.ID, DatasourceID: d.ID}, err)
		s.log.InfoContext(r.Context(), "device unlock refused", "request_id", requestID(r.Context()), "user_id", u.ID,
			"datasource_id", d.ID, "outcome", querygate.ErrorCode(err))
		return err
	}
	c, cred, forgotten, err := s.devices.Unlock(r.Context(), u.ID, d.ID, pw, req.Remember)
	if err != nil {
		s.record(r, u, audit.Event{Action: audit.DeviceUnlock, Target: d.ID, DatasourceID: d.ID}, err)
		return err
	}
	// Beyond device.MaxDevices the devices unused for longest were
	// forgotten: close their pools too.
	for _, id := range forgotten {
		s.queries.ForgetDevice(d.ID, id)
	}
	details := map[string]any{"remember": req.Remember, "expires_at": cred.ExpiresAt}
	if len(forgotten) > 0 {
		details["forgotten"] = forgotten
		details["forgotten_reason"] = "device_limit"
	}
	s.record(r, u, audit.Event{Action: audit.DeviceUnlock, Target: cred.ID, DatasourceID: d.ID, Details: details}, nil)
	s.setDeviceCookie(w, c)
	s.log.InfoContext(r.Context(), "device unlocked", "request_id", requestID(r.Context()), "user_id", u.ID,
		"datasource_id", d.ID, "device_id", cred.ID, "remember", req.Remember, "forgotten", len(forgotten))
	writeJSON(w, http.StatusOK, map[string]any{"unlocked": true, "device_id": cred.ID,
		"expires_at": cred.ExpiresAt, "remember": req.Remember})
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
	d, err := s.findAuthorized(r, u, accounts.ActionDatasourceRead)
	if err != nil {
		return err
	}
	name := s.devices.CookieName(d.ID)
	if c, err := r.Cookie(name); err == nil {
		if id, ok := s.devices.Forget(r.Context(), d.ID, c.Value); ok {
			s.queries.ForgetDevice(d.ID, id)
			s.record(r, u, audit.Event{Action: audit.DeviceForget, Target: id, DatasourceID: d.ID}, nil)
			s.log.InfoContext(r.Context(), "device forgotten", "request_id", requestID(r.Context()), "user_id", u.ID, "datasource_id", d.ID, "device_id", id)
		}
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
		if err := accounts.Authorize(u, accounts.ActionUsersManage, accounts.Resource{}); err != nil {
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
	out := make([]deviceResponse, 0, len(list))
	for _, d := range list {
		out = append(out, s.newDeviceResponse(r, d, names))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
	return nil
}

// deleteDevice forgets one device credential: the caller's own, or any for
// an admin. Another user's device is not found.
func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.devices.Find(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if d.UserID != u.ID && accounts.Authorize(u, accounts.ActionUsersManage, accounts.Resource{}) != nil {
		return querygate.Errorf(querygate.ENOTFOUND, "device not found")
	}
	if err := s.devices.Delete(r.Context(), d.ID); err != nil {
		return err
	}
	s.queries.ForgetDevice(d.DatasourceID, d.ID)
	s.record(r, u, audit.Event{Action: audit.DeviceForget, Target: d.ID, DatasourceID: d.DatasourceID}, nil)
	s.log.InfoContext(r.Context(), "device forgotten", "request_id", requestID(r.Context()), "user_id", u.ID, "datasource_id", d.DatasourceID, "device_id", d.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeDevices forgets every device of a datasource (those who manage it).
func (s *Server) revokeDevices(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.findAuthorized(r, u, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	ids, err := s.devices.DeleteAll(r.Context(), d.ID)
	s.record(r, u, audit.Event{Action: audit.DeviceRevoke, Target: d.ID, DatasourceID: d.ID, Details: map[string]any{"count": len(ids)}}, err)
	if err != nil {
		return err
	}
	s.queries.Forget(d.ID)
	s.log.InfoContext(r.Context(), "devices revoked", "request_id", requestID(r.Context()), "user_id", u.ID, "datasource_id", d.ID, "count", len(ids))
	writeJSON(w, http.StatusOK, map[string]int{"revoked": len(ids)})
	return nil
}

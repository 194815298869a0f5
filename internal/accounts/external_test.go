package accounts

import (
	"errors"
	"testing"
)

// TestExternalNeverTakesOverByEmail checks the single sign-on rules of
// the use case: a provider account is linked only to a user it created or
// to the user who linked it explicitly; an existing user of the same name
// is never bound by email (ErrLinkRequired, nothing changed); a link takes
// neither another user's provider account nor a second one.
func TestExternalNeverTakesOverByEmail(t *testing.T) {
	s, _ := MustService(t)
	ctx := t.Context()
	const iss = "https://idp.example.com"
	admin := MustCreateUser(t, s, "root@example.com", RoleAdmin)
	editor := MustCreateUser(t, s, "carol@example.com", RoleEditor)

	for _, u := range []*User{admin, editor} {
		_, err := s.SignInExternal(ctx, External{Issuer: iss, Subject: "sub-" + u.Username, Username: u.Username, Role: RoleViewer})
		if !errors.Is(err, ErrLinkRequired) {
			t.Fatalf("first sign-in as the existing %s: err = %v, want ErrLinkRequired", u.Username, err)
		}
		if linked, err := s.ExternalLinked(ctx, iss, u.ID); err != nil || linked {
			t.Fatalf("%s linked = %v, %v after a refusal", u.Username, linked, err)
		}
		if got, _ := s.FindUser(ctx, u.ID); got.Role != u.Role {
			t.Fatalf("%s's role became %s", u.Username, got.Role)
		}
	}
	// A new person is created and linked.
	dan, err := s.SignInExternal(ctx, External{Issuer: iss, Subject: "sub-dan", Username: "dan@example.com", DefaultRole: RoleViewer})
	if err != nil || dan.Username != "dan@example.com" {
		t.Fatalf("new user: %v, %v", dan, err)
	}
	// carol links her account explicitly; it then signs her in.
	ext := External{Issuer: iss, Subject: "sub-carol", Username: "carol@example.com", DefaultRole: RoleViewer}
	if u, err := s.LinkExternal(ctx, editor.ID, ext); err != nil || u.ID != editor.ID {
		t.Fatalf("LinkExternal: %v, %v", u, err)
	}
	if _, err := s.LinkExternal(ctx, editor.ID, ext); err != nil {
		t.Fatalf("the same link again: %v", err)
	}
	if u, err := s.SignInExternal(ctx, ext); err != nil || u.ID != editor.ID {
		t.Fatalf("sign-in after the link: %v, %v", u, err)
	}
	for _, tc := range []struct {
		name   string
		userID string
		ext    External
		want   error
	}{
		{"dan's provider account for carol", editor.ID, External{Issuer: iss, Subject: "sub-dan"}, ErrIdentityLinked},
		{"dan's provider account for root", admin.ID, External{Issuer: iss, Subject: "sub-dan"}, ErrIdentityLinked},
		{"a second account for carol", editor.ID, External{Issuer: iss, Subject: "sub-carol-2"}, ErrUserLinked},
	} {
		if _, err := s.LinkExternal(ctx, tc.userID, tc.ext); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.LinkExternal(ctx, "unone", External{Issuer: iss, Subject: "sub-x"}); err == nil {
		t.Error("a link for a user that does not exist was accepted")
	}
	if linked, _ := s.ExternalLinked(ctx, iss, admin.ID); linked {
		t.Error("root was linked by a refused link")
	}
}

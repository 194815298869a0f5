package accounts

import (
	"strings"
	"testing"

	"github.com/querygate/querygate"
)

func TestAuthorize(t *testing.T) {
	actions := []Action{
		ActionDatasourceList, ActionDatasourceRead, ActionDatasourceCreate,
		ActionDatasourceManage, ActionDatasourceUse, ActionAdmin,
	}
	// The caller is u1. Each resource is one ownership/grant case; allowed
	// lists, per role and case, the actions that pass (L list, R read,
	// C create, M manage, U use, A admin).
	cases := []struct {
		name string
		r    Resource
	}{
		{"collection", Resource{}},
		{"owned", Resource{DatasourceID: "ds1", OwnerID: "u1"}},
		{"not granted", Resource{DatasourceID: "ds2", OwnerID: "u-other"}},
		{"granted run", Resource{DatasourceID: "ds2", OwnerID: "u-other", Level: LevelRun}},
		{"granted use", Resource{DatasourceID: "ds2", OwnerID: "u-other", Level: LevelUse}},
		{"granted manage", Resource{DatasourceID: "ds2", OwnerID: "u-other", Level: LevelManage}},
		{"bad level", Resource{DatasourceID: "ds2", OwnerID: "u-other", Level: "owner"}},
	}
	allowed := map[string][]string{
		//            collection owned  not granted  run   use    manage  bad level
		RoleAdmin:  {"LRCMUA", "LRCMUA", "LRCMUA", "LRCMUA", "LRCMUA", "LRCMUA", "LRCMUA"},
		RoleEditor: {"LC", "LRCMU", "LC", "LRC", "LRCU", "LRCMU", "LC"},
		RoleViewer: {"L", "L", "L", "LR", "LRU", "LRU", "L"},
		"":         {"", "", "", "", "", "", ""},
		"root":     {"", "", "", "", "", "", ""},
		"Admin":    {"", "", "", "", "", "", ""},
	}
	letter := map[Action]string{ActionDatasourceList: "L", ActionDatasourceRead: "R", ActionDatasourceCreate: "C",
		ActionDatasourceManage: "M", ActionDatasourceUse: "U", ActionAdmin: "A"}
	for role, row := range allowed {
		for i, c := range cases {
			u := &User{ID: "u1", Username: "someone", Role: role}
			for _, a := range append(actions, Action("users.delete_everything"), Action("")) {
				want := querygate.EFORBIDDEN
				if l := letter[a]; l != "" && strings.Contains(row[i], l) {
					want = ""
				}
				if role == RoleAdmin {
					want = ""
				}
				if got := querygate.ErrorCode(Authorize(u, a, c.r)); got != want {
					t.Errorf("Authorize(%s, %s, %s) = %q, want %q", role, a, c.name, got, want)
				}
			}
		}
	}
	t.Run("no user", func(t *testing.T) {
		for _, a := range actions {
			if got := querygate.ErrorCode(Authorize(nil, a, Resource{})); got != querygate.EUNAUTHORIZED {
				t.Errorf("Authorize(nil, %s) = %q, want %q", a, got, querygate.EUNAUTHORIZED)
			}
		}
	})
}

func TestAuthorizeDashboards(t *testing.T) {
	admin := &User{ID: "a", Role: RoleAdmin}
	ed := &User{ID: "e", Role: RoleEditor}
	vi := &User{ID: "v", Role: RoleViewer}
	demoted := &User{ID: "d", Role: RoleViewer} // owns a dashboard made while an editor
	for _, tc := range []struct {
		u     *User
		owner string
		level string
		want  string // the actions allowed, of create view edit own
	}{
		{admin, "x", "", "create view edit own"},
		{ed, "e", "", "create view edit own"},
		{ed, "x", "edit", "create view edit"},
		{ed, "x", "view", "create view"},
		{ed, "x", "", "create"},
		{vi, "x", "edit", "view edit"},
		{vi, "x", "view", "view"},
		{vi, "x", "", ""},
		{demoted, "d", "", ""},
	} {
		for name, a := range map[string]Action{"create": ActionDashboardCreate, "view": ActionDashboardView, "edit": ActionDashboardEdit, "own": ActionDashboardOwn} {
			r := Resource{OwnerID: tc.owner, Level: tc.level}
			if a == ActionDashboardCreate {
				r = Resource{}
			}
			got := Authorize(tc.u, a, r) == nil
			if want := strings.Contains(" "+tc.want+" ", " "+name+" "); got != want {
				t.Errorf("%s (%s) %s on owner %q level %q: %v, want %v", tc.u.ID, tc.u.Role, name, tc.owner, tc.level, got, want)
			}
		}
	}
}

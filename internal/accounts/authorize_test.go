package accounts

import (
	"testing"

	"github.com/querygate/querygate"
)

func TestAuthorize(t *testing.T) {
	actions := []Action{
		ActionDatasourceList, ActionDatasourceRead, ActionDatasourceCreate,
		ActionDatasourceManage, ActionDatasourceUse, ActionUsersManage,
	}
	// allowed[role] lists what the role may do; everything else is
	// EFORBIDDEN.
	allowed := map[string][]Action{
		RoleAdmin:  actions,
		RoleEditor: {ActionDatasourceList, ActionDatasourceRead, ActionDatasourceCreate, ActionDatasourceManage, ActionDatasourceUse},
		RoleViewer: {ActionDatasourceList, ActionDatasourceRead, ActionDatasourceUse},
		"":         nil,
		"root":     nil,
		"Admin":    nil,
	}
	resources := []Resource{{}, {DatasourceID: "ds1", OwnerID: "u1"}, {DatasourceID: "ds2", OwnerID: "u-other"}}
	for role, may := range allowed {
		for _, a := range append(actions, Action("users.delete_everything"), Action("")) {
			want := querygate.EFORBIDDEN
			for _, m := range may {
				if m == a {
					want = ""
				}
			}
			if role == RoleAdmin {
				want = ""
			}
			t.Run(role+"/"+string(a), func(t *testing.T) {
				u := &User{ID: "u1", Username: "someone", Role: role}
				for _, r := range resources {
					err := Authorize(u, a, r)
					if got := querygate.ErrorCode(err); got != want {
						t.Errorf("Authorize(%s, %s, %+v) = %q (%v), want %q", role, a, r, got, err, want)
					}
				}
			})
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

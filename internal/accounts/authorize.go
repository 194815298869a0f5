package accounts

import "github.com/querygate/querygate"

// Action is something a user may try to do.
type Action string

// Actions.
const (
	ActionDatasourceList   Action = "datasource.list"
	ActionDatasourceRead   Action = "datasource.read"
	ActionDatasourceCreate Action = "datasource.create"
	ActionDatasourceManage Action = "datasource.manage" // update, delete
	ActionDatasourceUse    Action = "datasource.use"    // test, query
	ActionUsersManage      Action = "users.manage"
)

// Resource is what an action is on. The zero Resource means the collection.
type Resource struct {
	// DatasourceID and OwnerID identify a datasource.
	DatasourceID string
	OwnerID      string
}

// Authorize is the one place where querygate decides whether a user may do
// something. It returns nil, or an EFORBIDDEN error. (Per-datasource grants
// slot in here: a datasource the user may not see will then be ENOTFOUND.)
//
//	admin:  everything
//	editor: read, create, manage and use datasources
//	viewer: list, read and use datasources
func Authorize(u *User, a Action, _ Resource) error {
	if u == nil {
		return querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in.")
	}
	switch u.Role {
	case RoleAdmin:
		return nil
	case RoleEditor:
		switch a {
		case ActionDatasourceList, ActionDatasourceRead, ActionDatasourceCreate, ActionDatasourceManage, ActionDatasourceUse:
			return nil
		}
	case RoleViewer:
		switch a {
		case ActionDatasourceList, ActionDatasourceRead, ActionDatasourceUse:
			return nil
		}
	}
	return querygate.Errorf(querygate.EFORBIDDEN, "Your role (%s) does not allow this.", u.Role)
}

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
	// ActionAdmin is what only admins do: users, groups, tokens of
	// others, sessions, the audit trail, instance settings.
	ActionAdmin Action = "admin"

	// Dashboards: Resource.OwnerID is the dashboard's owner and
	// Resource.Level its highest grant to the user ("view" or "edit").
	ActionDashboardCreate Action = "dashboard.create"
	ActionDashboardView   Action = "dashboard.view"
	ActionDashboardEdit   Action = "dashboard.edit"
	ActionDashboardOwn    Action = "dashboard.own" // share, delete
)

// Grant levels, from least to most.
const (
	LevelRun    = "run"    // run saved queries only
	LevelUse    = "use"    // also ad-hoc queries and connection tests
	LevelManage = "manage" // also change, delete and grant
)

// levelRank orders the levels; an unknown or empty level is 0.
func levelRank(l string) int {
	switch l {
	case LevelRun:
		return 1
	case LevelUse:
		return 2
	case LevelManage:
		return 3
	}
	return 0
}

// HigherLevel returns the higher of two levels.
func HigherLevel(a, b string) string {
	if levelRank(b) > levelRank(a) {
		return b
	}
	return a
}

// ValidLevel reports whether l is a grant level.
func ValidLevel(l string) bool { return levelRank(l) > 0 }

// Resource is what an action is on. The zero Resource means the collection.
type Resource struct {
	// DatasourceID and OwnerID identify a datasource.
	DatasourceID string
	OwnerID      string
	// Level is the highest grant the user holds on it, directly or
	// through a group ("" for none).
	Level string
}

// Authorize is the one place where querygate decides whether a user may do
// something. It returns nil, or an EFORBIDDEN error. Callers answer a
// datasource the user may not read as ENOTFOUND, so that its existence is
// not confirmed.
//
//	admin:  everything
//	editor: list; create datasources; read, use and manage those they own,
//	        use those granted use, manage those granted manage
//	viewer: list; read and use datasources granted use or manage
//
// Dashboards: admins and editors create them; the owning editor (and any
// admin) does everything with one; an edit grant edits, a view grant
// views.
//
// A run grant lets a user see a datasource and run its saved queries, but
// not send it ad-hoc queries.
func Authorize(u *User, a Action, r Resource) error {
	if u == nil {
		return querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in.")
	}
	switch u.Role {
	case RoleAdmin:
		return nil
	case RoleEditor, RoleViewer:
	default:
		return querygate.Errorf(querygate.EFORBIDDEN, "Your role (%s) does not allow this.", u.Role)
	}
	owner := r.OwnerID != "" && r.OwnerID == u.ID && u.Role == RoleEditor
	level := levelRank(r.Level)
	switch a {
	case ActionDatasourceList:
		return nil
	case ActionDatasourceCreate:
		if u.Role == RoleEditor {
			return nil
		}
	case ActionDatasourceRead:
		if owner || level >= levelRank(LevelRun) {
			return nil
		}
	case ActionDatasourceUse:
		if owner || level >= levelRank(LevelUse) {
			return nil
		}
	case ActionDatasourceManage:
		if owner || u.Role == RoleEditor && level >= levelRank(LevelManage) {
			return nil
		}
	case ActionDashboardCreate:
		if u.Role == RoleEditor {
			return nil
		}
	case ActionDashboardView:
		if owner || r.Level == "view" || r.Level == "edit" {
			return nil
		}
	case ActionDashboardEdit:
		if owner || r.Level == "edit" {
			return nil
		}
	case ActionDashboardOwn:
		if owner {
			return nil
		}
	}
	return querygate.Errorf(querygate.EFORBIDDEN, "Your role (%s) and grants do not allow this.", u.Role)
}

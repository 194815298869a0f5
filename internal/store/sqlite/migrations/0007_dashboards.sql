-- Dashboards: a titled grid of panels, each a saved query drawn as a
-- chart. Only the definition is kept (layout, panel settings, parameter
-- defaults), never a result: every view runs the queries again.
CREATE TABLE dashboards (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	owner_id    TEXT NOT NULL,
	definition  TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

-- subject_type is 'user' or 'group'; level is 'view' or 'edit'.
CREATE TABLE dashboard_grants (
	dashboard_id TEXT NOT NULL REFERENCES dashboards (id) ON DELETE CASCADE,
	subject_type TEXT NOT NULL CHECK (subject_type IN ('user', 'group')),
	subject_id   TEXT NOT NULL,
	level        TEXT NOT NULL CHECK (level IN ('view', 'edit')),
	PRIMARY KEY (dashboard_id, subject_type, subject_id)
);
CREATE INDEX dashboard_grants_subject ON dashboard_grants (subject_type, subject_id);

CREATE TRIGGER dashboard_grants_user_deleted AFTER DELETE ON users
BEGIN DELETE FROM dashboard_grants WHERE subject_type = 'user' AND subject_id = OLD.id; END;
CREATE TRIGGER dashboard_grants_group_deleted AFTER DELETE ON groups
BEGIN DELETE FROM dashboard_grants WHERE subject_type = 'group' AND subject_id = OLD.id; END;

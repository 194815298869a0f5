-- Dashboards: a titled grid of panels, each a saved query drawn as a
-- chart. Only the definition is kept (layout, panel settings, parameter
-- defaults), never a result: every view runs the queries again.
CREATE TABLE dashboards (
	id          TEXT COLLATE "C" PRIMARY KEY,
	name        TEXT COLLATE "C" NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	owner_id    TEXT COLLATE "C" NOT NULL,
	definition  TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);

-- subject_type is 'user' or 'group'; level is 'view' or 'edit'.
CREATE TABLE dashboard_grants (
	dashboard_id TEXT COLLATE "C" NOT NULL REFERENCES dashboards (id) ON DELETE CASCADE,
	subject_type TEXT COLLATE "C" NOT NULL CHECK (subject_type IN ('user', 'group')),
	subject_id   TEXT COLLATE "C" NOT NULL,
	level        TEXT NOT NULL CHECK (level IN ('view', 'edit')),
	PRIMARY KEY (dashboard_id, subject_type, subject_id)
);
CREATE INDEX dashboard_grants_subject ON dashboard_grants (subject_type, subject_id);

CREATE FUNCTION dashboard_grants_subject_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM dashboard_grants WHERE subject_type = TG_ARGV[0] AND subject_id = OLD.id;
	RETURN OLD;
END;
$$;
CREATE TRIGGER dashboard_grants_user_deleted AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION dashboard_grants_subject_deleted('user');
CREATE TRIGGER dashboard_grants_group_deleted AFTER DELETE ON groups
	FOR EACH ROW EXECUTE FUNCTION dashboard_grants_subject_deleted('group');

-- Groups of users, and grants of datasources to users and groups.
CREATE TABLE groups (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT COLLATE "C" NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
	group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	user_id  TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- subject_type is 'user' or 'group'; level is 'run', 'use' or 'manage'.
CREATE TABLE grants (
	datasource_id TEXT COLLATE "C" NOT NULL REFERENCES datasources (id) ON DELETE CASCADE,
	subject_type  TEXT COLLATE "C" NOT NULL CHECK (subject_type IN ('user', 'group')),
	subject_id    TEXT COLLATE "C" NOT NULL,
	level         TEXT NOT NULL CHECK (level IN ('run', 'use', 'manage')),
	PRIMARY KEY (datasource_id, subject_type, subject_id)
);
CREATE INDEX grants_subject ON grants (subject_type, subject_id);

-- A deleted user or group takes its grants with it.
CREATE FUNCTION grants_subject_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM grants WHERE subject_type = TG_ARGV[0] AND subject_id = OLD.id;
	RETURN OLD;
END;
$$;
CREATE TRIGGER grants_user_deleted AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION grants_subject_deleted('user');
CREATE TRIGGER grants_group_deleted AFTER DELETE ON groups
	FOR EACH ROW EXECUTE FUNCTION grants_subject_deleted('group');

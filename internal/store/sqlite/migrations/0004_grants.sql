-- Groups of users, and grants of datasources to users and groups.
CREATE TABLE groups (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
	group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- subject_type is 'user' or 'group'; level is 'run', 'use' or 'manage'.
CREATE TABLE grants (
	datasource_id TEXT NOT NULL REFERENCES datasources (id) ON DELETE CASCADE,
	subject_type  TEXT NOT NULL CHECK (subject_type IN ('user', 'group')),
	subject_id    TEXT NOT NULL,
	level         TEXT NOT NULL CHECK (level IN ('run', 'use', 'manage')),
	PRIMARY KEY (datasource_id, subject_type, subject_id)
);
CREATE INDEX grants_subject ON grants (subject_type, subject_id);

-- A deleted user or group takes its grants with it.
CREATE TRIGGER grants_user_deleted AFTER DELETE ON users
BEGIN DELETE FROM grants WHERE subject_type = 'user' AND subject_id = OLD.id; END;
CREATE TRIGGER grants_group_deleted AFTER DELETE ON groups
BEGIN DELETE FROM grants WHERE subject_type = 'group' AND subject_id = OLD.id; END;

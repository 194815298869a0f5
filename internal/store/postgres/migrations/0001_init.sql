-- Text that lists are sorted by uses the C collation, so that PostgreSQL
-- sorts like the embedded SQLite store (byte order), whatever the
-- database's locale.
CREATE TABLE instance (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

CREATE TABLE users (
	id            TEXT COLLATE "C" PRIMARY KEY,
	username      TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
	id_hash    BYTEA PRIMARY KEY,
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
	id           TEXT COLLATE "C" PRIMARY KEY,
	user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	hash         BYTEA NOT NULL UNIQUE,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL DEFAULT 0,
	last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE datasources (
	id           TEXT COLLATE "C" PRIMARY KEY,
	name         TEXT COLLATE "C" NOT NULL UNIQUE,
	kind         TEXT NOT NULL,
	custody      TEXT NOT NULL,
	read_only    BOOLEAN NOT NULL DEFAULT false,
	settings     TEXT NOT NULL,
	secret_names TEXT NOT NULL DEFAULT '[]',
	secrets      BYTEA,
	owner_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);

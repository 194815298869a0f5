-- Device custody: a datasource password sealed with a key that only the
-- user's device holds (in a cookie). The server keeps the ciphertext only.
CREATE TABLE device_credentials (
	id            TEXT COLLATE "C" PRIMARY KEY,
	user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	datasource_id TEXT COLLATE "C" NOT NULL REFERENCES datasources (id) ON DELETE CASCADE,
	sealed        BYTEA NOT NULL,
	created_at    BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	last_used_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX device_credentials_user ON device_credentials (user_id);
CREATE INDEX device_credentials_datasource ON device_credentials (datasource_id);

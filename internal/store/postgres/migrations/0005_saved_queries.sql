-- Saved queries: named statements or request templates on a datasource,
-- run by reference with typed parameters. Editing adds a version; the
-- previous versions stay readable.
CREATE TABLE saved_queries (
	id              TEXT COLLATE "C" PRIMARY KEY,
	datasource_id   TEXT COLLATE "C" NOT NULL REFERENCES datasources (id) ON DELETE CASCADE,
	name            TEXT COLLATE "C" NOT NULL,
	description     TEXT NOT NULL DEFAULT '',
	owner_id        TEXT COLLATE "C" NOT NULL,
	current_version INTEGER NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	UNIQUE (datasource_id, name)
);

-- body is a JSON object: {"query": "..."}, {"request": {...}} or
-- {"command": [...]}; parameters a JSON array of typed declarations.
CREATE TABLE saved_query_versions (
	query_id   TEXT COLLATE "C" NOT NULL REFERENCES saved_queries (id) ON DELETE CASCADE,
	version    INTEGER NOT NULL,
	body       TEXT NOT NULL,
	parameters TEXT NOT NULL,
	created_by TEXT COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (query_id, version)
);

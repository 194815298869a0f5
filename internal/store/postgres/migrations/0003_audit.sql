-- The audit trail: metadata of what happened, never a secret or a result.
-- Rows are only ever inserted; each carries an HMAC chained to the one
-- before it, so an edited or deleted row is detected by `audit verify`.
CREATE TABLE audit_events (
	seq           BIGINT PRIMARY KEY,
	at            BIGINT NOT NULL,
	actor_id      TEXT NOT NULL DEFAULT '',
	actor_name    TEXT NOT NULL DEFAULT '',
	action        TEXT NOT NULL,
	target        TEXT NOT NULL DEFAULT '',
	datasource_id TEXT NOT NULL DEFAULT '',
	outcome       TEXT NOT NULL,
	remote        TEXT NOT NULL DEFAULT '',
	request_id    TEXT NOT NULL DEFAULT '',
	details       TEXT NOT NULL DEFAULT '{}',
	hash          BYTEA NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_datasource ON audit_events (datasource_id, seq);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

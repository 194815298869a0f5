-- How far the audit journal of the gateway that keeps one (the embedded
-- store's serve, see internal/audit/journal.go) has been moved into
-- audit_events: its generation and the offset just past the last record
-- moved. It is written in the same transaction as the events it covers,
-- so that a journal replayed after a crash never appends an event twice.
CREATE TABLE audit_journal (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	generation TEXT NOT NULL,
	moved      BIGINT NOT NULL
);

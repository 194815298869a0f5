-- The change sequence: one number, raised in the same transaction as any
-- change to what gateways keep in memory (users, sessions, API tokens,
-- groups, datasources, grants, device credentials). A gateway that reads
-- the number unchanged knows its copies are current; with several replicas
-- on one store, each sees the others' changes this way. The row is made by
-- the first change, so that a new store stays empty for store copy.
CREATE TABLE changes (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq BIGINT NOT NULL
);

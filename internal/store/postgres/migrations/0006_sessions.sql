-- Sessions are listed and revoked by their owner and by admins: a public
-- handle (never the id, which only the cookie holds), when each was last
-- used (for the idle timeout), and where it began.
ALTER TABLE sessions ADD COLUMN public_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN remote TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
UPDATE sessions SET public_id = md5(random()::text || id_hash::text);
CREATE UNIQUE INDEX sessions_public_id ON sessions (public_id);

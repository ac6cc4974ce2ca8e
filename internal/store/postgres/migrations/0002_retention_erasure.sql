-- Parley schema version 2, PostgreSQL: retention and erasure (the twin of
-- internal/store/sqlite/migrations/0002_retention_erasure.sql).

-- A deleted user keeps a tombstone row, so that the id is never reused.
ALTER TABLE users ADD COLUMN deleted    BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleted_at BIGINT NOT NULL DEFAULT 0;

-- max_age is the conversation's own retention in milliseconds (0: the
-- global setting); purged_seq the highest seq that retention deleted.
ALTER TABLE conversations ADD COLUMN max_age    BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN purged_seq BIGINT NOT NULL DEFAULT 0;

-- Finds the few conversations with a retention of their own when the
-- global retention is off; only those rows pay for it.
CREATE INDEX conversations_max_age ON conversations (max_age)
	WHERE max_age > 0;

-- participants holds every (user, conversation) pair the user was ever a
-- member of; rows are added with a membership and never removed. A sender
-- is always a member, so this is where a user's messages can be: erasure
-- and export look there instead of through a sender index on messages,
-- which would cost every send (docs/adr/0004-erasure-without-sender-index.md).
CREATE TABLE participants (
	user_id TEXT COLLATE "C" NOT NULL,
	conv_id TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, conv_id)
);

-- (The backfill of the SQLite file; a PostgreSQL schema starts empty, so
-- these copy nothing, but they stay the same steps.)
INSERT INTO participants (user_id, conv_id)
	SELECT user_id, conv_id FROM members
	ON CONFLICT DO NOTHING;
INSERT INTO participants (user_id, conv_id)
	SELECT DISTINCT sender, conv_id FROM messages
	ON CONFLICT DO NOTHING;

-- Parley schema version 2: retention and erasure.

-- A deleted user keeps a tombstone row, so that the id is never reused.
ALTER TABLE users ADD COLUMN deleted    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;

-- max_age is the conversation's own retention in milliseconds (0: the
-- global setting); purged_seq the highest seq that retention deleted.
ALTER TABLE conversations ADD COLUMN max_age    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN purged_seq INTEGER NOT NULL DEFAULT 0;

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
	user_id TEXT NOT NULL,
	conv_id TEXT NOT NULL,
	PRIMARY KEY (user_id, conv_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO participants (user_id, conv_id)
	SELECT user_id, conv_id FROM members;
INSERT OR IGNORE INTO participants (user_id, conv_id)
	SELECT DISTINCT sender, conv_id FROM messages;

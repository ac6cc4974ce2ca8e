-- Parley schema version 11, PostgreSQL: broadcast lists (the twin of
-- internal/store/sqlite/migrations/0011_broadcast_lists.sql; issue 12,
-- point 6), the saved lists of recipients a user sends one message to,
-- each recipient getting it as an ordinary message in their direct
-- conversation with the sender. A list's id is unique among its owner's
-- lists only.
CREATE TABLE broadcast_lists (
	owner      TEXT   COLLATE "C" NOT NULL,
	id         TEXT   COLLATE "C" NOT NULL,
	name       BYTEA  NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (owner, id)
);

-- The users of a list, one row each; a list's members are one range of the
-- primary key. broadcast_members_user finds the lists a user is in
-- (erasure).
CREATE TABLE broadcast_members (
	owner   TEXT COLLATE "C" NOT NULL,
	list_id TEXT COLLATE "C" NOT NULL,
	user_id TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (owner, list_id, user_id)
);

CREATE INDEX broadcast_members_user ON broadcast_members (user_id);

-- Parley schema version 11: broadcast lists (issue 12, point 6), the saved
-- lists of recipients a user sends one message to, each recipient getting
-- it as an ordinary message in their direct conversation with the sender.
-- A list's id is unique among its owner's lists only.
CREATE TABLE broadcast_lists (
	owner      TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	name       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (owner, id)
) WITHOUT ROWID;

-- The users of a list, one row each; a list's members are one range of the
-- primary key. broadcast_members_user finds the lists a user is in
-- (erasure).
CREATE TABLE broadcast_members (
	owner   TEXT NOT NULL,
	list_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	PRIMARY KEY (owner, list_id, user_id)
) WITHOUT ROWID;

CREATE INDEX broadcast_members_user ON broadcast_members (user_id);

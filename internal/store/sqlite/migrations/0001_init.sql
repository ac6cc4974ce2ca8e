-- Parley schema version 1. Times are Unix milliseconds; 0 means "never".
-- Foreign keys are deliberately absent: referential rules are the core's,
-- and a per-row parent check would cost the hot message path.

CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	display_name  TEXT    NOT NULL DEFAULT '',
	password_hash TEXT    NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL DEFAULT 0,
	last_seen     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE devices (
	user_id    TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	PRIMARY KEY (user_id, id)
) WITHOUT ROWID;

CREATE INDEX devices_last_seen ON devices (last_seen);

CREATE TABLE sessions (
	id           TEXT    NOT NULL PRIMARY KEY,
	user_id      TEXT    NOT NULL,
	device_id    TEXT    NOT NULL,
	refresh_hash TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	revoked      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE INDEX sessions_user_device ON sessions (user_id, device_id);

CREATE TABLE conversations (
	id         TEXT    NOT NULL PRIMARY KEY,
	kind       TEXT    NOT NULL,
	name       TEXT    NOT NULL DEFAULT '',
	created_by TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	last_seq   INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- directs maps the sorted user pair of a direct conversation to its id.
CREATE TABLE directs (
	user_lo TEXT NOT NULL,
	user_hi TEXT NOT NULL,
	conv_id TEXT NOT NULL UNIQUE,
	PRIMARY KEY (user_lo, user_hi)
) WITHOUT ROWID;

CREATE TABLE members (
	conv_id       TEXT    NOT NULL,
	user_id       TEXT    NOT NULL,
	role          TEXT    NOT NULL,
	joined_seq    INTEGER NOT NULL DEFAULT 0,
	read_seq      INTEGER NOT NULL DEFAULT 0,
	delivered_seq INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (conv_id, user_id)
) WITHOUT ROWID;

CREATE INDEX members_user ON members (user_id, conv_id);

-- messages is append-ordered by rowid (DESIGN.md §2.2): inserting a batch
-- touches the tail of the table B-tree, and the two unique indexes carry
-- the per-conversation order and the sender's dedupe key.
CREATE TABLE messages (
	conv_id       TEXT    NOT NULL,
	seq           INTEGER NOT NULL,
	id            TEXT    NOT NULL,
	sender        TEXT    NOT NULL,
	client_msg_id TEXT    NOT NULL DEFAULT '',
	kind          TEXT    NOT NULL,
	content_type  TEXT    NOT NULL DEFAULT '',
	body          TEXT    NOT NULL DEFAULT '',
	payload       BLOB,
	encrypted     INTEGER NOT NULL DEFAULT 0,
	target        INTEGER NOT NULL DEFAULT 0,
	member        TEXT,
	created_at    INTEGER NOT NULL,
	edited_at     INTEGER NOT NULL DEFAULT 0,
	deleted       INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX messages_conv_seq ON messages (conv_id, seq);

CREATE UNIQUE INDEX messages_dedupe ON messages (sender, client_msg_id)
	WHERE client_msg_id <> '';

-- messages_edits finds the edits of a message when it is deleted, so that
-- their bodies are cleared too; only edit rows pay for it.
CREATE INDEX messages_edits ON messages (conv_id, target)
	WHERE kind = 'edit';

CREATE TABLE positions (
	user_id   TEXT    NOT NULL,
	device_id TEXT    NOT NULL,
	conv_id   TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	PRIMARY KEY (user_id, device_id, conv_id)
) WITHOUT ROWID;

CREATE INDEX positions_conv_user ON positions (conv_id, user_id);

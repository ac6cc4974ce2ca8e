-- Parley schema version 1, PostgreSQL (the twin of
-- internal/store/sqlite/migrations/0001_init.sql: same tables, columns,
-- indexes and meanings). Times are Unix milliseconds; 0 means "never".
-- Foreign keys are deliberately absent: referential rules are the core's,
-- and a per-row parent check would cost the hot message path.
--
-- Translation rules, for this file and the next ones: INTEGER is BIGINT
-- (ms times, seqs, counts, and the 0/1 flags, which the code writes and
-- compares as integers); BLOB is BYTEA; TEXT is TEXT COLLATE "C", the
-- byte order of SQLite's BINARY collation, so that comparisons, ORDER BY,
-- min/max and index order on these columns give SQLite's results whatever
-- the database's default collation; a WITHOUT ROWID table is an ordinary
-- table with the same primary key.
--
-- Except: the free text that users write is BYTEA. SQLite's TEXT keeps any
-- bytes, and Parley stores such text byte-exact, NUL bytes and invalid
-- UTF-8 included (storetest "bodies/..."), which a PostgreSQL TEXT refuses
-- (SQLSTATE 22021). These columns are messages.body, users.display_name
-- and password_hash, conversations.name, friend_requests.text,
-- notices.body, moments.text, moment_comments.text and
-- broadcast_lists.name; they are never ordered or indexed, and '' is the
-- empty BYTEA in comparisons and defaults. Their values go in as []byte
-- (a Go string for a BYTEA parameter is sent as text: NUL fails, and a
-- leading \x is read as hex) and scan into a string as they are.

CREATE TABLE users (
	id            TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
	display_name  BYTEA  NOT NULL DEFAULT '',
	password_hash BYTEA  NOT NULL DEFAULT '',
	disabled      BIGINT NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL DEFAULT 0,
	last_seen     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE devices (
	user_id    TEXT   COLLATE "C" NOT NULL,
	id         TEXT   COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	PRIMARY KEY (user_id, id)
);

CREATE INDEX devices_last_seen ON devices (last_seen);

CREATE TABLE sessions (
	id           TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
	user_id      TEXT   COLLATE "C" NOT NULL,
	device_id    TEXT   COLLATE "C" NOT NULL,
	refresh_hash TEXT   COLLATE "C" NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	revoked      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX sessions_user_device ON sessions (user_id, device_id);

CREATE TABLE conversations (
	id         TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
	kind       TEXT   COLLATE "C" NOT NULL,
	name       BYTEA  NOT NULL DEFAULT '',
	created_by TEXT   COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	last_seq   BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL
);

-- directs maps the sorted user pair of a direct conversation to its id.
CREATE TABLE directs (
	user_lo TEXT COLLATE "C" NOT NULL,
	user_hi TEXT COLLATE "C" NOT NULL,
	conv_id TEXT COLLATE "C" NOT NULL UNIQUE,
	PRIMARY KEY (user_lo, user_hi)
);

CREATE TABLE members (
	conv_id       TEXT   COLLATE "C" NOT NULL,
	user_id       TEXT   COLLATE "C" NOT NULL,
	role          TEXT   COLLATE "C" NOT NULL,
	joined_seq    BIGINT NOT NULL DEFAULT 0,
	read_seq      BIGINT NOT NULL DEFAULT 0,
	delivered_seq BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (conv_id, user_id)
);

CREATE INDEX members_user ON members (user_id, conv_id);

-- messages: in SQLite a rowid table, append-ordered by rowid (DESIGN.md
-- §2.2); here a heap, which appends too. No code reads the rowid, so there
-- is no column for it. The two unique indexes carry the per-conversation
-- order and the sender's dedupe key.
CREATE TABLE messages (
	conv_id       TEXT   COLLATE "C" NOT NULL,
	seq           BIGINT NOT NULL,
	id            TEXT   COLLATE "C" NOT NULL,
	sender        TEXT   COLLATE "C" NOT NULL,
	client_msg_id TEXT   COLLATE "C" NOT NULL DEFAULT '',
	kind          TEXT   COLLATE "C" NOT NULL,
	content_type  TEXT   COLLATE "C" NOT NULL DEFAULT '',
	body          BYTEA  NOT NULL DEFAULT '',
	payload       BYTEA,
	encrypted     BIGINT NOT NULL DEFAULT 0,
	target        BIGINT NOT NULL DEFAULT 0,
	member        TEXT   COLLATE "C",
	created_at    BIGINT NOT NULL,
	edited_at     BIGINT NOT NULL DEFAULT 0,
	deleted       BIGINT NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX messages_conv_seq ON messages (conv_id, seq);

CREATE UNIQUE INDEX messages_dedupe ON messages (sender, client_msg_id)
	WHERE client_msg_id <> '';

-- messages_edits finds the edits of a message when it is deleted, so that
-- their bodies are cleared too; only edit rows pay for it.
CREATE INDEX messages_edits ON messages (conv_id, target)
	WHERE kind = 'edit';

CREATE TABLE positions (
	user_id   TEXT   COLLATE "C" NOT NULL,
	device_id TEXT   COLLATE "C" NOT NULL,
	conv_id   TEXT   COLLATE "C" NOT NULL,
	seq       BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, conv_id)
);

CREATE INDEX positions_conv_user ON positions (conv_id, user_id);

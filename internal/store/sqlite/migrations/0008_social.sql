-- Parley schema version 8: the social graph (issue 12): friends, friend
-- requests, blocks, per-user settings, and server-side tags with the
-- system notices sent to them. Events about these are entries of the
-- users' system conversations (kind 'system', created with their first
-- entry by the store); the tables here hold the current state, written in
-- the same transaction as those entries.

-- A pending friend request from from_user to to_user. Answering or
-- withdrawing it deletes the row; repeating it changes nothing.
CREATE TABLE friend_requests (
	from_user  TEXT    NOT NULL,
	to_user    TEXT    NOT NULL,
	text       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (from_user, to_user)
) WITHOUT ROWID;

CREATE INDEX friend_requests_to ON friend_requests (to_user, from_user);

-- A friendship is two rows, one per direction, written and deleted
-- together, so that a user's friends are one range of the primary key.
CREATE TABLE friends (
	user_id   TEXT    NOT NULL,
	friend_id TEXT    NOT NULL,
	since     INTEGER NOT NULL,
	PRIMARY KEY (user_id, friend_id)
) WITHOUT ROWID;

-- user_id blocks blocked_id.
CREATE TABLE blocks (
	user_id    TEXT    NOT NULL,
	blocked_id TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;

CREATE INDEX blocks_blocked ON blocks (blocked_id, user_id);

-- A user's privacy settings; no row means the server's defaults. inbound
-- is who may message the user ('' = the server default, 'anyone',
-- 'friends': friends and co-members of a group).
CREATE TABLE user_settings (
	user_id         TEXT    NOT NULL PRIMARY KEY,
	inbound         TEXT    NOT NULL DEFAULT '',
	presence_hidden INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Server-side tags: at most one value per (user, key). sys is the user's
-- system conversation id (store.SystemConvID): a notice to a tag takes its
-- users in that order, so that neighbouring copies go to neighbouring rows.
CREATE TABLE user_tags (
	user_id TEXT NOT NULL,
	key     TEXT NOT NULL,
	value   TEXT NOT NULL,
	sys     TEXT NOT NULL,
	PRIMARY KEY (user_id, key)
) WITHOUT ROWID;

CREATE INDEX user_tags_value ON user_tags (key, value, sys, user_id);

-- A system notice (store.Notice), sent into the system conversation of
-- each user of its audience a chunk at a time. audience is the parsed tag
-- expression as JSON (store.TagExpr), audience_text its text; cursor is
-- where sending has got to in the order it takes the audience in (see
-- notice_verdicts); matched is -1 until counted.
CREATE TABLE notices (
	id            TEXT    NOT NULL PRIMARY KEY,
	audience      TEXT    NOT NULL,
	audience_text TEXT    NOT NULL,
	created_by    TEXT    NOT NULL DEFAULT '',
	content_type  TEXT    NOT NULL DEFAULT '',
	body          TEXT    NOT NULL DEFAULT '',
	payload       BLOB,
	created_at    INTEGER NOT NULL,
	state         TEXT    NOT NULL,
	matched       INTEGER NOT NULL DEFAULT -1,
	stored        INTEGER NOT NULL DEFAULT 0,
	skipped       INTEGER NOT NULL DEFAULT 0,
	delivered     INTEGER NOT NULL DEFAULT 0,
	cursor        TEXT    NOT NULL DEFAULT '',
	finished_at   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE INDEX notices_created ON notices (created_at, id);
CREATE INDEX notices_sending ON notices (created_at) WHERE state = 'sending';

-- Whether a user was in a notice's audience when the notice was created,
-- written when the user's tags first change while the notice is being sent
-- and has not reached the user; sending uses it instead of the user's
-- current tags. pos is the user's place in the order the notice takes its
-- audience (the cursor's). Deleted as sending passes them.
CREATE TABLE notice_verdicts (
	notice_id TEXT    NOT NULL,
	pos       TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	matched   INTEGER NOT NULL,
	PRIMARY KEY (notice_id, pos)
) WITHOUT ROWID;

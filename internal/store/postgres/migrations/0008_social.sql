-- Parley schema version 8, PostgreSQL: the social graph (the twin of
-- internal/store/sqlite/migrations/0008_social.sql; issue 12): friends,
-- friend requests, blocks, per-user settings, and server-side tags with the
-- system notices sent to them. Events about these are entries of the
-- users' system conversations (kind 'system', created with their first
-- entry by the store); the tables here hold the current state, written in
-- the same transaction as those entries.

-- A pending friend request from from_user to to_user. Answering or
-- withdrawing it deletes the row; repeating it changes nothing.
CREATE TABLE friend_requests (
	from_user  TEXT   COLLATE "C" NOT NULL,
	to_user    TEXT   COLLATE "C" NOT NULL,
	text       BYTEA  NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	PRIMARY KEY (from_user, to_user)
);

CREATE INDEX friend_requests_to ON friend_requests (to_user, from_user);

-- A friendship is two rows, one per direction, written and deleted
-- together, so that a user's friends are one range of the primary key.
CREATE TABLE friends (
	user_id   TEXT   COLLATE "C" NOT NULL,
	friend_id TEXT   COLLATE "C" NOT NULL,
	since     BIGINT NOT NULL,
	PRIMARY KEY (user_id, friend_id)
);

-- user_id blocks blocked_id.
CREATE TABLE blocks (
	user_id    TEXT   COLLATE "C" NOT NULL,
	blocked_id TEXT   COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, blocked_id)
);

CREATE INDEX blocks_blocked ON blocks (blocked_id, user_id);

-- A user's privacy settings; no row means the server's defaults. inbound
-- is who may message the user ('' = the server default, 'anyone',
-- 'friends': friends and co-members of a group).
CREATE TABLE user_settings (
	user_id         TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
	inbound         TEXT   COLLATE "C" NOT NULL DEFAULT '',
	presence_hidden BIGINT NOT NULL DEFAULT 0
);

-- Server-side tags: at most one value per (user, key). sys is the user's
-- system conversation id (store.SystemConvID): a notice to a tag takes its
-- users in that order, so that neighbouring copies go to neighbouring rows.
CREATE TABLE user_tags (
	user_id TEXT COLLATE "C" NOT NULL,
	key     TEXT COLLATE "C" NOT NULL,
	value   TEXT COLLATE "C" NOT NULL,
	sys     TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, key)
);

CREATE INDEX user_tags_value ON user_tags (key, value, sys, user_id);

-- A system notice (store.Notice), sent into the system conversation of
-- each user of its audience a chunk at a time. audience is the parsed tag
-- expression as JSON (store.TagExpr; TEXT, as in SQLite: no SQL looks
-- inside), audience_text its text; cursor is where sending has got to in
-- the order it takes the audience in (see notice_verdicts); matched is -1
-- until counted.
CREATE TABLE notices (
	id            TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
	audience      TEXT   COLLATE "C" NOT NULL,
	audience_text TEXT   COLLATE "C" NOT NULL,
	created_by    TEXT   COLLATE "C" NOT NULL DEFAULT '',
	content_type  TEXT   COLLATE "C" NOT NULL DEFAULT '',
	body          BYTEA  NOT NULL DEFAULT '',
	payload       BYTEA,
	created_at    BIGINT NOT NULL,
	state         TEXT   COLLATE "C" NOT NULL,
	matched       BIGINT NOT NULL DEFAULT -1,
	stored        BIGINT NOT NULL DEFAULT 0,
	skipped       BIGINT NOT NULL DEFAULT 0,
	delivered     BIGINT NOT NULL DEFAULT 0,
	cursor        TEXT   COLLATE "C" NOT NULL DEFAULT '',
	finished_at   BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX notices_created ON notices (created_at, id);
CREATE INDEX notices_sending ON notices (created_at) WHERE state = 'sending';

-- Whether a user was in a notice's audience when the notice was created,
-- written when the user's tags first change while the notice is being sent
-- and has not reached the user; sending uses it instead of the user's
-- current tags. pos is the user's place in the order the notice takes its
-- audience (the cursor's). Deleted as sending passes them.
CREATE TABLE notice_verdicts (
	notice_id TEXT   COLLATE "C" NOT NULL,
	pos       TEXT   COLLATE "C" NOT NULL,
	user_id   TEXT   COLLATE "C" NOT NULL,
	matched   BIGINT NOT NULL,
	PRIMARY KEY (notice_id, pos)
);

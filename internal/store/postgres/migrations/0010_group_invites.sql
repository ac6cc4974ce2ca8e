-- Parley schema version 10, PostgreSQL: invitations to groups, invite
-- links, join requests and group settings (the twin of
-- internal/store/sqlite/migrations/0010_group_invites.sql; issue 12, point
-- 4; docs/protocol.md 2.11), and who may add a user to a group directly.
-- Events about invitations and join requests are entries of the users'
-- system conversations, and joining is the group's "joined" entry; these
-- tables hold the current state, written in the same transactions.

-- A pending invitation of invitee to the group conv_id, by inviter.
-- Accepting, declining or revoking it deletes the row, and so does the
-- invitee's becoming a member in any other way; inviting again while it is
-- pending changes nothing.
CREATE TABLE group_invites (
	conv_id    TEXT   COLLATE "C" NOT NULL,
	invitee    TEXT   COLLATE "C" NOT NULL,
	inviter    TEXT   COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (conv_id, invitee)
);

CREATE INDEX group_invites_invitee ON group_invites (invitee, conv_id);

-- An invite link: whoever has the token joins conv_id (or asks to, when
-- the group's join_approval is on) until expires_at, at most max_uses
-- times (0: no bound). uses counts joins and join requests made with it.
CREATE TABLE group_links (
	token      TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
	conv_id    TEXT   COLLATE "C" NOT NULL,
	created_by TEXT   COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	max_uses   BIGINT NOT NULL DEFAULT 0,
	uses       BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX group_links_conv ON group_links (conv_id, created_at);

-- A pending request of user_id to join conv_id, made with a link while
-- the group's join_approval was on. Approving or denying it deletes the
-- row, and so does the user's becoming a member in any other way.
CREATE TABLE group_join_requests (
	conv_id    TEXT   COLLATE "C" NOT NULL,
	user_id    TEXT   COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (conv_id, user_id)
);

CREATE INDEX group_join_requests_user ON group_join_requests (user_id, conv_id);

-- A group's settings; no row means the defaults (join_approval off).
CREATE TABLE group_settings (
	conv_id       TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
	join_approval BIGINT NOT NULL DEFAULT 0
);

-- Who may add the user to a group directly ('' = the server default,
-- 'anyone', 'friends'); anyone else invites the user.
ALTER TABLE user_settings ADD COLUMN group_add TEXT COLLATE "C" NOT NULL DEFAULT '';

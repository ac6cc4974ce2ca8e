-- Parley schema version 9: follows and the moments feed (issue 12, point
-- 5; docs/protocol.md, "Follows and moments"). Posting a moment is one row,
-- whatever the number of followers: a feed is read through the follows
-- (fan-out on read, docs/adr/0009-moments-fan-out-on-read.md).

-- follower follows followee. by_friendship is 1 for a follow that a
-- friendship made (friends follow each other by default); an explicit
-- follow sets it to 0, and only a follow still marked 1 ends with the
-- friendship.
CREATE TABLE follows (
	follower      TEXT    NOT NULL,
	followee      TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	by_friendship INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (follower, followee)
) WITHOUT ROWID;

CREATE INDEX follows_followee ON follows (followee, follower);

-- A moment. The id is never reused (AUTOINCREMENT), so a feed cursor,
-- which is an id, never comes to name a newer moment. client_id is the
-- author's optional idempotency key. likes and comments count the rows
-- of moment_likes and moment_comments (kept by the triggers below).
CREATE TABLE moments (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	author     TEXT    NOT NULL,
	client_id  TEXT    NOT NULL DEFAULT '',
	text       TEXT    NOT NULL DEFAULT '',
	payload    BLOB,
	visibility TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	likes      INTEGER NOT NULL DEFAULT 0,
	comments   INTEGER NOT NULL DEFAULT 0
);

-- The feed's index: an author's newest moment below a cursor, and whether
-- it is a list moment, from the index alone (one seek per followed user).
CREATE INDEX moments_author ON moments (author, id, visibility);

CREATE UNIQUE INDEX moments_client_id ON moments (author, client_id) WHERE client_id != '';

-- The users a 'list' moment is shown to, besides its author.
CREATE TABLE moment_audience (
	moment_id INTEGER NOT NULL,
	user_id   TEXT    NOT NULL,
	PRIMARY KEY (moment_id, user_id)
) WITHOUT ROWID;

CREATE INDEX moment_audience_user ON moment_audience (user_id);

CREATE TABLE moment_comments (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	moment_id  INTEGER NOT NULL,
	author     TEXT    NOT NULL,
	text       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE INDEX moment_comments_moment ON moment_comments (moment_id, id);
CREATE INDEX moment_comments_author ON moment_comments (author);

CREATE TABLE moment_likes (
	moment_id  INTEGER NOT NULL,
	user_id    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (moment_id, user_id)
) WITHOUT ROWID;

CREATE INDEX moment_likes_user ON moment_likes (user_id);

-- The rules the schema keeps in the transactions of other tables' writers
-- (store.Follows, store.Moments), so that no other writer has to know of
-- follows and moments.

-- Friends follow each other: each row of a new friendship (one per
-- direction) makes its user follow the friend, unless they do already.
CREATE TRIGGER friends_follow AFTER INSERT ON friends BEGIN
	INSERT OR IGNORE INTO follows (follower, followee, created_at, by_friendship)
	VALUES (NEW.user_id, NEW.friend_id, NEW.since, 1);
END;

-- An ended friendship takes back the follows it made.
CREATE TRIGGER friends_unfollow AFTER DELETE ON friends BEGIN
	DELETE FROM follows WHERE follower = OLD.user_id AND followee = OLD.friend_id AND by_friendship = 1;
END;

-- A block removes the blocked user's follow of the blocker.
CREATE TRIGGER blocks_unfollow AFTER INSERT ON blocks BEGIN
	DELETE FROM follows WHERE follower = NEW.blocked_id AND followee = NEW.user_id;
END;

-- Erasure (a user becoming a tombstone) removes the user's follows both
-- ways, moments, comments, likes and place in audiences.
CREATE TRIGGER users_erase_moments AFTER UPDATE OF deleted ON users
WHEN NEW.deleted != 0 AND OLD.deleted = 0 BEGIN
	DELETE FROM follows WHERE follower = NEW.id;
	DELETE FROM follows WHERE followee = NEW.id;
	DELETE FROM moments WHERE author = NEW.id;
	DELETE FROM moment_comments WHERE author = NEW.id;
	DELETE FROM moment_likes WHERE user_id = NEW.id;
	DELETE FROM moment_audience WHERE user_id = NEW.id;
END;

-- A deleted moment takes its comments, likes and audience with it.
CREATE TRIGGER moments_delete AFTER DELETE ON moments BEGIN
	DELETE FROM moment_comments WHERE moment_id = OLD.id;
	DELETE FROM moment_likes WHERE moment_id = OLD.id;
	DELETE FROM moment_audience WHERE moment_id = OLD.id;
END;

-- The counts of a moment follow its rows.
CREATE TRIGGER moment_likes_count_add AFTER INSERT ON moment_likes BEGIN
	UPDATE moments SET likes = likes + 1 WHERE id = NEW.moment_id;
END;

CREATE TRIGGER moment_likes_count_del AFTER DELETE ON moment_likes BEGIN
	UPDATE moments SET likes = likes - 1 WHERE id = OLD.moment_id;
END;

CREATE TRIGGER moment_comments_count_add AFTER INSERT ON moment_comments BEGIN
	UPDATE moments SET comments = comments + 1 WHERE id = NEW.moment_id;
END;

CREATE TRIGGER moment_comments_count_del AFTER DELETE ON moment_comments BEGIN
	UPDATE moments SET comments = comments - 1 WHERE id = OLD.moment_id;
END;

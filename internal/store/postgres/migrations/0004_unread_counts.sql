-- Parley schema version 4, PostgreSQL: unread counts that cost the same
-- whatever the backlog (the twin of
-- internal/store/sqlite/migrations/0004_unread_counts.sql;
-- docs/adr/0006-unread-from-running-counts.md).
--
-- Unread (DESIGN.md §2.7) is the number of content messages (kind 'msg',
-- not deleted) above a member's read position p = max(read_seq,
-- joined_seq), not sent by the member. Nothing above p is the member's own:
-- sending raises the sender's read_seq in the same transaction, and a
-- member that joins again starts above everything said before. So, with
-- p at least purged_seq,
--   unread = content_count(last_seq) - content_count(p) - (deleted above p)
-- from one row of messages, the conversation row and, when a deletion lies
-- above p, a few nodes of deleted_tree.

-- content_count of a message: how many content messages its conversation
-- has with a seq up to its own, deleted ones included; written once, with
-- the row, and never changed.
ALTER TABLE messages ADD COLUMN content_count BIGINT NOT NULL DEFAULT 0;

-- content_count: the same at last_seq; purged_content: at purged_seq (whose
-- row retention deleted); deleted_count: how many content messages were
-- deleted (purged ones included); deleted_max: the highest seq of one (0:
-- none), so that a reader above it needs no tree lookup.
ALTER TABLE conversations ADD COLUMN content_count  BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN purged_content BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN deleted_count  BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN deleted_max    BIGINT NOT NULL DEFAULT 0;

-- deleted_tree is a Fenwick (binary indexed) tree per conversation over the
-- seqs of deleted content messages: node i counts those with a seq in
-- (i - (i & -i), i], for i up to the conversation's top, the smallest power
-- of two at or above last_seq. A deletion adds 1 to the nodes s,
-- s + (s & -s), ... up to the top; the deleted up to p are the sum of the
-- nodes p, p - (p & -p), ... down to 1. When last_seq passes the top, the
-- powers of two up to the new one get deleted_count. Only nodes with a
-- count are stored (internal/store/sqlite/unread.go).
CREATE TABLE deleted_tree (
	conv_id TEXT   COLLATE "C" NOT NULL,
	node    BIGINT NOT NULL,
	n       BIGINT NOT NULL,
	PRIMARY KEY (conv_id, node)
);

-- The backfill of the SQLite file, in PostgreSQL's terms (a PostgreSQL
-- schema starts empty, so these change nothing). The stored rows get their
-- running counts, starting at 0 above each conversation's purged_seq
-- (purged_content stays 0); (conv_id, seq) names a row where SQLite used
-- the rowid.
UPDATE messages SET content_count = w.n FROM (
	SELECT conv_id, seq,
		sum(CASE WHEN kind = 'msg' THEN 1 ELSE 0 END) OVER (PARTITION BY conv_id ORDER BY seq) AS n
	FROM messages
) AS w WHERE messages.conv_id = w.conv_id AND messages.seq = w.seq AND w.n <> 0;

UPDATE conversations SET content_count = m.content_count
	FROM messages AS m WHERE m.conv_id = conversations.id AND m.seq = conversations.last_seq;

UPDATE conversations SET deleted_count = d.n, deleted_max = d.top FROM (
	SELECT conv_id, count(*) AS n, max(seq) AS top FROM messages
	WHERE kind = 'msg' AND deleted = 1 GROUP BY conv_id
) AS d WHERE d.conv_id = conversations.id;

WITH RECURSIVE pow (p) AS (
	SELECT CAST(1 AS BIGINT) UNION ALL SELECT p * 2 FROM pow WHERE p < 4611686018427387904
), tops (conv_id, top) AS (
	SELECT id, (SELECT min(p) FROM pow WHERE p >= last_seq) FROM conversations WHERE deleted_count > 0
), up (conv_id, node, top) AS (
	SELECT m.conv_id, m.seq, t.top FROM messages AS m JOIN tops AS t ON t.conv_id = m.conv_id
	WHERE m.kind = 'msg' AND m.deleted = 1 AND m.seq BETWEEN 1 AND t.top
	UNION ALL
	SELECT conv_id, node + (node & -node), top FROM up
	WHERE node + (node & -node) <= top
)
INSERT INTO deleted_tree (conv_id, node, n)
	SELECT conv_id, node, count(*) FROM up GROUP BY conv_id, node;

-- What the formula rests on, made true of every file: a member's read
-- position is at or above its own content messages.
UPDATE members SET read_seq = s.top FROM (
	SELECT conv_id, sender, max(seq) AS top FROM messages
	WHERE kind = 'msg' GROUP BY conv_id, sender
) AS s WHERE s.conv_id = members.conv_id AND s.sender = members.user_id AND members.read_seq < s.top;

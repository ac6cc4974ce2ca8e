-- Parley schema version 6, PostgreSQL: MQTT QoS 2 packet ids kept apart
-- from client message ids (the twin of
-- internal/store/sqlite/migrations/0006_packet_keys.sql, which tells the
-- history).

-- packet_keys holds the packet keys (store.Append.PacketKey) that messages
-- hold until their release: (sender, key) names the message (conv_id,
-- seq). A key whose message retention purged holds nothing. Rows go with
-- their sender (DeleteUser).
CREATE TABLE packet_keys (
	sender  TEXT   COLLATE "C" NOT NULL,
	key     TEXT   COLLATE "C" NOT NULL,
	conv_id TEXT   COLLATE "C" NOT NULL,
	seq     BIGINT NOT NULL,
	PRIMARY KEY (sender, key)
);

-- The SQLite file's backfill (nothing to copy in a new PostgreSQL schema):
-- messages whose client_msg_id is still exactly 'q2:' + 16 lowercase hex
-- digits + ':' + a packet id (1 to 65535). The GLOB patterns are regular
-- expressions here: 'q2:[0-9a-f]x16:[1-9]*' and "no non-digit from the
-- 21st character on".
INSERT INTO packet_keys (sender, key, conv_id, seq)
	SELECT sender, client_msg_id, conv_id, seq FROM messages
	WHERE client_msg_id ~ '^q2:[0-9a-f]{16}:[1-9]'
	AND substr(client_msg_id, 21) !~ '[^0-9]'
	AND length(client_msg_id) <= 25;

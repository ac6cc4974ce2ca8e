-- Parley schema version 6: MQTT QoS 2 packet ids kept apart from client
-- message ids.
--
-- A QoS 2 publish without a client message id used to be stored with the
-- client_msg_id 'q2:<16 hex digits naming the device>:<packet id>' as its
-- dedupe key, and PUBREL renamed that client_msg_id to free the key, so
-- that readers saw the message's client_msg_id change. Now the packet id
-- is a key of its own in packet_keys, deleted on release; client_msg_id is
-- never rewritten.

-- packet_keys holds the packet keys (store.Append.PacketKey) that messages
-- hold until their release: (sender, key) names the message (conv_id,
-- seq). A key whose message retention purged holds nothing. Rows go with
-- their sender (DeleteUser).
CREATE TABLE packet_keys (
	sender  TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	conv_id TEXT    NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (sender, key)
) WITHOUT ROWID;

-- The keys not released yet: messages whose client_msg_id is still exactly
-- 'q2:' + 16 lowercase hex digits + ':' + a packet id (1 to 65535). Such a
-- message keeps its client_msg_id, as readers have seen it; its key moves
-- here, so that PUBREL still frees it. (A released one carries a third
-- ':' and a random suffix, and is left as it is.)
INSERT INTO packet_keys (sender, key, conv_id, seq)
	SELECT sender, client_msg_id, conv_id, seq FROM messages
	WHERE client_msg_id GLOB 'q2:[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[1-9]*'
	AND substr(client_msg_id, 21) NOT GLOB '*[^0-9]*'
	AND length(client_msg_id) <= 25;

-- Parley schema version 3: persistent MQTT sessions.

-- mqtt_sessions holds the persistent MQTT session of a (user, device):
-- subscriptions is a JSON array of {"filter": ..., "qos": ...} in the order
-- they were made; expires_at is when the session ends while its client is
-- away (0: connected, or never). Positions are not here: they belong to the
-- device (positions table) whatever the protocol. Rows go with their device
-- (DeleteDevice, ExpireDevices) and their user (DeleteUser).
CREATE TABLE mqtt_sessions (
	user_id       TEXT    NOT NULL,
	device_id     TEXT    NOT NULL,
	subscriptions TEXT    NOT NULL DEFAULT '[]',
	expires_at    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;

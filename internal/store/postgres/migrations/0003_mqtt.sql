-- Parley schema version 3, PostgreSQL: persistent MQTT sessions (the twin
-- of internal/store/sqlite/migrations/0003_mqtt.sql).

-- mqtt_sessions holds the persistent MQTT session of a (user, device):
-- subscriptions is a JSON array of {"filter": ..., "qos": ...} in the order
-- they were made (TEXT, as in SQLite: the code reads and writes it whole,
-- no SQL looks inside); expires_at is when the session ends while its
-- client is away (0: connected, or never). Positions are not here: they
-- belong to the device (positions table) whatever the protocol. Rows go
-- with their device (DeleteDevice, ExpireDevices) and their user
-- (DeleteUser).
CREATE TABLE mqtt_sessions (
	user_id       TEXT   COLLATE "C" NOT NULL,
	device_id     TEXT   COLLATE "C" NOT NULL,
	subscriptions TEXT   COLLATE "C" NOT NULL DEFAULT '[]',
	expires_at    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, device_id)
);

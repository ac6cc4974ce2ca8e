-- Parley schema version 5, PostgreSQL: token floors (the twin of
-- internal/store/sqlite/migrations/0005_token_floors.sql).

-- token_floors holds, per user and device, the time (Unix ms) before which
-- application-signed tokens are refused: revoking a device or a user's
-- tokens raises it, so that a token the application issued earlier cannot
-- bring the device back. device_id '' is the floor of all of the user's
-- devices. Parley's own tokens are revoked with their sessions instead.
CREATE TABLE token_floors (
	user_id    TEXT   COLLATE "C" NOT NULL,
	device_id  TEXT   COLLATE "C" NOT NULL,
	not_before BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id)
);

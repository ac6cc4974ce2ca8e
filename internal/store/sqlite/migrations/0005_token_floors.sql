-- Parley schema version 5: token floors.

-- token_floors holds, per user and device, the time (Unix ms) before which
-- application-signed tokens are refused: revoking a device or a user's
-- tokens raises it, so that a token the application issued earlier cannot
-- bring the device back. device_id '' is the floor of all of the user's
-- devices. Parley's own tokens are revoked with their sessions instead.
CREATE TABLE token_floors (
	user_id    TEXT    NOT NULL,
	device_id  TEXT    NOT NULL,
	not_before INTEGER NOT NULL,
	PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;

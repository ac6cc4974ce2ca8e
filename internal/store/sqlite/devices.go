package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// TouchDevice registers the device if new (created at t) and sets its
// last-seen time to t; the last-seen time never moves backwards. It does
// nothing for a deleted user.
func (db *DB) TouchDevice(ctx context.Context, user, device string, t time.Time) error {
	err := db.update(ctx, func(tx *Tx) error {
		return touchDevice(ctx, tx, user, device, t)
	})
	if err != nil {
		return fmt.Errorf("store: touch device: %w", err)
	}
	return nil
}

// touchDevice upserts a device row in tx, unless the user is deleted.
func touchDevice(ctx context.Context, tx *Tx, user, device string, t time.Time) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO devices (user_id, id, created_at, last_seen)
		 SELECT ?1, ?2, ?3, ?3 WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND deleted <> 0)
		 ON CONFLICT (user_id, id) DO UPDATE SET last_seen = `+greatest("devices.last_seen", "excluded.last_seen"),
		user, device, ms(t))
	return classify(err)
}

// AddDevice registers the device (created and seen at t) unless the user
// has it; a new one is refused with store.ErrLimit when the user already
// has max devices (max <= 0: no limit) and with store.ErrNotFound when the
// user is deleted. A known device costs one read and no write; a new one
// is counted and inserted in one write transaction, which SQLite runs
// alone, so concurrent calls cannot overshoot max.
func (db *DB) AddDevice(ctx context.Context, user, device string, t time.Time, max int) (created bool, err error) {
	var one int
	err = db.r.QueryRowContext(ctx, "SELECT 1 FROM devices WHERE user_id = ? AND id = ?", user, device).Scan(&one)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("store: add device: %w", classify(err))
	}
	err = db.update(ctx, func(tx *Tx) error {
		created = false // a run again (OnEngine) starts afresh
		var n, known int
		if err := tx.QueryRowContext(ctx,
			"SELECT count(*), coalesce(sum(CASE WHEN id = ? THEN 1 ELSE 0 END), 0) FROM devices WHERE user_id = ?", device, user).Scan(&n, &known); err != nil {
			return classify(err)
		}
		if known > 0 {
			return nil
		}
		deleted, err := anyDeleted(ctx, tx, user)
		if err != nil {
			return err
		}
		if deleted {
			return fmt.Errorf("%w: the user is deleted", store.ErrNotFound)
		}
		if max > 0 && n >= max {
			return fmt.Errorf("%w: the user has %d devices, the most allowed", store.ErrLimit, n)
		}
		created = true
		return touchDevice(ctx, tx, user, device, t)
	})
	if err != nil {
		return false, fmt.Errorf("store: add device: %w", err)
	}
	return created, nil
}

// Devices lists the user's devices ordered by id.
func (db *DB) Devices(ctx context.Context, user string) ([]store.Device, error) {
	rows, err := db.r.QueryContext(ctx,
		"SELECT user_id, id, created_at, last_seen FROM devices WHERE user_id = ? ORDER BY id", user)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", classify(err))
	}
	defer rows.Close()
	var devices []store.Device
	for rows.Next() {
		var d store.Device
		var created, seen int64
		if err := rows.Scan(&d.User, &d.ID, &created, &seen); err != nil {
			return nil, fmt.Errorf("store: devices: %w", classify(err))
		}
		d.CreatedAt = fromMS(created)
		d.LastSeen = fromMS(seen)
		devices = append(devices, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: devices: %w", classify(err))
	}
	return devices, nil
}

// DeleteDevice removes the device, revokes its sessions and drops its
// positions and its MQTT session, in one transaction; store.ErrNotFound if
// absent.
func (db *DB) DeleteDevice(ctx context.Context, user, device string) error {
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM devices WHERE user_id = ? AND id = ?", user, device)
		if err != nil {
			return classify(err)
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		return dropDevice(ctx, tx, user, device)
	})
	if err != nil {
		return fmt.Errorf("store: delete device: %w", err)
	}
	return nil
}

// ExpireDevices deletes the devices last seen before the given time, as
// DeleteDevice does (MQTT sessions included), in one transaction, and
// returns how many.
func (db *DB) ExpireDevices(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := db.update(ctx, func(tx *Tx) error {
		gone, err := expireDevices(ctx, tx, before)
		n = len(gone)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire devices: %w", err)
	}
	return n, nil
}

// expireDevices is ExpireDevices in tx; it returns the devices it removed.
func expireDevices(ctx context.Context, tx *Tx, before time.Time) ([]store.Device, error) {
	rows, err := tx.QueryContext(ctx,
		"DELETE FROM devices WHERE last_seen < ? RETURNING user_id, id, created_at, last_seen", ms(before))
	if err != nil {
		return nil, classify(err)
	}
	var gone []store.Device
	for rows.Next() {
		var d store.Device
		var created, seen int64
		if err := rows.Scan(&d.User, &d.ID, &created, &seen); err != nil {
			rows.Close()
			return nil, classify(err)
		}
		d.CreatedAt, d.LastSeen = fromMS(created), fromMS(seen)
		gone = append(gone, d)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, classify(err)
	}
	if err := rows.Close(); err != nil {
		return nil, classify(err)
	}
	for _, d := range gone {
		if err := dropDevice(ctx, tx, d.User, d.ID); err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// dropDevice revokes a deleted device's sessions and drops its positions
// and its MQTT session.
func dropDevice(ctx context.Context, tx *Tx, user, device string) error {
	if _, err := tx.ExecContext(ctx,
		"UPDATE sessions SET revoked = 1 WHERE user_id = ? AND device_id = ? AND revoked = 0", user, device); err != nil {
		return classify(err)
	}
	if _, err := tx.ExecContext(ctx,
		"DELETE FROM positions WHERE user_id = ? AND device_id = ?", user, device); err != nil {
		return classify(err)
	}
	return dropMQTTSession(ctx, tx, user, device)
}

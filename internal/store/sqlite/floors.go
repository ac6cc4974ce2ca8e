package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

var _ store.TokenFloors = (*DB)(nil)

// RaiseTokenFloor raises the token floor of (user, device) to t; see
// store.TokenFloors.
func (db *DB) RaiseTokenFloor(ctx context.Context, user, device string, t time.Time) error {
	err := db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO token_floors (user_id, device_id, not_before) VALUES (?, ?, ?)
			 ON CONFLICT (user_id, device_id) DO UPDATE SET not_before = `+greatest("token_floors.not_before", "excluded.not_before"),
			user, device, ms(t))
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: raise token floor: %w", err)
	}
	return nil
}

// TokenFloor returns the later of the user's and the device's floor.
func (db *DB) TokenFloor(ctx context.Context, user, device string) (time.Time, error) {
	var floor sql.NullInt64
	err := db.r.QueryRowContext(ctx,
		"SELECT max(not_before) FROM token_floors WHERE user_id = ? AND device_id IN ('', ?)",
		user, device).Scan(&floor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("store: token floor: %w", classify(err))
	}
	if !floor.Valid {
		return time.Time{}, nil
	}
	return fromMS(floor.Int64), nil
}

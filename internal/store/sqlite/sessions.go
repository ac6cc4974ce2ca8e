package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

const sessionCols = "id, user_id, device_id, refresh_hash, created_at, expires_at, revoked"

// CreateSession stores s and registers its device if new (created and seen
// at s.CreatedAt; a known device's last-seen time is raised to it), in one
// transaction. store.ErrExists if the session id is taken; store.ErrNotFound
// if the user is deleted (a user that does not exist is not checked).
func (db *DB) CreateSession(ctx context.Context, s store.Session) error {
	err := db.update(ctx, func(tx *Tx) error {
		deleted, err := anyDeleted(ctx, tx, s.User)
		if err != nil {
			return err
		}
		if deleted {
			return fmt.Errorf("%w: the user is deleted", store.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO sessions ("+sessionCols+") VALUES (?, ?, ?, ?, ?, ?, ?)",
			s.ID, s.User, s.Device, s.RefreshHash, ms(s.CreatedAt), ms(s.ExpiresAt), boolInt(s.Revoked),
		); err != nil {
			return classify(err)
		}
		return touchDevice(ctx, tx, s.User, s.Device, s.CreatedAt)
	})
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// Session returns the session; store.ErrNotFound if absent.
func (db *DB) Session(ctx context.Context, id string) (store.Session, error) {
	var s store.Session
	var created, expires, revoked int64
	err := db.r.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE id = ?", id).
		Scan(&s.ID, &s.User, &s.Device, &s.RefreshHash, &created, &expires, &revoked)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.Session{}, fmt.Errorf("store: session: %w", store.ErrNotFound)
		}
		return store.Session{}, fmt.Errorf("store: session: %w", classify(err))
	}
	s.CreatedAt = fromMS(created)
	s.ExpiresAt = fromMS(expires)
	s.Revoked = revoked != 0
	return s, nil
}

// RotateRefresh replaces the refresh hash if it still equals old, and sets
// the new expiry; store.ErrNotFound if the session is absent, revoked, or
// the hash differs. The compare and the swap are one statement, so of two
// concurrent rotations with the same old hash exactly one succeeds.
func (db *DB) RotateRefresh(ctx context.Context, id, old, newHash string, expires time.Time) error {
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE sessions SET refresh_hash = ?, expires_at = ? WHERE id = ? AND revoked = 0 AND refresh_hash = ?",
			newHash, ms(expires), id, old)
		if err != nil {
			return classify(err)
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("store: rotate refresh: %w", err)
	}
	return nil
}

// RevokeSession revokes one session. Revoking twice is not an error;
// store.ErrNotFound if the session does not exist.
func (db *DB) RevokeSession(ctx context.Context, id string) error {
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE sessions SET revoked = 1 WHERE id = ?", id)
		if err != nil {
			return classify(err)
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("store: revoke session: %w", err)
	}
	return nil
}

// RevokeUser revokes every session of the user (none is not an error).
func (db *DB) RevokeUser(ctx context.Context, user string) error {
	err := db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET revoked = 1 WHERE user_id = ? AND revoked = 0", user)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: revoke user: %w", err)
	}
	return nil
}

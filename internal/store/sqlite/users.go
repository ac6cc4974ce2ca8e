package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

const userCols = "id, display_name, password_hash, disabled, created_at, last_seen, deleted, deleted_at"

// CreateUser stores u (ignoring Deleted and DeletedAt), with its system
// conversation; store.ErrExists if the id is taken, by a tombstone too.
func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	err := db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO users (id, display_name, password_hash, disabled, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
			u.ID, u.DisplayName, u.PasswordHash, boolInt(u.Disabled), ms(u.CreatedAt), ms(u.LastSeen))
		if err != nil {
			return classify(err)
		}
		_, err = ensureSystemConvs(ctx, tx, []string{u.ID}, u.CreatedAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	return nil
}

// User returns the user; store.ErrNotFound if absent.
func (db *DB) User(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if err != nil {
		return store.User{}, fmt.Errorf("store: user: %w", err)
	}
	return u, nil
}

// ListUsers returns up to limit users with id > after, ordered by id. A
// limit of zero or less returns none.
func (db *DB) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx,
		"SELECT "+userCols+" FROM users WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", classify(err))
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", classify(err))
	}
	return users, nil
}

// SetDisabled disables or re-enables a user; store.ErrNotFound if absent or
// deleted.
func (db *DB) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if err := db.updateUser(ctx, "UPDATE users SET disabled = ? WHERE id = ? AND deleted = 0", boolInt(disabled), id); err != nil {
		return fmt.Errorf("store: set disabled: %w", err)
	}
	return nil
}

// SetPassword replaces the password hash; store.ErrNotFound if absent or
// deleted.
func (db *DB) SetPassword(ctx context.Context, id, hash string) error {
	if err := db.updateUser(ctx, "UPDATE users SET password_hash = ? WHERE id = ? AND deleted = 0", hash, id); err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	return nil
}

// TouchUser records that the user was seen at t. The last-seen time never
// moves backwards (an older t is ignored); a tombstone keeps its cleared
// last-seen time; store.ErrNotFound if absent.
func (db *DB) TouchUser(ctx context.Context, id string, t time.Time) error {
	if err := db.updateUser(ctx,
		"UPDATE users SET last_seen = CASE WHEN deleted <> 0 THEN last_seen ELSE "+greatest("last_seen", "?")+" END WHERE id = ?",
		ms(t), ms(t), id); err != nil {
		return fmt.Errorf("store: touch user: %w", err)
	}
	return nil
}

// updateUser runs an UPDATE of one user row; store.ErrNotFound if it
// matched none.
func (db *DB) updateUser(ctx context.Context, q string, args ...any) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return classify(err)
		}
		return mustAffect(res)
	})
}

// mustAffect returns store.ErrNotFound if the statement changed no row.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanUser reads the userCols of one row.
func scanUser(r rowScanner) (store.User, error) {
	var u store.User
	var disabled, created, seen, deleted, deletedAt int64
	if err := r.Scan(&u.ID, &u.DisplayName, &u.PasswordHash, &disabled, &created, &seen, &deleted, &deletedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.User{}, store.ErrNotFound
		}
		return store.User{}, classify(err)
	}
	u.Disabled = disabled != 0
	u.CreatedAt = fromMS(created)
	u.LastSeen = fromMS(seen)
	u.Deleted = deleted != 0
	u.DeletedAt = fromMS(deletedAt)
	return u, nil
}

// anyDeleted reports whether one of users is a deleted user (absent users
// are not deleted).
func anyDeleted(ctx context.Context, q querier, users ...string) (bool, error) {
	for _, u := range users {
		var deleted bool
		err := q.QueryRowContext(ctx, "SELECT deleted <> 0 FROM users WHERE id = ?", u).Scan(&deleted)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, classify(err)
		}
		if deleted {
			return true, nil
		}
	}
	return false, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

var _ store.Blocks = (*DB)(nil)

// Block records that user blocks blocked and drops blocked's pending
// friend request to user, in one transaction; see store.Blocks.Block.
func (db *DB) Block(ctx context.Context, user, blocked string, max int, now time.Time) (bool, error) {
	var created bool
	err := db.update(ctx, func(tx *Tx) error {
		created = false
		var deleted int64
		if err := tx.QueryRowContext(ctx, "SELECT deleted FROM users WHERE id = ?", blocked).Scan(&deleted); err != nil {
			return classify(err) // store.ErrNotFound for no row
		}
		if deleted != 0 {
			return store.ErrNotFound
		}
		var exists int64
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = ?", user, blocked).Scan(&exists)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return classify(err)
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM blocks WHERE user_id = ?", user).Scan(&n); err != nil {
				return classify(err)
			}
			if n >= max {
				return fmt.Errorf("%w: %d blocks", store.ErrLimit, n)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?)",
			user, blocked, ms(now)); err != nil {
			return classify(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM friend_requests WHERE from_user = ? AND to_user = ?",
			blocked, user); err != nil {
			return classify(err)
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: block: %w", err)
	}
	return created, nil
}

// Unblock removes a block; see store.Blocks.Unblock.
func (db *DB) Unblock(ctx context.Context, user, blocked string) (bool, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?", user, blocked)
		if err != nil {
			return classify(err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: unblock: %w", err)
	}
	return n > 0, nil
}

// BlockList pages the users user blocks; see store.Blocks.BlockList.
func (db *DB) BlockList(ctx context.Context, user, after string, limit int) ([]store.Block, error) {
	out, err := queryAll(ctx, db.r, func(r rowScanner) (store.Block, error) {
		var b store.Block
		var at int64
		err := r.Scan(&b.User, &at)
		b.CreatedAt = fromMS(at)
		return b, classify(err)
	}, "SELECT blocked_id, created_at FROM blocks WHERE user_id = ? AND blocked_id > ? ORDER BY blocked_id LIMIT ?",
		user, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: block list: %w", err)
	}
	return out, nil
}

// BlockEdges returns both directions of user's blocks, each cut at limit;
// see store.Blocks.BlockEdges. Both are read from one snapshot.
func (db *DB) BlockEdges(ctx context.Context, user string, limit int) (blocks, blockedBy []string, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		var err error
		blocks, err = queryStrings(ctx, tx,
			"SELECT blocked_id FROM blocks WHERE user_id = ? ORDER BY blocked_id LIMIT ?", user, limit)
		if err != nil {
			return err
		}
		blockedBy, err = queryStrings(ctx, tx,
			"SELECT user_id FROM blocks WHERE blocked_id = ? ORDER BY user_id LIMIT ?", user, limit)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: block edges: %w", err)
	}
	return blocks, blockedBy, nil
}

// Blocking reports the blocks between a and b; see store.Blocks.Blocking.
func (db *DB) Blocking(ctx context.Context, a, b string) (aBlocksB, bBlocksA bool, err error) {
	users, err := queryStrings(ctx, db.r,
		"SELECT user_id FROM blocks WHERE (user_id = ? AND blocked_id = ?) OR (user_id = ? AND blocked_id = ?)", a, b, b, a)
	if err != nil {
		return false, false, fmt.Errorf("store: blocking: %w", err)
	}
	for _, u := range users {
		if u == a {
			aBlocksB = true
		} else {
			bBlocksA = true
		}
	}
	return aBlocksB, bBlocksA, nil
}

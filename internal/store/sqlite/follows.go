package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var _ store.Follows = (*DB)(nil)

// Follow makes follower follow followee; see store.Follows.Follow. The
// rules the schema keeps (friendships, blocks, erasure) are triggers of
// migration 0009.
func (db *DB) Follow(ctx context.Context, follower, followee string, max int, now time.Time) (bool, error) {
	var created bool
	err := db.update(ctx, func(tx *Tx) error {
		created = false
		if follower == followee {
			return fmt.Errorf("%w: following oneself", store.ErrInvalid)
		}
		if err := liveUser(ctx, tx, followee); err != nil {
			return err
		}
		// A follow a friendship made becomes the follower's own.
		res, err := tx.ExecContext(ctx, "UPDATE follows SET by_friendship = 0 WHERE follower = ? AND followee = ?", follower, followee)
		if err != nil {
			return classify(err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM follows WHERE follower = ?", follower).Scan(&n); err != nil {
				return classify(err)
			}
			if n >= max {
				return fmt.Errorf("%w: %d follows", store.ErrLimit, n)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO follows (follower, followee, created_at) VALUES (?, ?, ?)",
			follower, followee, ms(now)); err != nil {
			return classify(err)
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: follow: %w", err)
	}
	return created, nil
}

// Unfollow ends a follow; see store.Follows.Unfollow.
func (db *DB) Unfollow(ctx context.Context, follower, followee string) (bool, error) {
	var was bool
	err := db.update(ctx, func(tx *Tx) error {
		var err error
		was, err = deletedRow(ctx, tx, "DELETE FROM follows WHERE follower = ? AND followee = ?", follower, followee)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: unfollow: %w", err)
	}
	return was, nil
}

// RemoveFollower ends follower's follow of user and, with notify, tells
// follower in their system conversation; see store.Follows.RemoveFollower.
func (db *DB) RemoveFollower(ctx context.Context, user, follower string, notify bool, now time.Time) (bool, *protocol.Message, error) {
	var (
		was   bool
		entry *protocol.Message
	)
	err := db.update(ctx, func(tx *Tx) error {
		was, entry = false, nil
		var err error
		was, err = deletedRow(ctx, tx, "DELETE FROM follows WHERE follower = ? AND followee = ?", follower, user)
		if err != nil || !was || !notify {
			return err
		}
		res, err := appendSystem(ctx, tx, now, []store.SystemEntry{{User: follower, Append: store.Append{
			Sender: user, Kind: protocol.KindFollow,
			Social: &protocol.SocialEvent{Action: protocol.FollowUnsub, User: user},
		}}})
		if err != nil {
			return err
		}
		if res[0].Err != nil {
			return res[0].Err
		}
		m := res[0].Message
		entry = &m
		return nil
	})
	if err != nil {
		return false, nil, fmt.Errorf("store: remove follower: %w", err)
	}
	return was, entry, nil
}

// Following pages the users user follows; see store.Follows.Following.
func (db *DB) Following(ctx context.Context, user, after string, limit int) ([]store.FollowEdge, error) {
	return db.followEdges(ctx, "following",
		"SELECT followee, created_at FROM follows WHERE follower = ? AND followee > ? ORDER BY followee LIMIT ?", user, after, limit)
}

// Followers pages user's followers; see store.Follows.Followers.
func (db *DB) Followers(ctx context.Context, user, after string, limit int) ([]store.FollowEdge, error) {
	return db.followEdges(ctx, "followers",
		"SELECT follower, created_at FROM follows WHERE followee = ? AND follower > ? ORDER BY follower LIMIT ?", user, after, limit)
}

func (db *DB) followEdges(ctx context.Context, what, q string, args ...any) ([]store.FollowEdge, error) {
	out, err := queryAll(ctx, db.r, func(r rowScanner) (store.FollowEdge, error) {
		var e store.FollowEdge
		var at int64
		err := r.Scan(&e.User, &at)
		e.Since = fromMS(at)
		return e, classify(err)
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// IsFollowing reports whether follower follows followee.
func (db *DB) IsFollowing(ctx context.Context, follower, followee string) (bool, error) {
	ok, err := found(ctx, db.r, "SELECT 1 FROM follows WHERE follower = ? AND followee = ?", follower, followee)
	if err != nil {
		return false, fmt.Errorf("store: is following: %w", err)
	}
	return ok, nil
}

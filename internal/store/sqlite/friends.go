package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var (
	_ store.Friends  = (*DB)(nil)
	_ store.Settings = (*DB)(nil)
)

// friendTx runs fn in a write transaction and appends the entries it
// returns to the system conversations, in that transaction (the state and
// its events commit together).
func (db *DB) friendTx(ctx context.Context, what string, now time.Time,
	fn func(tx *Tx) (status string, entries []store.SystemEntry, err error)) (store.FriendChange, error) {
	var ch store.FriendChange
	err := db.update(ctx, func(tx *Tx) error {
		ch = store.FriendChange{}
		status, entries, err := fn(tx)
		if err != nil {
			return err
		}
		ch.Status = status
		if len(entries) == 0 {
			return nil
		}
		res, err := appendSystem(ctx, tx, now, entries)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
			ch.Events = append(ch.Events, r.Message)
		}
		return nil
	})
	if err != nil {
		return store.FriendChange{}, fmt.Errorf("store: %s: %w", what, err)
	}
	return ch, nil
}

// friendEntries are the two entries of one change between actor (who
// acted) and other: in other's system conversation, naming actor, and in
// actor's own, naming other.
func friendEntries(actor, other, action, text string) []store.SystemEntry {
	entry := func(user, about, action string) store.SystemEntry {
		return store.SystemEntry{User: user, Append: store.Append{Sender: actor, Kind: protocol.KindFriend,
			Social: &protocol.SocialEvent{Action: action, User: about, Text: text}}}
	}
	mine := action
	if action == protocol.FriendRequest {
		mine = protocol.FriendRequested
	}
	return []store.SystemEntry{entry(other, actor, action), entry(actor, other, mine)}
}

// liveUser returns store.ErrNotFound unless user exists and is not deleted.
func liveUser(ctx context.Context, tx *Tx, user string) error {
	var deleted int64
	if err := tx.QueryRowContext(ctx, "SELECT deleted FROM users WHERE id = ?", user).Scan(&deleted); err != nil {
		return classify(err)
	}
	if deleted != 0 {
		return store.ErrNotFound
	}
	return nil
}

// found runs a query selecting at most one row and reports whether it
// found one.
func found(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var one int64
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, classify(err)
}

// befriend makes a and b friends since now (two rows, one per direction).
func befriend(ctx context.Context, tx *Tx, a, b string, now time.Time) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO friends (user_id, friend_id, since) VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT DO NOTHING",
		a, b, ms(now), b, a, ms(now))
	return classify(err)
}

// deletedRow runs a DELETE and reports whether it deleted a row.
func deletedRow(ctx context.Context, tx *Tx, query string, args ...any) (bool, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, classify(err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// RequestFriend is from's request to be to's friend; see store.Friends.
func (db *DB) RequestFriend(ctx context.Context, from, to, text string, now time.Time) (store.FriendChange, error) {
	return db.friendTx(ctx, "friend request", now, func(tx *Tx) (string, []store.SystemEntry, error) {
		if from == to {
			return "", nil, fmt.Errorf("%w: a friend request to oneself", store.ErrInvalid)
		}
		if err := liveUser(ctx, tx, to); err != nil {
			return "", nil, err
		}
		if err := liveUser(ctx, tx, from); err != nil {
			return "", nil, err
		}
		blocked, err := found(ctx, tx, "SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = ?", to, from)
		if err != nil {
			return "", nil, err
		}
		if blocked {
			// The same answer as an unknown user: the requester is not told.
			return "", nil, store.ErrNotFound
		}
		friends, err := found(ctx, tx, "SELECT 1 FROM friends WHERE user_id = ? AND friend_id = ?", from, to)
		if err != nil {
			return "", nil, err
		}
		if friends {
			return "", nil, fmt.Errorf("%w: already friends", store.ErrExists)
		}
		theirs, err := deletedRow(ctx, tx, "DELETE FROM friend_requests WHERE from_user = ? AND to_user = ?", to, from)
		if err != nil {
			return "", nil, err
		}
		if theirs {
			// Both asked: from's request is an answer to to's.
			if err := befriend(ctx, tx, from, to, now); err != nil {
				return "", nil, err
			}
			return protocol.FriendFriends, friendEntries(from, to, protocol.FriendAccepted, ""), nil
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO friend_requests (from_user, to_user, text, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
			from, to, text, ms(now))
		if err != nil {
			return "", nil, classify(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			// Pending already: a repeat adds nothing.
			return protocol.FriendPending, nil, err
		}
		return protocol.FriendPending, friendEntries(from, to, protocol.FriendRequest, text), nil
	})
}

// AnswerFriend accepts or declines from's request to user; see
// store.Friends.
func (db *DB) AnswerFriend(ctx context.Context, user, from string, accept bool, now time.Time) (store.FriendChange, error) {
	return db.friendTx(ctx, "friend answer", now, func(tx *Tx) (string, []store.SystemEntry, error) {
		ok, err := deletedRow(ctx, tx, "DELETE FROM friend_requests WHERE from_user = ? AND to_user = ?", from, user)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "", nil, fmt.Errorf("%w: no friend request from %s", store.ErrNotFound, from)
		}
		if err := liveUser(ctx, tx, from); err != nil {
			return "", nil, err
		}
		if !accept {
			return protocol.FriendNone, friendEntries(user, from, protocol.FriendDeclined, ""), nil
		}
		if err := befriend(ctx, tx, user, from, now); err != nil {
			return "", nil, err
		}
		return protocol.FriendFriends, friendEntries(user, from, protocol.FriendAccepted, ""), nil
	})
}

// WithdrawFriend deletes from's pending request to to; see store.Friends.
func (db *DB) WithdrawFriend(ctx context.Context, from, to string, now time.Time) (store.FriendChange, error) {
	return db.friendTx(ctx, "friend withdraw", now, func(tx *Tx) (string, []store.SystemEntry, error) {
		ok, err := deletedRow(ctx, tx, "DELETE FROM friend_requests WHERE from_user = ? AND to_user = ?", from, to)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "", nil, fmt.Errorf("%w: no friend request to %s", store.ErrNotFound, to)
		}
		return protocol.FriendNone, friendEntries(from, to, protocol.FriendWithdrawn, ""), nil
	})
}

// RemoveFriend ends a friendship; see store.Friends.
func (db *DB) RemoveFriend(ctx context.Context, user, friend string, now time.Time) (store.FriendChange, error) {
	return db.friendTx(ctx, "unfriend", now, func(tx *Tx) (string, []store.SystemEntry, error) {
		ok, err := deletedRow(ctx, tx, "DELETE FROM friends WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)",
			user, friend, friend, user)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "", nil, fmt.Errorf("%w: not friends with %s", store.ErrNotFound, friend)
		}
		return protocol.FriendNone, friendEntries(user, friend, protocol.FriendRemoved, ""), nil
	})
}

// Friends pages user's friends; see store.Friends.
func (db *DB) Friends(ctx context.Context, user, after string, limit int) ([]store.Friend, error) {
	if limit <= 0 {
		return nil, nil
	}
	out, err := queryAll(ctx, db.r, func(r rowScanner) (store.Friend, error) {
		var f store.Friend
		var since int64
		err := r.Scan(&f.User, &since)
		f.Since = fromMS(since)
		return f, classify(err)
	}, `SELECT f.friend_id, f.since FROM friends AS f JOIN users AS u ON u.id = f.friend_id AND u.deleted = 0
		 WHERE f.user_id = ? AND f.friend_id > ? ORDER BY f.friend_id LIMIT ?`, user, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: friends: %w", err)
	}
	return out, nil
}

// FriendRequests pages pending requests to or from user; see
// store.Friends.
func (db *DB) FriendRequests(ctx context.Context, user string, incoming bool, after string, limit int) ([]store.FriendRequest, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The other user's column: from_user for incoming requests (index
	// friend_requests_to), to_user for outgoing ones (the primary key).
	q := `SELECT r.from_user, r.to_user, r.text, r.created_at FROM friend_requests AS r
		 JOIN users AS u ON u.id = r.to_user AND u.deleted = 0
		 WHERE r.from_user = ? AND r.to_user > ? ORDER BY r.to_user LIMIT ?`
	if incoming {
		q = `SELECT r.from_user, r.to_user, r.text, r.created_at FROM friend_requests AS r
		 JOIN users AS u ON u.id = r.from_user AND u.deleted = 0
		 WHERE r.to_user = ? AND r.from_user > ? ORDER BY r.from_user LIMIT ?`
	}
	out, err := queryAll(ctx, db.r, func(rs rowScanner) (store.FriendRequest, error) {
		var r store.FriendRequest
		var at int64
		err := rs.Scan(&r.From, &r.To, &r.Text, &at)
		r.CreatedAt = fromMS(at)
		return r, classify(err)
	}, q, user, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: friend requests: %w", err)
	}
	return out, nil
}

// AreFriends reports whether a and b are friends.
func (db *DB) AreFriends(ctx context.Context, a, b string) (bool, error) {
	ok, err := found(ctx, db.r, "SELECT 1 FROM friends WHERE user_id = ? AND friend_id = ?", a, b)
	if err != nil {
		return false, fmt.Errorf("store: are friends: %w", err)
	}
	return ok, nil
}

// FriendIDs returns all of user's friends, sorted.
func (db *DB) FriendIDs(ctx context.Context, user string) ([]string, error) {
	ids, err := queryStrings(ctx, db.r, "SELECT friend_id FROM friends WHERE user_id = ? ORDER BY friend_id", user)
	if err != nil {
		return nil, fmt.Errorf("store: friend ids: %w", err)
	}
	return ids, nil
}

// ShareGroup reports whether a and b are members of a common group: a
// range of a's memberships (members_user) in group ids, each with a
// primary-key lookup of b.
func (db *DB) ShareGroup(ctx context.Context, a, b string) (bool, error) {
	ok, err := found(ctx, db.r,
		`SELECT 1 FROM members AS ma JOIN members AS mb ON mb.conv_id = ma.conv_id AND mb.user_id = ?
		 WHERE ma.user_id = ? AND ma.conv_id >= 'g_' AND ma.conv_id < 'g`+"`"+`' LIMIT 1`, b, a)
	if err != nil {
		return false, fmt.Errorf("store: share group: %w", err)
	}
	return ok, nil
}

// UserSettings returns user's settings; see store.Settings.
func (db *DB) UserSettings(ctx context.Context, user string) (store.UserSettings, error) {
	var s store.UserSettings
	var hidden int64
	err := db.r.QueryRowContext(ctx, "SELECT inbound, presence_hidden, group_add FROM user_settings WHERE user_id = ?", user).
		Scan(&s.Inbound, &hidden, &s.GroupAdd)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.UserSettings{}, nil
	case err != nil:
		return store.UserSettings{}, fmt.Errorf("store: user settings: %w", classify(err))
	}
	s.PresenceHidden = hidden != 0
	return s, nil
}

// UpdateUserSettings changes user's settings; see store.Settings.
func (db *DB) UpdateUserSettings(ctx context.Context, user string, u store.SettingsUpdate) (store.UserSettings, error) {
	var s store.UserSettings
	err := db.update(ctx, func(tx *Tx) error {
		s = store.UserSettings{} // a run again (OnEngine) starts afresh
		if err := liveUser(ctx, tx, user); err != nil {
			return err
		}
		var hidden int64
		err := tx.QueryRowContext(ctx, "SELECT inbound, presence_hidden, group_add FROM user_settings WHERE user_id = ?", user).
			Scan(&s.Inbound, &hidden, &s.GroupAdd)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return classify(err)
		}
		s.PresenceHidden = hidden != 0
		if u.Inbound != nil {
			s.Inbound = *u.Inbound
		}
		if u.PresenceHidden != nil {
			s.PresenceHidden = *u.PresenceHidden
		}
		if u.GroupAdd != nil {
			s.GroupAdd = *u.GroupAdd
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO user_settings (user_id, inbound, presence_hidden, group_add) VALUES (?, ?, ?, ?)
			 ON CONFLICT (user_id) DO UPDATE SET inbound = excluded.inbound, presence_hidden = excluded.presence_hidden,
			 group_add = excluded.group_add`,
			user, s.Inbound, boolInt(s.PresenceHidden), s.GroupAdd)
		return classify(err)
	})
	if err != nil {
		return store.UserSettings{}, fmt.Errorf("store: update user settings: %w", err)
	}
	return s, nil
}

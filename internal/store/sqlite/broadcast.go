package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var _ store.BroadcastLists = (*DB)(nil)

// broadcastListCols select a list with its member count, from
// broadcast_lists AS l.
const broadcastListCols = "l.owner, l.id, l.name, l.created_at, l.updated_at, " +
	"(SELECT count(*) FROM broadcast_members AS m WHERE m.owner = l.owner AND m.list_id = l.id)"

func scanBroadcastList(r rowScanner) (store.BroadcastList, error) {
	var l store.BroadcastList
	var created, updated int64
	if err := r.Scan(&l.Owner, &l.ID, &l.Name, &created, &updated, &l.Members); err != nil {
		return store.BroadcastList{}, classify(err)
	}
	l.CreatedAt, l.UpdatedAt = fromMS(created), fromMS(updated)
	return l, nil
}

func broadcastList(ctx context.Context, q querier, owner, id string) (store.BroadcastList, error) {
	return scanBroadcastList(q.QueryRowContext(ctx,
		"SELECT "+broadcastListCols+" FROM broadcast_lists AS l WHERE l.owner = ? AND l.id = ?", owner, id))
}

// CreateBroadcastList stores a list with its members in one transaction;
// see store.BroadcastLists.CreateBroadcastList.
func (db *DB) CreateBroadcastList(ctx context.Context, l store.BroadcastList, members []string, maxLists, maxMembers int) (store.BroadcastList, error) {
	if l.Owner == "" || l.ID == "" {
		return store.BroadcastList{}, fmt.Errorf("store: create broadcast list: %w: need an owner and an id", store.ErrInvalid)
	}
	members = bcastUnique(members)
	if maxMembers > 0 && len(members) > maxMembers {
		return store.BroadcastList{}, fmt.Errorf("store: create broadcast list: %w: %d members", store.ErrLimit, len(members))
	}
	var out store.BroadcastList
	err := db.update(ctx, func(tx *Tx) error {
		var one int
		switch err := tx.QueryRowContext(ctx, "SELECT 1 FROM broadcast_lists WHERE owner = ? AND id = ?", l.Owner, l.ID).Scan(&one); {
		case err == nil:
			return store.ErrExists
		case !errors.Is(err, sql.ErrNoRows):
			return classify(err)
		}
		if maxLists > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM broadcast_lists WHERE owner = ?", l.Owner).Scan(&n); err != nil {
				return classify(err)
			}
			if n >= maxLists {
				return fmt.Errorf("%w: %d lists", store.ErrLimit, n)
			}
		}
		at := ms(l.CreatedAt)
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO broadcast_lists (owner, id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			l.Owner, l.ID, l.Name, at, at); err != nil {
			return classify(err) // store.ErrExists for a taken id
		}
		if _, err := insertBroadcastMembers(ctx, tx, l.Owner, l.ID, members); err != nil {
			return err
		}
		var err error
		out, err = broadcastList(ctx, tx, l.Owner, l.ID)
		return err
	})
	if err != nil {
		return store.BroadcastList{}, fmt.Errorf("store: create broadcast list: %w", err)
	}
	return out, nil
}

// insertBroadcastMembers adds users to a list, skipping those it holds,
// and returns the number it added.
func insertBroadcastMembers(ctx context.Context, tx *Tx, owner, id string, users []string) (int64, error) {
	var args []any
	var added int64
	for _, size := range chunkSizes(len(users)) {
		args = args[:0]
		for _, u := range users[:size] {
			args = append(args, owner, id, u)
		}
		users = users[size:]
		q := "INSERT INTO broadcast_members (owner, list_id, user_id) VALUES " + valuesList(size, 3) + " ON CONFLICT DO NOTHING"
		n, err := affected(tx.ExecContext(ctx, q, args...))
		if err != nil {
			return 0, fmt.Errorf("insert members: %w", err)
		}
		added += n
	}
	return added, nil
}

// BroadcastList returns one list; see store.BroadcastLists.BroadcastList.
func (db *DB) BroadcastList(ctx context.Context, owner, id string) (store.BroadcastList, error) {
	l, err := broadcastList(ctx, db.r, owner, id)
	if err != nil {
		return store.BroadcastList{}, fmt.Errorf("store: broadcast list: %w", err)
	}
	return l, nil
}

// BroadcastLists pages owner's lists; see
// store.BroadcastLists.BroadcastLists.
func (db *DB) BroadcastLists(ctx context.Context, owner, after string, limit int) ([]store.BroadcastList, error) {
	out, err := queryAll(ctx, db.r, scanBroadcastList,
		"SELECT "+broadcastListCols+" FROM broadcast_lists AS l WHERE l.owner = ? AND l.id > ? ORDER BY l.id LIMIT ?",
		owner, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: broadcast lists: %w", err)
	}
	return out, nil
}

// RenameBroadcastList renames a list; see
// store.BroadcastLists.RenameBroadcastList.
func (db *DB) RenameBroadcastList(ctx context.Context, owner, id, name string, now time.Time) (store.BroadcastList, error) {
	var out store.BroadcastList
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE broadcast_lists SET name = ?, updated_at = ? WHERE owner = ? AND id = ?",
			name, ms(now), owner, id)
		if err != nil {
			return classify(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(classify(err), store.ErrNotFound)
		}
		out, err = broadcastList(ctx, tx, owner, id)
		return err
	})
	if err != nil {
		return store.BroadcastList{}, fmt.Errorf("store: rename broadcast list: %w", err)
	}
	return out, nil
}

// DeleteBroadcastList deletes a list and its members; see
// store.BroadcastLists.DeleteBroadcastList.
func (db *DB) DeleteBroadcastList(ctx context.Context, owner, id string) error {
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM broadcast_lists WHERE owner = ? AND id = ?", owner, id)
		if err != nil {
			return classify(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(classify(err), store.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM broadcast_members WHERE owner = ? AND list_id = ?", owner, id)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: delete broadcast list: %w", err)
	}
	return nil
}

// ChangeBroadcastMembers adds and removes members of a list in one
// transaction; see store.BroadcastLists.ChangeBroadcastMembers.
func (db *DB) ChangeBroadcastMembers(ctx context.Context, owner, id string, add, remove []string, max int, now time.Time) (store.BroadcastList, error) {
	var out store.BroadcastList
	err := db.update(ctx, func(tx *Tx) error {
		before, err := broadcastList(ctx, tx, owner, id)
		if err != nil {
			return err
		}
		// Whether anything changed: the count may stay while one user
		// replaces another, so count the rows the statements changed.
		changes, err := insertBroadcastMembers(ctx, tx, owner, id, bcastUnique(add))
		if err != nil {
			return err
		}
		rm := bcastUnique(remove)
		var args []any
		for _, size := range chunkSizes(len(rm)) {
			args = append(args[:0], owner, id)
			for _, u := range rm[:size] {
				args = append(args, u)
			}
			rm = rm[size:]
			q := "DELETE FROM broadcast_members WHERE owner = ? AND list_id = ? AND user_id IN (" + bcastParams(size) + ")"
			n, err := affected(tx.ExecContext(ctx, q, args...))
			if err != nil {
				return fmt.Errorf("delete members: %w", err)
			}
			changes += n
		}
		if out, err = broadcastList(ctx, tx, owner, id); err != nil {
			return err
		}
		if max > 0 && out.Members > max && out.Members > before.Members {
			return fmt.Errorf("%w: %d members", store.ErrLimit, out.Members)
		}
		if changes == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE broadcast_lists SET updated_at = ? WHERE owner = ? AND id = ?",
			ms(now), owner, id); err != nil {
			return classify(err)
		}
		out.UpdatedAt = fromMS(ms(now))
		return nil
	})
	if err != nil {
		return store.BroadcastList{}, fmt.Errorf("store: change broadcast members: %w", err)
	}
	return out, nil
}

// BroadcastMembers pages a list's members; see
// store.BroadcastLists.BroadcastMembers.
func (db *DB) BroadcastMembers(ctx context.Context, owner, id, after string, limit int) ([]string, error) {
	var out []string
	err := db.view(ctx, func(tx *Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM broadcast_lists WHERE owner = ? AND id = ?", owner, id).Scan(&one); err != nil {
			return classify(err)
		}
		var err error
		out, err = queryStrings(ctx, tx,
			"SELECT user_id FROM broadcast_members WHERE owner = ? AND list_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
			owner, id, after, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: broadcast members: %w", err)
	}
	return out, nil
}

// MessagesByClientID finds sender's messages by client message id through
// the dedupe index; see store.BroadcastLists.MessagesByClientID.
func (db *DB) MessagesByClientID(ctx context.Context, sender string, ids []string) ([]protocol.Message, error) {
	var out []protocol.Message
	ids = bcastUnique(ids)
	var args []any
	for _, size := range chunkSizes(len(ids)) {
		args = append(args[:0], sender)
		for _, id := range ids[:size] {
			args = append(args, id)
		}
		ids = ids[size:]
		q := msgSelect + " WHERE sender = ? AND client_msg_id IN (" + bcastParams(size) + ") AND client_msg_id <> ''"
		msgs, err := queryMessages(ctx, db.r, q, args...)
		if err != nil {
			return nil, fmt.Errorf("store: messages by client id: %w", err)
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// EnsureDirects opens the direct conversations of user with many peers in
// one transaction; see store.BroadcastLists.EnsureDirects. Those that
// exist are found without the write lock first, so a broadcast to users
// one wrote to before writes nothing here.
func (db *DB) EnsureDirects(ctx context.Context, user string, peers []store.DirectPeer, now time.Time) ([]string, error) {
	out := make([]string, len(peers))
	missing := 0
	err := db.view(ctx, func(tx *Tx) error {
		for i, p := range peers {
			if p.Peer == "" || p.Peer == user {
				continue
			}
			c, err := directConv(ctx, tx, min(user, p.Peer), max(user, p.Peer))
			switch {
			case err == nil:
				out[i] = c.ID
			case errors.Is(err, store.ErrNotFound):
				missing++
			default:
				return err
			}
		}
		return nil
	})
	if err != nil || missing == 0 {
		if err != nil {
			return nil, fmt.Errorf("store: ensure directs: %w", err)
		}
		return out, nil
	}
	err = db.update(ctx, func(tx *Tx) error {
		clear(out) // decided again, in the transaction
		if deleted, err := anyDeleted(ctx, tx, user); err != nil || deleted {
			return err // a deleted user opens nothing: all ""
		}
		t := fromMS(ms(now))
		for i, p := range peers {
			if p.Peer == "" || p.Peer == user {
				continue
			}
			lo, hi := min(user, p.Peer), max(user, p.Peer)
			c, err := directConv(ctx, tx, lo, hi)
			if err == nil {
				out[i] = c.ID
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			var deleted int64
			err = tx.QueryRowContext(ctx, "SELECT deleted FROM users WHERE id = ?", p.Peer).Scan(&deleted)
			switch {
			case errors.Is(err, sql.ErrNoRows) || err == nil && deleted != 0:
				continue // unknown or deleted: ""
			case err != nil:
				return classify(err)
			}
			if p.NewID == "" {
				return fmt.Errorf("%w: empty conversation id for %s", store.ErrInvalid, p.Peer)
			}
			if err := insertConversation(ctx, tx, store.Conversation{ID: p.NewID, Kind: protocol.ConvDirect,
				CreatedBy: user, CreatedAt: t, UpdatedAt: t}); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO directs (user_lo, user_hi, conv_id) VALUES (?, ?, ?)", lo, hi, p.NewID); err != nil {
				return classify(err)
			}
			if err := insertMembers(ctx, tx, p.NewID, []store.Member{
				{User: lo, Role: protocol.RoleMember},
				{User: hi, Role: protocol.RoleMember},
			}); err != nil {
				return err
			}
			out[i] = p.NewID
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: ensure directs: %w", err)
	}
	return out, nil
}

// uniqueStrings returns ss without repeats and empty strings, in order.
func bcastUnique(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// placeholders returns "?,?,..." with n parameters.
func bcastParams(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}

package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var _ store.SystemConversations = (*DB)(nil)

// appendSystem appends entries to their users' system conversations in
// tx (store.SystemEntry), creating each conversation, with its user as
// the only member, if it does not exist yet. An entry for an unknown or
// deleted user fails in its result with store.ErrNotFound and consumes no
// seq; the other entries are unaffected. The error is for storage failures
// only.
func appendSystem(ctx context.Context, tx *Tx, now time.Time, entries []store.SystemEntry) ([]store.AppendResult, error) {
	users := make([]string, 0, len(entries))
	for _, e := range entries {
		users = append(users, e.User)
	}
	slices.Sort(users)
	live, err := ensureSystemConvs(ctx, tx, slices.Compact(users), now)
	if err != nil {
		return nil, err
	}
	res := make([]store.AppendResult, len(entries))
	apps := make([]store.Append, 0, len(entries))
	idx := make([]int, 0, len(entries)) // apps[i] is entries[idx[i]]
	for i, e := range entries {
		if !live[e.User] {
			res[i] = failed(store.ErrNotFound, "no such user")
			continue
		}
		a := e.Append
		a.Conv = store.SystemConvID(e.User)
		a.SkipMemberCheck = true
		a.Authorize = false
		apps = append(apps, a)
		idx = append(idx, i)
	}
	if len(apps) == 0 {
		return res, nil
	}
	out := make([]store.AppendResult, len(apps))
	if err := newBatch(ctx, tx, ms(now), len(apps)).run(apps, out); err != nil {
		return nil, fmt.Errorf("append to system conversations: %w", err)
	}
	for i, r := range out {
		res[idx[i]] = r
	}
	return res, nil
}

// ensureSystemConvs creates the system conversations of those of users
// (distinct) who exist and are not deleted, where missing: the
// conversation, the user as its member (role member, joined at 0) and the
// participant row that erasure follows. It returns those users.
//
// A user's system conversation is created with the user (CreateUser) or
// when the user is first tagged (changeTags), so that a notice's chunk
// finds it and only appends: the member and participant rows are keyed
// by user, and a chunk's users, taken in the order of their system
// conversations' ids (hashes), would each write a page of those indexes
// of its own (docs/performance.md, b6). Users created before that get
// theirs here, at their first entry.
func ensureSystemConvs(ctx context.Context, tx *Tx, users []string, now time.Time) (map[string]bool, error) {
	t := ms(now)
	live := make(map[string]bool, len(users))
	var args []any
	for _, size := range chunkSizes(len(users)) {
		args = args[:0]
		for _, u := range users[:size] {
			args = append(args, u)
		}
		users = users[size:]
		found, err := queryStrings(ctx, tx, "SELECT id FROM users WHERE deleted = 0 AND id IN ("+
			strings.TrimSuffix(strings.Repeat("?,", size), ",")+")", args...)
		if err != nil {
			return nil, fmt.Errorf("system conversation users: %w", err)
		}
		if len(found) == 0 {
			continue
		}
		args = args[:0]
		for _, u := range found {
			live[u] = true
			args = append(args, store.SystemConvID(u), u)
		}
		// Each insert takes the pairs (VALUES ...) AS v, skipping rows
		// present (WHERE true: without it SQLite would read the ON of ON
		// CONFLICT as a join's).
		fromValues := " FROM (VALUES " + valuesList(len(found), 2) + ") AS v WHERE true ON CONFLICT DO NOTHING"
		q := "INSERT INTO conversations (" + convCols + ") SELECT v.column1, '" + protocol.ConvSystem +
			"', '', v.column2, ?, 0, ?, 0, 0" + fromValues
		if _, err := tx.ExecContext(ctx, q, append([]any{t, t}, args...)...); err != nil {
			return nil, fmt.Errorf("create system conversations: %w", classify(err))
		}
		q = "INSERT INTO members (conv_id, user_id, role) SELECT v.column1, v.column2, '" +
			protocol.RoleMember + "'" + fromValues
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("system conversation members: %w", classify(err))
		}
		q = "INSERT INTO participants (conv_id, user_id) SELECT v.column1, v.column2" + fromValues
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("system conversation participants: %w", classify(err))
		}
	}
	return live, nil
}

// isSystemConv reports whether conv is the id of a system conversation.
func isSystemConv(conv string) bool {
	return len(conv) > len(store.SystemConvPrefix) && conv[:len(store.SystemConvPrefix)] == store.SystemConvPrefix
}

// AppendSystem stores entries in their users' system conversations in one
// transaction; see store.SystemConversations.
func (db *DB) AppendSystem(ctx context.Context, entries []store.SystemEntry, now time.Time) ([]store.AppendResult, error) {
	var res []store.AppendResult
	err := db.update(ctx, func(tx *Tx) error {
		var err error
		res, err = appendSystem(ctx, tx, now, entries)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: append system: %w", err)
	}
	return res, nil
}

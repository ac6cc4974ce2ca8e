package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Erasure runs in steps (store.Erasure.DeleteUser): BeginErasure leaves the
// tombstone and records every conversation the user was ever in, in
// erasure_pending, with the range of seqs still to clear; each EraseStep is
// one write transaction that clears at most erasureStepBudget seqs of those
// ranges, takes the user out of the conversations it finishes (the group
// events go through the same batch code as Append, so they get their seqs
// and side effects exactly as a "role" change and a "left" would) and
// removes their rows. The user's messages are found by a range scan of the
// (conv_id, seq) index per conversation, with the sender as a filter: the
// cost is the size of those conversations, paid once and now spread over
// short transactions, instead of a sender index paid by every send
// (docs/adr/0004-erasure-without-sender-index.md).
const (
	// erasureStepBudget bounds the seqs one EraseStep scans; a conversation
	// it finishes costs erasureConvCost more (its membership change).
	erasureStepBudget = 4096
	erasureConvCost   = 64
	// erasureStepConvs bounds the conversations one step looks at.
	erasureStepConvs = erasureStepBudget / erasureConvCost
)

// DeleteUser erases a user: BeginErasure, then EraseStep until done,
// returning the events of every step in commit order; see
// store.Erasure.DeleteUser.
func (db *DB) DeleteUser(ctx context.Context, user string, now time.Time) ([]protocol.Message, error) {
	if err := db.BeginErasure(ctx, user, now); err != nil {
		return nil, err
	}
	var events []protocol.Message
	for {
		evs, done, err := db.EraseStep(ctx, user, now)
		if err != nil {
			return events, err
		}
		events = append(events, evs...)
		if done {
			return events, nil
		}
	}
}

// BeginErasure makes user a tombstone and records the conversations to
// clear, in one write transaction; see store.Erasure.BeginErasure.
func (db *DB) BeginErasure(ctx context.Context, user string, now time.Time) error {
	err := db.update(ctx, func(tx *Tx) error {
		var deleted int64
		err := tx.QueryRowContext(ctx, "SELECT deleted FROM users WHERE id = ?", user).Scan(&deleted)
		if err != nil {
			return classify(err) // store.ErrNotFound for no row
		}
		if deleted != 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO erasure_pending (user_id, conv_id, done_seq, end_seq)
			 SELECT ?, c.id, 0, c.last_seq FROM conversations AS c
			 WHERE c.id IN (SELECT conv_id FROM participants WHERE user_id = ?
			                UNION SELECT conv_id FROM members WHERE user_id = ?)`,
			user, user, user); err != nil {
			return fmt.Errorf("pending conversations: %w", classify(err))
		}
		for _, q := range []string{
			"DELETE FROM positions WHERE user_id = ?",
			// Friendships (both rows), friend requests both ways, settings.
			"DELETE FROM friends WHERE friend_id = ?1 AND user_id IN (SELECT friend_id FROM friends WHERE user_id = ?1)",
			"DELETE FROM friends WHERE user_id = ?",
			"DELETE FROM friend_requests WHERE from_user = ?",
			"DELETE FROM friend_requests WHERE to_user = ?",
			"DELETE FROM user_settings WHERE user_id = ?",
			"DELETE FROM sessions WHERE user_id = ?",
			"DELETE FROM devices WHERE user_id = ?",
			"DELETE FROM mqtt_sessions WHERE user_id = ?",
			// The user's broadcast lists, and the user in others' lists.
			"DELETE FROM broadcast_members WHERE owner = ?",
			"DELETE FROM broadcast_members WHERE user_id = ?",
			"DELETE FROM broadcast_lists WHERE owner = ?",
			"DELETE FROM packet_keys WHERE sender = ?",
			"DELETE FROM user_tags WHERE user_id = ?",
			"DELETE FROM blocks WHERE user_id = ?", // the user's own; others' blocks of the user are theirs
			"DELETE FROM group_invites WHERE invitee = ?",
			"DELETE FROM group_join_requests WHERE user_id = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, user); err != nil {
				return classify(err)
			}
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE users SET display_name = '', password_hash = '', last_seen = 0, disabled = 1, deleted = 1, deleted_at = ?
			 WHERE id = ?`, ms(now), user)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: delete user: %w", err)
	}
	return nil
}

// EraseStep runs one bounded step of user's erasure; see
// store.Erasure.EraseStep.
func (db *DB) EraseStep(ctx context.Context, user string, now time.Time) ([]protocol.Message, bool, error) {
	var (
		events []protocol.Message
		done   bool
	)
	err := db.update(ctx, func(tx *Tx) error {
		events, done = nil, false
		type pending struct {
			conv      string
			done, end int64
		}
		rows, err := tx.QueryContext(ctx,
			"SELECT conv_id, done_seq, end_seq FROM erasure_pending WHERE user_id = ? ORDER BY conv_id LIMIT ?",
			user, erasureStepConvs)
		if err != nil {
			return classify(err)
		}
		var ps []pending
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.conv, &p.done, &p.end); err != nil {
				rows.Close()
				return classify(err)
			}
			ps = append(ps, p)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return classify(err)
		}
		if err := rows.Close(); err != nil {
			return classify(err)
		}
		var entries []store.Append
		budget := int64(erasureStepBudget)
		for _, p := range ps {
			if budget <= 0 {
				break
			}
			to := min(p.end, p.done+budget)
			if to > p.done {
				if err := clearRange(ctx, tx, user, p.conv, p.done, to); err != nil {
					return err
				}
			}
			budget -= to - p.done
			if to < p.end {
				if _, err := tx.ExecContext(ctx,
					"UPDATE erasure_pending SET done_seq = ? WHERE user_id = ? AND conv_id = ?",
					to, user, p.conv); err != nil {
					return classify(err)
				}
				break
			}
			budget -= erasureConvCost
			es, err := leaveGroup(ctx, tx, user, p.conv)
			if err != nil {
				return err
			}
			entries = append(entries, es...)
			if len(es) == 0 { // a direct conversation, or no longer a member
				if _, err := tx.ExecContext(ctx,
					"DELETE FROM members WHERE conv_id = ? AND user_id = ?", p.conv, user); err != nil {
					return classify(err)
				}
			}
			if _, err := tx.ExecContext(ctx,
				"DELETE FROM erasure_pending WHERE user_id = ? AND conv_id = ?", user, p.conv); err != nil {
				return classify(err)
			}
		}
		if len(entries) > 0 {
			res := make([]store.AppendResult, len(entries))
			if err := newBatch(ctx, tx, ms(now), len(entries)).run(entries, res); err != nil {
				return fmt.Errorf("leave groups: %w", err)
			}
			for _, r := range res {
				if r.Err != nil {
					return fmt.Errorf("leave groups: %w", r.Err)
				}
				events = append(events, r.Message)
			}
		}
		var left bool
		if err := tx.QueryRowContext(ctx,
			"SELECT EXISTS (SELECT 1 FROM erasure_pending WHERE user_id = ?)", user).Scan(&left); err != nil {
			return classify(err)
		}
		done = !left
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: erase user: %w", err)
	}
	return events, done, nil
}

// PendingErasures returns the users whose erasure has begun and not ended;
// see store.Erasure.PendingErasures.
func (db *DB) PendingErasures(ctx context.Context) ([]string, error) {
	var users []string
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		users, err = queryStrings(ctx, tx, "SELECT DISTINCT user_id FROM erasure_pending ORDER BY user_id")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending erasures: %w", err)
	}
	return users, nil
}

// leaveGroup returns the entries that take user out of conv if conv is a
// group the user is a member of: a hand-over of ownership where the user is
// the only owner and others remain, then the user's "left".
func leaveGroup(ctx context.Context, tx *Tx, user, conv string) ([]store.Append, error) {
	var role string
	err := tx.QueryRowContext(ctx,
		`SELECT m.role FROM members AS m JOIN conversations AS c ON c.id = m.conv_id
		 WHERE m.conv_id = ? AND m.user_id = ? AND c.kind = '`+protocol.ConvGroup+`'`, conv, user).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	var entries []store.Append
	if role == protocol.RoleOwner {
		// The strongest other member, earliest joined first; none if
		// another owner remains.
		var next, nextRole string
		err := tx.QueryRowContext(ctx,
			`SELECT user_id, role FROM members WHERE conv_id = ? AND user_id <> ?
			 ORDER BY CASE role WHEN '`+protocol.RoleOwner+`' THEN 0 WHEN '`+protocol.RoleAdmin+`' THEN 1 ELSE 2 END,
			 joined_seq, user_id LIMIT 1`, conv, user).Scan(&next, &nextRole)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, classify(err)
		case nextRole != protocol.RoleOwner:
			entries = append(entries, store.Append{Conv: conv, Sender: user, Kind: protocol.KindMember,
				Member:          &protocol.MemberChange{User: next, Action: protocol.MemberRole, Role: protocol.RoleOwner},
				SkipMemberCheck: true})
		}
	}
	return append(entries, store.Append{Conv: conv, Sender: user, Kind: protocol.KindMember,
		Member: &protocol.MemberChange{User: user, Action: protocol.MemberLeft}, SkipMemberCheck: true}), nil
}

// clearRange clears the bodies of user's content and edits in conv with
// seqs in (from, to]; the live content messages first, whose deletion is
// counted for the other members' unread (unread.go).
func clearRange(ctx context.Context, tx *Tx, user, conv string, from, to int64) error {
	seqs, err := queryUint64s(ctx, tx,
		`UPDATE messages SET body = '', payload = NULL, deleted = 1
		 WHERE conv_id = ? AND seq > ? AND seq <= ? AND sender = ? AND kind = '`+protocol.KindMessage+`' AND deleted = 0
		 RETURNING seq`,
		conv, from, to, user)
	if err != nil {
		return fmt.Errorf("delete messages of %s: %w", conv, err)
	}
	if err := addDeleted(ctx, tx, conv, seqs); err != nil {
		return fmt.Errorf("conversation %s: %w", conv, err)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE messages SET body = '', payload = NULL, deleted = 1
		 WHERE conv_id = ? AND seq > ? AND seq <= ? AND sender = ?
		 AND kind IN ('`+protocol.KindMessage+`', '`+protocol.KindEdit+`')
		 AND (deleted = 0 OR body <> '' OR payload IS NOT NULL)`, conv, from, to, user); err != nil {
		return fmt.Errorf("clear messages of %s: %w", conv, classify(err))
	}
	return nil
}

// SentMessages returns up to limit messages sent by user after (afterConv,
// afterSeq) in (Conv, Seq) order, from one read snapshot; see
// store.Erasure.SentMessages. It walks the user's participants rows and
// scans each conversation's (conv_id, seq) index for the user's rows.
func (db *DB) SentMessages(ctx context.Context, user, afterConv string, afterSeq uint64, limit int) ([]protocol.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []protocol.Message
	err := db.view(ctx, func(tx *Tx) error {
		convs, err := queryStrings(ctx, tx,
			"SELECT conv_id FROM participants WHERE user_id = ? AND conv_id >= ? ORDER BY conv_id", user, afterConv)
		if err != nil {
			return fmt.Errorf("participants: %w", err)
		}
		for _, conv := range convs {
			var from int64
			if conv == afterConv {
				if afterSeq >= math.MaxInt64 {
					continue
				}
				from = int64(afterSeq)
			}
			msgs, err := queryMessages(ctx, tx,
				msgSelect+"WHERE conv_id = ? AND seq > ? AND sender = ? ORDER BY seq LIMIT ?",
				conv, from, user, limit-len(out))
			if err != nil {
				return err
			}
			out = append(out, msgs...)
			if len(out) >= limit {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: sent messages: %w", err)
	}
	return out, nil
}

// queryUint64s runs a statement returning one integer column.
func queryUint64s(ctx context.Context, q querier, query string, args ...any) ([]uint64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, classify(err)
		}
		out = append(out, uint64(v))
	}
	return out, classify(rows.Err())
}

// queryStrings runs a query of one text column.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, classify(err)
		}
		out = append(out, s)
	}
	return out, classify(rows.Err())
}

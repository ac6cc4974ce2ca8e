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

// DeleteUser erases a user in one write transaction; see
// store.Erasure.DeleteUser. The group events go through the same batch code
// as Append, so they get their seqs and side effects exactly as a "role"
// change and a "left" would. The user's messages are found through the
// participants table, one range scan of the (conv_id, seq) index per
// conversation the user was ever in: the cost is the size of those
// conversations, paid once, instead of a sender index paid by every send
// (docs/adr/0004-erasure-without-sender-index.md).
func (db *DB) DeleteUser(ctx context.Context, user string, now time.Time) ([]protocol.Message, error) {
	var events []protocol.Message
	err := db.update(ctx, func(tx *sql.Tx) error {
		events = nil
		var deleted int64
		err := tx.QueryRowContext(ctx, "SELECT deleted FROM users WHERE id = ?", user).Scan(&deleted)
		if err != nil {
			return classify(err) // store.ErrNotFound for no row
		}
		if deleted != 0 {
			return nil
		}
		entries, err := leaveGroups(ctx, tx, user)
		if err != nil {
			return err
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
		return eraseUser(ctx, tx, user, ms(now))
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete user: %w", err)
	}
	return events, nil
}

// leaveGroups returns the entries that take user out of each of their
// groups: a hand-over of ownership where the user is the only owner and
// others remain, then the user's "left".
func leaveGroups(ctx context.Context, tx *sql.Tx, user string) ([]store.Append, error) {
	type membership struct{ conv, role string }
	rows, err := tx.QueryContext(ctx,
		`SELECT m.conv_id, m.role FROM members AS m JOIN conversations AS c ON c.id = m.conv_id
		 WHERE m.user_id = ? AND c.kind = '`+protocol.ConvGroup+`' ORDER BY m.conv_id`, user)
	if err != nil {
		return nil, classify(err)
	}
	var groups []membership
	for rows.Next() {
		var m membership
		if err := rows.Scan(&m.conv, &m.role); err != nil {
			rows.Close()
			return nil, classify(err)
		}
		groups = append(groups, m)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, classify(err)
	}
	if err := rows.Close(); err != nil {
		return nil, classify(err)
	}

	var entries []store.Append
	for _, g := range groups {
		if g.role == protocol.RoleOwner {
			// The strongest other member, earliest joined first; none if
			// another owner remains.
			var next, role string
			err := tx.QueryRowContext(ctx,
				`SELECT user_id, role FROM members WHERE conv_id = ? AND user_id <> ?
				 ORDER BY CASE role WHEN '`+protocol.RoleOwner+`' THEN 0 WHEN '`+protocol.RoleAdmin+`' THEN 1 ELSE 2 END,
				 joined_seq, user_id LIMIT 1`, g.conv, user).Scan(&next, &role)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return nil, classify(err)
			case role != protocol.RoleOwner:
				entries = append(entries, store.Append{Conv: g.conv, Sender: user, Kind: protocol.KindMember,
					Member:          &protocol.MemberChange{User: next, Action: protocol.MemberRole, Role: protocol.RoleOwner},
					SkipMemberCheck: true})
			}
		}
		entries = append(entries, store.Append{Conv: g.conv, Sender: user, Kind: protocol.KindMember,
			Member: &protocol.MemberChange{User: user, Action: protocol.MemberLeft}, SkipMemberCheck: true})
	}
	return entries, nil
}

// eraseUser clears the bodies of the user's content and edits, removes the
// remaining (direct) memberships, the sessions, devices, positions and MQTT
// sessions, and
// turns the user row into a tombstone deleted at now (Unix ms).
func eraseUser(ctx context.Context, tx *sql.Tx, user string, now int64) error {
	convs, err := queryStrings(ctx, tx, "SELECT conv_id FROM participants WHERE user_id = ? ORDER BY conv_id", user)
	if err != nil {
		return fmt.Errorf("participants: %w", err)
	}
	for _, conv := range convs {
		// The live content messages first: their deletion is counted for
		// the other members' unread (unread.go).
		seqs, err := queryUint64s(ctx, tx,
			`UPDATE messages SET body = '', payload = NULL, deleted = 1
			 WHERE conv_id = ? AND sender = ? AND kind = '`+protocol.KindMessage+`' AND deleted = 0 RETURNING seq`,
			conv, user)
		if err != nil {
			return fmt.Errorf("delete messages of %s: %w", conv, err)
		}
		if err := addDeleted(ctx, tx, conv, seqs); err != nil {
			return fmt.Errorf("conversation %s: %w", conv, err)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE messages SET body = '', payload = NULL, deleted = 1
			 WHERE conv_id = ? AND sender = ? AND kind IN ('`+protocol.KindMessage+`', '`+protocol.KindEdit+`')
			 AND (deleted = 0 OR body <> '' OR payload IS NOT NULL)`, conv, user); err != nil {
			return fmt.Errorf("clear messages of %s: %w", conv, classify(err))
		}
	}
	for _, q := range []string{
		"DELETE FROM members WHERE user_id = ?",
		"DELETE FROM positions WHERE user_id = ?",
		"DELETE FROM sessions WHERE user_id = ?",
		"DELETE FROM devices WHERE user_id = ?",
		"DELETE FROM mqtt_sessions WHERE user_id = ?",
		"DELETE FROM packet_keys WHERE sender = ?",
	} {
		if _, err := tx.ExecContext(ctx, q, user); err != nil {
			return classify(err)
		}
	}
	_, err = tx.ExecContext(ctx,
		`UPDATE users SET display_name = '', password_hash = '', last_seen = 0, disabled = 1, deleted = 1, deleted_at = ?
		 WHERE id = ?`, now, user)
	return classify(err)
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
	err := db.view(ctx, func(tx *sql.Tx) error {
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
		return nil, fmt.Errorf("sqlite: sent messages: %w", err)
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

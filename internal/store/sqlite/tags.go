package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/store"
)

var _ store.Tags = (*DB)(nil)

// sendingNotice is what a change of tags needs of a notice being sent.
type sendingNotice struct {
	id      string
	to      store.TagExpr
	cursor  string
	created int64
}

// ChangeTags applies changes in one transaction; see store.Tags.
func (db *DB) ChangeTags(ctx context.Context, changes []store.TagChange, max int, now time.Time) ([]store.TagResult, error) {
	res := make([]store.TagResult, len(changes))
	err := db.update(ctx, func(tx *Tx) error {
		sending, err := loadSendingNotices(ctx, tx)
		if err != nil {
			return err
		}
		for i, ch := range changes {
			r, err := changeTags(ctx, tx, sending, ch, max, now)
			if err != nil {
				return err
			}
			res[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: change tags: %w", err)
	}
	return res, nil
}

// loadSendingNotices reads the notices being sent, whose audiences a tag
// change must not alter.
func loadSendingNotices(ctx context.Context, tx *Tx) ([]sendingNotice, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id, audience, cursor, created_at FROM notices WHERE state = ?", store.NoticeSending)
	if err != nil {
		return nil, fmt.Errorf("notices being sent: %w", classify(err))
	}
	defer rows.Close()
	var out []sendingNotice
	for rows.Next() {
		var n sendingNotice
		var audience string
		if err := rows.Scan(&n.id, &audience, &n.cursor, &n.created); err != nil {
			return nil, classify(err)
		}
		if err := json.Unmarshal([]byte(audience), &n.to); err != nil {
			return nil, fmt.Errorf("notice %s: audience: %w", n.id, err)
		}
		out = append(out, n)
	}
	return out, classify(rows.Err())
}

// changeTags applies one change in tx. The error is for storage failures.
func changeTags(ctx context.Context, tx *Tx, sending []sendingNotice, ch store.TagChange, max int, at time.Time) (store.TagResult, error) {
	var created, deleted int64
	err := tx.QueryRowContext(ctx, "SELECT created_at, deleted FROM users WHERE id = ?", ch.User).Scan(&created, &deleted)
	missing := errors.Is(err, sql.ErrNoRows)
	switch {
	case missing && !ch.Create, err == nil && deleted != 0:
		return store.TagResult{Err: fmt.Errorf("user %s: %w", ch.User, store.ErrNotFound)}, nil
	case err != nil && !missing:
		return store.TagResult{}, classify(err)
	}
	old := map[string]string{}
	if !missing {
		if old, err = readTags(ctx, tx, ch.User); err != nil {
			return store.TagResult{}, err
		}
	}
	now := make(map[string]string, len(old)+len(ch.Set))
	if !ch.Replace {
		maps.Copy(now, old)
	}
	maps.Copy(now, ch.Set)
	if !ch.Replace {
		for _, k := range ch.Delete {
			delete(now, k)
		}
	}
	if max > 0 && len(now) > max && len(now) > len(old) {
		return store.TagResult{Err: fmt.Errorf("user %s would have %d tags, more than %d: %w", ch.User, len(now), max, store.ErrLimit)}, nil
	}
	if missing {
		// Created after every notice so far, so in none of their
		// audiences (to the millisecond: see below).
		created = ms(at)
		if _, err := tx.ExecContext(ctx, "INSERT INTO users (id, created_at) VALUES (?, ?)", ch.User, created); err != nil {
			return store.TagResult{}, fmt.Errorf("create user: %w", classify(err))
		}
	}
	if missing || (len(old) == 0 && len(now) > 0) {
		// A notice to the user's tags will write to the user's system
		// conversation: create it now, in the order the tags are set,
		// rather than in a notice's chunk, whose users are in no order
		// of theirs (see ensureSystemConvs).
		if _, err := ensureSystemConvs(ctx, tx, []string{ch.User}, at); err != nil {
			return store.TagResult{}, err
		}
	}
	if maps.Equal(old, now) {
		return store.TagResult{Tags: now, Created: missing}, nil
	}
	// How the user stood when each notice still to reach them was created.
	for _, n := range sending {
		pos := audience{store.Notice{To: n.to}}.pos(ch.User)
		if pos <= n.cursor || created > n.created {
			continue
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO notice_verdicts (notice_id, pos, user_id, matched) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
			n.id, pos, ch.User, boolInt(n.to.Match(old))); err != nil {
			return store.TagResult{}, fmt.Errorf("notice verdict: %w", classify(err))
		}
	}
	for k := range old {
		if _, keep := now[k]; !keep {
			if _, err := tx.ExecContext(ctx, "DELETE FROM user_tags WHERE user_id = ? AND key = ?", ch.User, k); err != nil {
				return store.TagResult{}, fmt.Errorf("delete tag: %w", classify(err))
			}
		}
	}
	for k, v := range now {
		if ov, had := old[k]; had && ov == v {
			continue
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO user_tags (user_id, key, value, sys) VALUES (?, ?, ?, ?) "+
			"ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value", ch.User, k, v, store.SystemConvID(ch.User)); err != nil {
			return store.TagResult{}, fmt.Errorf("set tag: %w", classify(err))
		}
	}
	return store.TagResult{Tags: now, Changed: true, Created: missing}, nil
}

// readTags returns user's tags as stored in q.
func readTags(ctx context.Context, q querier, user string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT key, value FROM user_tags WHERE user_id = ?", user)
	if err != nil {
		return nil, fmt.Errorf("tags: %w", classify(err))
	}
	defer rows.Close()
	tags := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, classify(err)
		}
		tags[k] = v
	}
	return tags, classify(rows.Err())
}

// UserTags returns user's tags; see store.Tags.
func (db *DB) UserTags(ctx context.Context, user string) (map[string]string, error) {
	var tags map[string]string
	err := db.view(ctx, func(tx *Tx) error {
		var deleted int64
		if err := tx.QueryRowContext(ctx, "SELECT deleted FROM users WHERE id = ?", user).Scan(&deleted); err != nil {
			return classify(err)
		}
		if deleted != 0 {
			return store.ErrNotFound
		}
		var err error
		tags, err = readTags(ctx, tx, user)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: tags of %s: %w", user, err)
	}
	return tags, nil
}

// HasTagValue reports whether user has a tag valued value; see store.Tags.
func (db *DB) HasTagValue(ctx context.Context, user, value string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM user_tags WHERE user_id = ? AND value = ?", user, value).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: tag value: %w", classify(err))
	}
	return n > 0, nil
}

// CountTagged counts the users that match expr; see store.Tags.
func (db *DB) CountTagged(ctx context.Context, expr store.TagExpr) (int64, error) {
	var args []any
	cond := tagSQL(expr, "u.id", &args)
	var n int64
	q := "SELECT COUNT(*) FROM users AS u WHERE u.deleted = 0 AND " + cond
	if req, ok := expr.Required(); ok {
		// Start from the users with a tag every match has.
		q = "SELECT COUNT(*) FROM user_tags AS r JOIN users AS u ON u.id = r.user_id " +
			"WHERE r.key = ? AND r.value = ? AND u.deleted = 0 AND " + cond
		args = append([]any{req.Key, req.Value}, args...)
	}
	if err := db.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count tagged: %w", classify(err))
	}
	return n, nil
}

// tagSQL returns a condition that holds for the user whose id is the SQL
// expression user exactly when expr matches the user's current tags,
// appending its parameters to args. It is a boolean for PostgreSQL too,
// which takes no integer as a condition: true and false are 1 = 1 and
// 1 = 0.
func tagSQL(expr store.TagExpr, user string, args *[]any) string {
	switch expr.Op {
	case store.TagAll:
		return "1 = 1"
	case store.TagTerm:
		*args = append(*args, expr.Key, expr.Value)
		return "EXISTS (SELECT 1 FROM user_tags AS t WHERE t.user_id = " + user + " AND t.key = ? AND t.value = ?)"
	case store.TagNot:
		if len(expr.Args) != 1 {
			return "1 = 0"
		}
		return "NOT " + tagSQL(expr.Args[0], user, args)
	case store.TagAnd, store.TagOr:
		if len(expr.Args) == 0 {
			return "1 = 0"
		}
		parts := make([]string, len(expr.Args))
		for i, a := range expr.Args {
			parts[i] = tagSQL(a, user, args)
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(expr.Op)+" ") + ")"
	}
	return "1 = 0"
}

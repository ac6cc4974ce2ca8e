package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// SetRetention sets the conversation's own retention (stored to the
// millisecond; 0: the global setting); store.ErrNotFound if conv is absent,
// store.ErrInvalid if maxAge is negative.
func (db *DB) SetRetention(ctx context.Context, conv string, maxAge time.Duration) error {
	if maxAge < 0 {
		return fmt.Errorf("store: set retention: %w: negative max age", store.ErrInvalid)
	}
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE conversations SET max_age = ? WHERE id = ?", maxAge.Milliseconds(), conv)
		if err != nil {
			return classify(err)
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("store: set retention: %w", err)
	}
	return nil
}

// purgeCandidatesSQL finds up to ?3 conversations whose oldest stored
// message (the one at purged_seq+1, which always exists below last_seq)
// is older than the conversation's retention (its own max_age, else the
// global ?2) at the time ?1. Each costs one lookup in the (conv_id, seq)
// index. {{filter}} narrows the scan to conversations with their own
// retention when the global one is off, so the partial index serves it.
const purgeCandidatesSQL = `SELECT c.id FROM conversations AS c
	JOIN messages AS m ON m.conv_id = c.id AND m.seq = c.purged_seq + 1
	WHERE c.last_seq > c.purged_seq {{filter}}
	AND (CASE WHEN c.max_age > 0 THEN c.max_age ELSE ?2 END) > 0
	AND m.created_at < ?1 - (CASE WHEN c.max_age > 0 THEN c.max_age ELSE ?2 END)
	ORDER BY c.id LIMIT ?3`

// Purge deletes old messages as store.Retention.Purge says. The
// conversations that have something due are found on a reader, outside the
// write lock; the write transaction then re-reads each one's state and
// deletes at most limit rows, so it holds the writer only for as long as
// that takes. Times are compared to the millisecond.
func (db *DB) Purge(ctx context.Context, now time.Time, global time.Duration, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	global = max(global, 0)
	filter := ""
	if global == 0 {
		filter = "AND c.max_age > 0"
	}
	q := strings.Replace(purgeCandidatesSQL, "{{filter}}", filter, 1)
	convs, err := db.strings(ctx, q, ms(now), global.Milliseconds(), limit)
	if err != nil {
		return 0, fmt.Errorf("store: purge: find conversations: %w", err)
	}
	if len(convs) == 0 {
		return 0, nil
	}
	n := 0
	err = db.update(ctx, func(tx *Tx) error {
		n = 0
		for _, conv := range convs {
			if n >= limit {
				break
			}
			k, err := purgeConv(ctx, tx, conv, ms(now), global, limit-n)
			if err != nil {
				return fmt.Errorf("conversation %s: %w", conv, err)
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge: %w", err)
	}
	return n, nil
}

// purgeConv deletes up to budget of conv's oldest messages that are older
// than its retention at now (Unix ms), stopping at the first younger one,
// and raises purged_seq. It returns how many it deleted.
func purgeConv(ctx context.Context, tx *Tx, conv string, now int64, global time.Duration, budget int) (int, error) {
	var purged, last, maxAge int64
	err := tx.QueryRowContext(ctx, "SELECT purged_seq, last_seq, max_age FROM conversations WHERE id = ?", conv).
		Scan(&purged, &last, &maxAge)
	if err != nil {
		return 0, classify(err)
	}
	if maxAge <= 0 {
		maxAge = global.Milliseconds()
	}
	if maxAge <= 0 || last <= purged {
		return 0, nil
	}
	cutoff := now - maxAge
	rows, err := tx.QueryContext(ctx,
		"SELECT seq, created_at, content_count FROM messages WHERE conv_id = ? AND seq > ? ORDER BY seq LIMIT ?",
		conv, purged, budget)
	if err != nil {
		return 0, classify(err)
	}
	upTo, content := purged, int64(-1)
	for rows.Next() {
		var seq, created, count int64
		if err := rows.Scan(&seq, &created, &count); err != nil {
			rows.Close()
			return 0, classify(err)
		}
		if created >= cutoff || seq != upTo+1 {
			break // younger, or (never expected) a hole: keep the rest
		}
		upTo, content = seq, count
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, classify(err)
	}
	if err := rows.Close(); err != nil {
		return 0, classify(err)
	}
	if upTo == purged {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM messages WHERE conv_id = ? AND seq > ? AND seq <= ?",
		conv, purged, upTo); err != nil {
		return 0, classify(err)
	}
	// purged_content keeps the content count at purged_seq, whose row goes:
	// unread above it is counted from there (unread.go).
	if _, err := tx.ExecContext(ctx, "UPDATE conversations SET purged_seq = ?, purged_content = ? WHERE id = ?",
		upTo, content, conv); err != nil {
		return 0, classify(err)
	}
	return int(upTo - purged), nil
}

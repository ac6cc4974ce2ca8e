package sqlite

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// ListConversations returns up to limit of the user's conversations, newest
// activity first (UpdatedAt desc, then id desc), starting after the cursor
// (empty: from the newest), with the cursor of the next page (empty on the
// last one) and the user's total unread over all conversations. Each
// Summary's Unread and Last count only what the member may see (seq above
// JoinedSeq). The page, the counts and the cursor come from one snapshot.
// A limit of zero or less returns no page, only the total; a cursor this
// store did not issue fails with store.ErrInvalid.
func (db *DB) ListConversations(ctx context.Context, user, cursor string, limit int) ([]store.Summary, string, int, error) {
	var from *listCursor
	if cursor != "" {
		c, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", 0, fmt.Errorf("store: list conversations: %w", err)
		}
		from = &c
	}
	var (
		page  []store.Summary
		next  string
		total int
	)
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		if total, err = totalUnread(ctx, tx, user); err != nil {
			return err
		}
		if limit <= 0 {
			return nil
		}
		if page, err = listPage(ctx, tx, user, from, limit+1); err != nil {
			return err
		}
		if len(page) > limit {
			page = page[:limit]
			last := page[limit-1]
			next = encodeCursor(listCursor{updated: ms(last.UpdatedAt), id: last.ID})
		}
		for i := range page {
			if err := fillSummary(ctx, tx, user, &page[i]); err != nil {
				return err
			}
			page[i].Cursor = encodeCursor(listCursor{updated: ms(page[i].UpdatedAt), id: page[i].ID})
		}
		return nil
	})
	if err != nil {
		return nil, "", 0, fmt.Errorf("store: list conversations: %w", err)
	}
	return page, next, total, nil
}

// listPage reads up to n of the user's conversations after the cursor.
// A system conversation is listed once it holds an entry: it exists from
// the user's creation (ensureSystemConvs), empty until then.
func listPage(ctx context.Context, tx *Tx, user string, from *listCursor, n int) ([]store.Summary, error) {
	q := `SELECT c.id, c.kind, c.name, c.created_by, c.created_at, c.last_seq, c.updated_at, c.max_age, c.purged_seq,
		m.role, m.joined_seq, m.read_seq,
		CASE WHEN d.conv_id IS NULL THEN '' WHEN d.user_lo = ?1 THEN d.user_hi ELSE d.user_lo END
		FROM members AS m
		JOIN conversations AS c ON c.id = m.conv_id
		LEFT JOIN directs AS d ON d.conv_id = c.id
		WHERE m.user_id = ?1 AND (c.kind <> '` + protocol.ConvSystem + `' OR c.last_seq > 0)`
	args := []any{user, n}
	if from != nil {
		q += " AND (c.updated_at < ?3 OR (c.updated_at = ?3 AND c.id < ?4))"
		args = append(args, from.updated, from.id)
	}
	q += " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2"
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("page: %w", classify(err))
	}
	defer rows.Close()
	var page []store.Summary
	for rows.Next() {
		var s store.Summary
		var created, updated, last, maxAge, purged, joined, read int64
		if err := rows.Scan(&s.ID, &s.Kind, &s.Name, &s.CreatedBy, &created, &last, &updated, &maxAge, &purged,
			&s.Role, &joined, &read, &s.Peer); err != nil {
			return nil, fmt.Errorf("page: %w", classify(err))
		}
		s.CreatedAt, s.UpdatedAt, s.LastSeq = fromMS(created), fromMS(updated), uint64(last)
		s.MaxAge, s.PurgedSeq = time.Duration(maxAge)*time.Millisecond, uint64(purged)
		s.JoinedSeq, s.ReadSeq = uint64(joined), uint64(read)
		page = append(page, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("page: %w", classify(err))
	}
	return page, nil
}

// fillSummary sets the unread count and the last visible message of s.
func fillSummary(ctx context.Context, tx *Tx, user string, s *store.Summary) error {
	var err error
	if s.Unread, err = unread(ctx, tx, s.ID, user, max(s.ReadSeq, s.JoinedSeq)); err != nil {
		return fmt.Errorf("unread: %w", err)
	}
	m, err := scanMessage(tx.QueryRowContext(ctx,
		msgSelect+"WHERE conv_id = ? AND seq > ? ORDER BY seq DESC LIMIT 1", s.ID, int64(s.JoinedSeq)))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("last message: %w", err)
	default:
		s.Last = &m
	}
	return nil
}

// listCursor is the position after which a page starts: the (updated_at,
// id) of the last conversation of the previous page.
type listCursor struct {
	updated int64
	id      string
}

// cursorVersion prefixes cursors so that their format may change.
const cursorVersion = "1"

func encodeCursor(c listCursor) string {
	return base64.RawURLEncoding.EncodeToString(
		[]byte(cursorVersion + ":" + strconv.FormatInt(c.updated, 10) + ":" + c.id))
}

func decodeCursor(s string) (listCursor, error) {
	bad := fmt.Errorf("%w: malformed cursor", store.ErrInvalid)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return listCursor{}, bad
	}
	v, rest, ok := strings.Cut(string(b), ":")
	if !ok || v != cursorVersion {
		return listCursor{}, bad
	}
	ts, id, ok := strings.Cut(rest, ":")
	if !ok {
		return listCursor{}, bad
	}
	updated, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return listCursor{}, bad
	}
	return listCursor{updated: updated, id: id}, nil
}

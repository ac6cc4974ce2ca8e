package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/parley-im/parley/protocol"
)

// Unread counts without scanning the backlog (migration 0004,
// docs/adr/0006-unread-from-running-counts.md).
//
// Every message row carries content_count, the number of content messages
// of its conversation up to its seq (deleted ones included), and the
// conversation row the same at last_seq and at purged_seq. A deletion is
// counted in the conversation's deleted_tree, a Fenwick tree over seqs
// (see treeTop). The unread of a reader at p (at least purged_seq) is then
//
//	content_count(last) - content_count(p) - (deleted above p)
//
// provided that no message above p is the reader's own, which holds at a
// member's read position: sending raises the sender's read_seq in the same
// transaction (batch.raiseReads), and a member who joins again starts above
// everything said before.

// A conversation's deleted tree is kept up to its top, the smallest power of
// two at or above last_seq: node i counts the deleted content messages with
// a seq in (i - (i & -i), i], for every i up to the top. A query for p <=
// last_seq reads only nodes up to p. A deletion of s updates the nodes
// s, s + (s & -s), ... up to the top: about log2(last_seq) of them. When
// last_seq passes the top, the powers of two up to the new top get the
// conversation's deleted_count (all deletions so far lie below the old
// top, so each counts them all), and the nodes between them stay 0: their
// ranges are above every deleted seq. Nodes that would be 0 are not stored.

// maxTreeTop bounds the tops (2^62 messages in one conversation will not
// happen), so that nodes stay within int64.
const maxTreeTop = uint64(1) << 62

// treeTop returns the top of the deleted tree of a conversation whose
// last_seq is last.
func treeTop(last uint64) uint64 {
	if last <= 1 {
		return 1
	}
	return min(uint64(1)<<bits.Len64(last-1), maxTreeTop)
}

// convCounts is a conversation's counters, with the content count at the
// reader's position.
type convCounts struct {
	last, purged      uint64
	purgedContent     uint64
	content           uint64
	deleted, delMax   uint64
	atPos             sql.NullInt64 // content_count of the row at the position
	hasConv, isMember bool
}

// Unread counts content messages (KindMessage, not deleted) of conv with
// seq > after not sent by user, from one snapshot. At or above the user's
// read position (what callers pass) it costs a few index lookups whatever
// the number of unread messages (see unread.go).
func (db *DB) Unread(ctx context.Context, conv, user string, after uint64) (int, error) {
	var n int
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		n, err = unread(ctx, tx, conv, user, after)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: unread: %w", err)
	}
	return n, nil
}

// unreadAbove returns the number of undeleted content messages above p
// (clamped up to purged_seq) given the conversation's counters, reading the
// deleted tree only when a deletion lies above p. The counted messages are
// all the reader's unread only if none above p is the reader's own.
func unreadAbove(ctx context.Context, q querier, conv string, p uint64, c convCounts) (int, error) {
	p = max(p, c.purged)
	if p >= c.last {
		return 0, nil
	}
	base := c.purgedContent
	if p > c.purged {
		if !c.atPos.Valid {
			return 0, fmt.Errorf("no message %d in %s below its last seq %d", p, conv, c.last)
		}
		base = uint64(c.atPos.Int64)
	}
	n := int64(c.content) - int64(base)
	if c.delMax > p {
		below, err := deletedUpTo(ctx, q, conv, p)
		if err != nil {
			return 0, err
		}
		n -= int64(c.deleted) - int64(below)
	}
	if n < 0 {
		return 0, fmt.Errorf("unread counters of %s are inconsistent (%d at %d)", conv, n, p)
	}
	return int(n), nil
}

// countsSQL reads the counters of conversation ?1 with the content count at
// seq ?2 and user ?3's read position (NULL if not a member).
var countsSQL = `SELECT c.last_seq, c.purged_seq, c.purged_content, c.content_count, c.deleted_count, c.deleted_max,
	(SELECT content_count FROM messages WHERE conv_id = c.id AND seq = ?2),
	(SELECT ` + greatest("read_seq", "joined_seq") + ` FROM members WHERE conv_id = c.id AND user_id = ?3)
	FROM conversations AS c WHERE c.id = ?1`

// readCounts runs countsSQL. A missing conversation is not an error
// (hasConv false); own is the user's read position, valid if a member.
func readCounts(ctx context.Context, q querier, conv, user string, pos uint64) (convCounts, uint64, error) {
	var c convCounts
	var last, purged, purgedContent, content, deleted, delMax int64
	var own sql.NullInt64
	err := q.QueryRowContext(ctx, countsSQL, conv, int64(min(pos, math.MaxInt64)), user).
		Scan(&last, &purged, &purgedContent, &content, &deleted, &delMax, &c.atPos, &own)
	if errors.Is(err, sql.ErrNoRows) {
		return c, 0, nil
	}
	if err != nil {
		return c, 0, classify(err)
	}
	c.last, c.purged, c.purgedContent, c.content = uint64(last), uint64(purged), uint64(purgedContent), uint64(content)
	c.deleted, c.delMax = uint64(deleted), uint64(delMax)
	c.hasConv, c.isMember = true, own.Valid
	return c, uint64(own.Int64), nil
}

// unreadSQL counts the content messages of conv (?1) in (?2, ?3] not sent
// by a user (?4) by scanning them: only for the stretch below a user's read
// position, where the user's own messages may be.
const unreadSQL = `SELECT count(*) FROM messages
	WHERE conv_id = ?1 AND seq > ?2 AND seq <= ?3 AND kind = '` + protocol.KindMessage + `' AND deleted = 0 AND sender <> ?4`

// unread counts the content messages of conv with seq > after not sent by
// user and not deleted, from q's snapshot. At or above the user's read
// position it costs a few index lookups whatever the backlog; below it the
// stretch up to the read position is scanned (no caller needs that but
// tests; a reader whose position moved since it was read pays for the
// difference only). For a user who is not a member everything above after
// is scanned.
func unread(ctx context.Context, q querier, conv, user string, after uint64) (int, error) {
	c, own, err := readCounts(ctx, q, conv, user, after)
	if err != nil || !c.hasConv || after >= c.last {
		return 0, err
	}
	if !c.isMember {
		own = c.last // the user's messages may be anywhere
	}
	if after >= own {
		return unreadAbove(ctx, q, conv, after, c)
	}
	// after < own <= last: the fast count above own, the scan below it.
	if c, _, err = readCounts(ctx, q, conv, user, own); err != nil {
		return 0, err
	}
	n, err := unreadAbove(ctx, q, conv, own, c)
	if err != nil {
		return 0, err
	}
	var below int
	if err := q.QueryRowContext(ctx, unreadSQL, conv, int64(after), int64(own), user).Scan(&below); err != nil {
		return 0, classify(err)
	}
	return n + below, nil
}

// totalUnreadSQL reads, for each of the user's (?1) conversations, the
// counters and the content count at the member's read position: one
// lookup in the (conv_id, seq) index per conversation.
var totalUnreadSQL = `SELECT m.conv_id, ` + greatest("m.read_seq", "m.joined_seq") + `,
	c.last_seq, c.purged_seq, c.purged_content, c.content_count, c.deleted_count, c.deleted_max, g.content_count
	FROM members AS m
	JOIN conversations AS c ON c.id = m.conv_id
	LEFT JOIN messages AS g ON g.conv_id = m.conv_id AND g.seq = ` + greatest("m.read_seq", "m.joined_seq") + `
	WHERE m.user_id = ?1`

// totalUnread counts the user's unread content messages over all the
// user's conversations.
func totalUnread(ctx context.Context, tx *Tx, user string) (int, error) {
	type entry struct {
		conv string
		pos  uint64
		c    convCounts
	}
	rows, err := tx.QueryContext(ctx, totalUnreadSQL, user)
	if err != nil {
		return 0, fmt.Errorf("total unread: %w", classify(err))
	}
	var all []entry
	for rows.Next() {
		var e entry
		var pos, last, purged, purgedContent, content, deleted, delMax int64
		if err := rows.Scan(&e.conv, &pos, &last, &purged, &purgedContent, &content, &deleted, &delMax,
			&e.c.atPos); err != nil {
			rows.Close()
			return 0, fmt.Errorf("total unread: %w", classify(err))
		}
		e.pos = uint64(pos)
		e.c.last, e.c.purged, e.c.purgedContent, e.c.content = uint64(last), uint64(purged), uint64(purgedContent), uint64(content)
		e.c.deleted, e.c.delMax = uint64(deleted), uint64(delMax)
		all = append(all, e)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fmt.Errorf("total unread: %w", classify(err))
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("total unread: %w", classify(err))
	}
	total := 0
	for _, e := range all {
		n, err := unreadAbove(ctx, tx, e.conv, e.pos, e.c)
		if err != nil {
			return 0, fmt.Errorf("total unread: %w", err)
		}
		total += n
	}
	return total, nil
}

// deletedUpTo sums the nodes of conv's deleted tree that cover (0, p]: the
// number of deleted content messages with seq <= p.
func deletedUpTo(ctx context.Context, q querier, conv string, p uint64) (uint64, error) {
	args := []any{conv}
	for i := min(p, maxTreeTop); i > 0; i -= i & -i {
		args = append(args, int64(i))
	}
	if len(args) == 1 {
		return 0, nil
	}
	var n int64
	err := q.QueryRowContext(ctx, "SELECT coalesce(sum(n), 0) FROM deleted_tree WHERE conv_id = ? AND node IN ("+
		strings.TrimSuffix(strings.Repeat("?,", len(args)-1), ",")+")", args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("deleted tree: %w", classify(err))
	}
	return uint64(n), nil
}

// addDeleted counts content messages of conv that were just deleted (each
// seq once): the nodes of the deleted tree on their paths, up to the top
// for the conversation's last_seq, and the conversation's deleted_count and
// deleted_max.
func addDeleted(ctx context.Context, tx *Tx, conv string, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	var last int64
	if err := tx.QueryRowContext(ctx, "SELECT last_seq FROM conversations WHERE id = ?", conv).Scan(&last); err != nil {
		return fmt.Errorf("deleted tree: %w", classify(err))
	}
	top := treeTop(uint64(last))
	delta := make(map[uint64]int64)
	var highest uint64
	for _, s := range seqs {
		highest = max(highest, s)
		for i := s; i > 0 && i <= top; i += i & -i {
			delta[i]++
		}
	}
	if err := upsertNodes(ctx, tx, conv, delta, "deleted_tree.n + excluded.n"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx,
		"UPDATE conversations SET deleted_count = deleted_count + ?, deleted_max = "+greatest("deleted_max", "?")+" WHERE id = ?",
		len(seqs), int64(highest), int64(highest), conv)
	if err != nil {
		return fmt.Errorf("deleted count: %w", classify(err))
	}
	return nil
}

// upsertNodes writes nodes of conv's deleted tree, in node order, a chunk
// per statement; set is the new value of a node that exists (excluded.n is
// the given one, deleted_tree.n the stored one: a bare n would be
// ambiguous to PostgreSQL).
func upsertNodes(ctx context.Context, tx *Tx, conv string, nodes map[uint64]int64, set string) error {
	order := make([]uint64, 0, len(nodes))
	for i := range nodes {
		order = append(order, i)
	}
	slices.SortFunc(order, cmp.Compare)
	var args []any
	for _, size := range chunkSizes(len(order)) {
		args = args[:0]
		for _, i := range order[:size] {
			args = append(args, conv, int64(i), nodes[i])
		}
		order = order[size:]
		if _, err := tx.ExecContext(ctx, "INSERT INTO deleted_tree (conv_id, node, n) VALUES "+valuesList(size, 3)+
			" ON CONFLICT (conv_id, node) DO UPDATE SET n = "+set, args...); err != nil {
			return fmt.Errorf("deleted tree: %w", classify(err))
		}
	}
	return nil
}

// contentCounts returns the content_count of each of the batch's rows, in
// order, and records in each conversation's state how many content
// messages the batch adds.
func (b *batch) contentCounts() []int64 {
	counts := make([]int64, len(b.rows))
	for i, m := range b.rows {
		cs := b.conv(m.Conv)
		if m.Kind == protocol.KindMessage {
			cs.nc++
		}
		counts[i] = int64(cs.content + cs.nc)
	}
	return counts
}

// writeTrees keeps the deleted trees of the batch's conversations: it
// grows the tree of each conversation whose last_seq passed its top (see
// treeTop), then counts the batch's deletions.
func (b *batch) writeTrees() error {
	for _, conv := range b.convOrder {
		cs := b.convs[conv]
		old, top := treeTop(cs.base), treeTop(cs.base+cs.n)
		if cs.n == 0 || cs.deleted == 0 || top == old {
			continue
		}
		grown := make(map[uint64]int64)
		for i := old * 2; i <= top; i *= 2 {
			grown[i] = int64(cs.deleted)
		}
		if err := upsertNodes(b.ctx, b.tx, conv, grown, "excluded.n"); err != nil {
			return err
		}
	}
	if len(b.deleted) == 0 {
		return nil
	}
	byConv := make(map[string][]uint64)
	var order []string
	for _, k := range b.deleted {
		if _, ok := byConv[k.conv]; !ok {
			order = append(order, k.conv)
		}
		byConv[k.conv] = append(byConv[k.conv], k.seq)
	}
	for _, conv := range order {
		if err := addDeleted(b.ctx, b.tx, conv, byConv[conv]); err != nil {
			return err
		}
	}
	return nil
}

package sqlite

import (
	"database/sql"
	"fmt"

	"github.com/parley-im/parley/internal/store"
)

// loadPrior reads the messages stored before this batch under the batch's
// (sender, client message id) keys, a chunk of keys per query.
func (b *batch) loadPrior(entries []store.Append) error {
	var keys []dedupeKey
	want := make(map[dedupeKey]bool)
	for i := range entries {
		e := &entries[i]
		if e.ClientMsgID == "" || e.Sender == "" {
			continue
		}
		k := dedupeKey{e.Sender, e.ClientMsgID}
		if !want[k] {
			want[k] = true
			keys = append(keys, k)
		}
	}
	var args []any
	for _, size := range chunkSizes(len(keys)) {
		args = args[:0]
		for _, k := range keys[:size] {
			args = append(args, k.sender, k.clientMsgID)
		}
		keys = keys[size:]
		msgs, err := queryMessages(b.ctx, b.tx, priorSQL(size), args...)
		if err != nil {
			return fmt.Errorf("look up client message ids: %w", err)
		}
		for _, m := range msgs {
			b.prior[dedupeKey{m.From, m.ClientMsgID}] = m
		}
	}
	return nil
}

// priorSQL is the query of the messages under size (sender, client
// message id) keys. The WHERE term lets the planner use the partial dedupe
// index; the few keys are the outer loop, as SQLite's planner chooses
// without a CROSS JOIN, which PostgreSQL does not take with ON
// (TestDedupeLookupsUseIndexes).
func priorSQL(size int) string {
	return "SELECT " + qualified("m") + " FROM (VALUES " + valuesList(size, 2) + ") AS v " +
		"JOIN messages AS m ON m.sender = v.column1 AND m.client_msg_id = v.column2 " +
		"WHERE m.client_msg_id <> ''"
}

// loadState reads, for every (conversation, sender) pair of the batch, the
// conversation's last_seq and whether the sender is a member, a chunk of
// pairs per query.
func (b *batch) loadState(entries []store.Append) error {
	var pairs []memberKey
	for i := range entries {
		e := &entries[i]
		if e.Conv == "" || e.Sender == "" {
			continue
		}
		k := memberKey{e.Conv, e.Sender}
		if _, ok := b.members[k]; ok {
			continue
		}
		b.members[k] = false // placeholder until the query fills it
		pairs = append(pairs, k)
	}
	var args []any
	for _, size := range chunkSizes(len(pairs)) {
		args = args[:0]
		for _, k := range pairs[:size] {
			args = append(args, k.conv, k.user)
		}
		pairs = pairs[size:]
		q := "SELECT v.column1, v.column2, c.last_seq, m.user_id IS NOT NULL, c.content_count, c.deleted_count " +
			"FROM (VALUES " + valuesList(size, 2) + ") AS v " +
			"LEFT JOIN conversations AS c ON c.id = v.column1 " +
			"LEFT JOIN members AS m ON m.conv_id = v.column1 AND m.user_id = v.column2"
		if err := b.scanState(q, args); err != nil {
			return fmt.Errorf("load conversations: %w", err)
		}
	}
	return nil
}

// scanState runs one loadState query and records its rows.
func (b *batch) scanState(q string, args []any) error {
	rows, err := b.tx.QueryContext(b.ctx, q, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var conv, user string
		var last, content, deleted sql.NullInt64
		var member bool
		if err := rows.Scan(&conv, &user, &last, &member, &content, &deleted); err != nil {
			return classify(err)
		}
		b.members[memberKey{conv, user}] = member
		if _, ok := b.convs[conv]; !ok {
			b.convs[conv] = &convState{exists: last.Valid, base: uint64(last.Int64),
				content: uint64(content.Int64), deleted: uint64(deleted.Int64)}
			b.convOrder = append(b.convOrder, conv)
		}
	}
	return classify(rows.Err())
}

// flush inserts the batch's rows with their content counts, advances each
// conversation's last_seq and content_count (verifying the seqs the batch
// assigned), counts its deletions in the deleted trees and raises the
// senders' read positions.
func (b *batch) flush() error {
	if len(b.rows) == 0 {
		return nil
	}
	if err := insertMessages(b.ctx, b.tx, b.rows, b.contentCounts()); err != nil {
		return err
	}
	if err := b.advanceConversations(); err != nil {
		return err
	}
	if err := b.writeTrees(); err != nil {
		return err
	}
	return b.raiseReads()
}

// advanceConversations runs UPDATE ... RETURNING once per touched
// conversation (a chunk of conversations per statement) and checks that
// each last_seq moved exactly by the number of seqs the batch assigned.
func (b *batch) advanceConversations() error {
	var ids []string
	for _, id := range b.convOrder {
		if b.convs[id].n > 0 {
			ids = append(ids, id)
		}
	}
	var args []any
	for _, size := range chunkSizes(len(ids)) {
		args = append(args[:0], b.now)
		for _, id := range ids[:size] {
			args = append(args, id, int64(b.convs[id].n), int64(b.convs[id].nc))
		}
		ids = ids[size:]
		q := "UPDATE conversations SET last_seq = last_seq + v.column2, content_count = content_count + v.column3, " +
			"updated_at = ? FROM (VALUES " + intValuesList(size, 3, 2, 3) + ") AS v WHERE conversations.id = v.column1 " +
			"RETURNING id, last_seq, content_count"
		if err := b.checkAdvanced(q, args, size); err != nil {
			return fmt.Errorf("advance conversations: %w", err)
		}
	}
	return nil
}

// checkAdvanced runs one advanceConversations statement and verifies its
// returned rows.
func (b *batch) checkAdvanced(q string, args []any, want int) error {
	rows, err := b.tx.QueryContext(b.ctx, q, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var id string
		var last, content int64
		if err := rows.Scan(&id, &last, &content); err != nil {
			return classify(err)
		}
		cs := b.convs[id]
		if cs == nil || uint64(last) != cs.base+cs.n || uint64(content) != cs.content+cs.nc {
			return fmt.Errorf("conversation seq moved during the transaction")
		}
		got++
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	if got != want {
		return fmt.Errorf("advanced %d conversations, want %d", got, want)
	}
	return nil
}

// raiseReads raises each sender's read position to the seq of its last
// content message in the batch.
func (b *batch) raiseReads() error {
	keys := b.readOrder
	var args []any
	for _, size := range chunkSizes(len(keys)) {
		args = args[:0]
		for _, k := range keys[:size] {
			args = append(args, k.conv, k.user, int64(b.reads[k]))
		}
		keys = keys[size:]
		q := "UPDATE members SET read_seq = " + greatest("read_seq", "v.column3") + " " +
			"FROM (VALUES " + intValuesList(size, 3, 3) + ") AS v " +
			"WHERE members.conv_id = v.column1 AND members.user_id = v.column2"
		if _, err := b.tx.ExecContext(b.ctx, q, args...); err != nil {
			return fmt.Errorf("raise read positions: %w", classify(err))
		}
	}
	return nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Packet keys (store.Append.PacketKey) are dedupe keys a sender holds until
// it releases them: an MQTT QoS 2 packet id, which the client may use for
// a new message once its flow is complete. They live in packet_keys
// (migration 0006), apart from the messages' client_msg_id, so that a
// release frees the key without changing what readers see. A key points
// at the (conversation, seq) of the message that holds it; one whose
// message retention has purged holds nothing.

// packetKey is the batch's dedupe key of a packet key: a client message id
// never contains U+0000, so the two namespaces of dedupeKey cannot meet.
func packetKey(sender, key string) dedupeKey { return dedupeKey{sender, "\x00" + key} }

// loadPacketKeys reads the messages that hold the batch's packet keys into
// b.prior, a chunk of keys per query.
func (b *batch) loadPacketKeys(entries []store.Append) error {
	var keys [][2]string
	want := make(map[dedupeKey]bool)
	for i := range entries {
		e := &entries[i]
		if e.PacketKey == "" || e.Sender == "" {
			continue
		}
		if k := packetKey(e.Sender, e.PacketKey); !want[k] {
			want[k] = true
			keys = append(keys, [2]string{e.Sender, e.PacketKey})
		}
	}
	var args []any
	for _, size := range chunkSizes(len(keys)) {
		args = args[:0]
		for _, k := range keys[:size] {
			args = append(args, k[0], k[1])
		}
		keys = keys[size:]
		if err := b.scanPacketKeys(packetKeysSQL(size), args); err != nil {
			return fmt.Errorf("look up packet keys: %w", err)
		}
	}
	return nil
}

// packetKeysSQL is the query of the messages under size (sender, packet
// key) keys, the keys the outer loop (see priorSQL).
func packetKeysSQL(size int) string {
	return "SELECT k.key, " + qualified("m") + " FROM (VALUES " + valuesList(size, 2) + ") AS v " +
		"JOIN packet_keys AS k ON k.sender = v.column1 AND k.key = v.column2 " +
		"JOIN messages AS m ON m.conv_id = k.conv_id AND m.seq = k.seq"
}

// scanPacketKeys runs one loadPacketKeys query and records its rows.
func (b *batch) scanPacketKeys(q string, args []any) error {
	rows, err := b.tx.QueryContext(b.ctx, q, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		m, err := scanMessage(keyedRow{rows, &key})
		if err != nil {
			return err
		}
		b.prior[packetKey(m.From, key)] = m
	}
	return classify(rows.Err())
}

// keyedRow scans a row of a key followed by msgCols.
type keyedRow struct {
	rows *sql.Rows
	key  *string
}

func (r keyedRow) Scan(dest ...any) error { return r.rows.Scan(append([]any{r.key}, dest...)...) }

// holdPacketKey records that m, stored by this batch, holds key.
func (b *batch) holdPacketKey(key string, m *protocol.Message) {
	b.seen[packetKey(m.From, key)] = m
	b.held = append(b.held, heldKey{key: key, m: m})
}

// heldKey is a packet key taken by a message of the batch.
type heldKey struct {
	key string
	m   *protocol.Message
}

// writePacketKeys stores the packet keys taken by the batch's messages. A
// key still stored for a message retention purged is taken over.
func (b *batch) writePacketKeys() error {
	for _, h := range b.held {
		if _, err := b.tx.ExecContext(b.ctx,
			`INSERT INTO packet_keys (sender, key, conv_id, seq) VALUES (?, ?, ?, ?)
			 ON CONFLICT (sender, key) DO UPDATE SET conv_id = excluded.conv_id, seq = excluded.seq`,
			h.m.From, h.key, h.m.Conv, h.m.Seq); err != nil {
			return fmt.Errorf("store packet key: %w", classify(err))
		}
	}
	return nil
}

// ReleasePacketKey frees the packet key (sender, key); see
// store.MQTTSessions.ReleasePacketKey.
func (db *DB) ReleasePacketKey(ctx context.Context, sender, key string) error {
	if key == "" {
		return nil // no message holds the empty key
	}
	err := db.update(ctx, func(tx *Tx) error {
		return releasePacketKey(ctx, tx, sender, key)
	})
	if err != nil {
		return fmt.Errorf("store: release packet key: %w", err)
	}
	return nil
}

// releasePacketKey is ReleasePacketKey in tx.
func releasePacketKey(ctx context.Context, tx *Tx, sender, key string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM packet_keys WHERE sender = ? AND key = ?", sender, key)
	return classify(err)
}

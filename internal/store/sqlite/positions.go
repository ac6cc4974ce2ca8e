package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/parley-im/parley/internal/store"
)

// SaveAcks stores device positions, keeping the maximum of the stored and
// given seq, and raises the members' DeliveredSeq accordingly (not for a
// start position, DeviceAck.Start), in one
// transaction. An ack is clamped to the conversation's LastSeq, and an ack
// of a user who is not (or no longer) a member of the conversation is
// dropped: a late ack must not bring back the positions that leaving or a
// removal deleted.
func (db *DB) SaveAcks(ctx context.Context, acks []store.DeviceAck) error {
	if len(acks) == 0 {
		return nil
	}
	err := db.update(ctx, func(tx *Tx) error { return saveAcks(ctx, tx, acks) })
	if err != nil {
		return fmt.Errorf("store: save acks: %w", err)
	}
	return nil
}

// clampedSQL is ?1 clamped to the last seq of conversation ?2 (0 if there
// is none): min(?1, last_seq) for ?1 >= 0, with no scalar min, which
// PostgreSQL lacks (see least).
var clampedSQL = "coalesce((SELECT " + least("last_seq", "?1") + " FROM conversations WHERE id = ?2), 0)"

var (
	// ackSQL raises the delivered position of member ?3 of ?2 to ?1
	// clamped, returning the clamped ?1.
	ackSQL = `UPDATE members SET delivered_seq = ` + greatest("delivered_seq", clampedSQL) + `
		WHERE conv_id = ?2 AND user_id = ?3
		RETURNING ` + clampedSQL
	// startSQL returns ?1 clamped if ?3 is a member of ?2.
	startSQL = `SELECT ` + clampedSQL + ` FROM members WHERE conv_id = ?2 AND user_id = ?3`
	// positionSQL stores a device position, keeping the larger.
	positionSQL = `INSERT INTO positions (user_id, device_id, conv_id, seq) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, device_id, conv_id) DO UPDATE SET seq = ` + greatest("positions.seq", "excluded.seq")
	// readSQL raises the read position of member ?3 of ?2 to ?1 clamped.
	readSQL = `UPDATE members SET read_seq = ` + greatest("read_seq", clampedSQL) + `
		WHERE conv_id = ?2 AND user_id = ?3 RETURNING read_seq`
)

// saveAcks is SaveAcks in tx.
func saveAcks(ctx context.Context, tx *Tx, acks []store.DeviceAck) error {
	for _, a := range acks {
		seq := int64(min(a.Seq, math.MaxInt64))
		var clamped int64
		q := ackSQL
		if a.Start {
			// A start position: the same checks, DeliveredSeq untouched.
			q = startSQL
		}
		err := tx.QueryRowContext(ctx, q, seq, a.Conv, a.User).Scan(&clamped)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not a member
		}
		if err != nil {
			return classify(err)
		}
		if _, err := tx.ExecContext(ctx, positionSQL, a.User, a.Device, a.Conv, clamped); err != nil {
			return classify(err)
		}
	}
	return nil
}

// DevicePositions returns the device's acknowledged seq per conversation.
func (db *DB) DevicePositions(ctx context.Context, user, device string) (map[string]uint64, error) {
	rows, err := db.r.QueryContext(ctx,
		"SELECT conv_id, seq FROM positions WHERE user_id = ? AND device_id = ?", user, device)
	if err != nil {
		return nil, fmt.Errorf("store: device positions: %w", classify(err))
	}
	defer rows.Close()
	out := make(map[string]uint64)
	for rows.Next() {
		var conv string
		var seq int64
		if err := rows.Scan(&conv, &seq); err != nil {
			return nil, fmt.Errorf("store: device positions: %w", classify(err))
		}
		out[conv] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: device positions: %w", classify(err))
	}
	return out, nil
}

// SetRead raises the user's read position in conv to seq (never lowers it;
// clamps to the conversation's LastSeq) and returns the new position;
// store.ErrNotFound if the user is not a member.
func (db *DB) SetRead(ctx context.Context, conv, user string, seq uint64) (uint64, error) {
	var pos uint64
	err := db.update(ctx, func(tx *Tx) error {
		var err error
		pos, err = setRead(ctx, tx, conv, user, seq)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: set read: %w", err)
	}
	return pos, nil
}

// setRead is SetRead in tx.
func setRead(ctx context.Context, tx *Tx, conv, user string, seq uint64) (uint64, error) {
	var pos int64
	err := tx.QueryRowContext(ctx, readSQL, int64(min(seq, math.MaxInt64)), conv, user).Scan(&pos)
	if err != nil {
		return 0, classify(err)
	}
	return uint64(pos), nil
}

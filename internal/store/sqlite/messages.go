package sqlite

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Append stores the entries in one write transaction, one synced commit for
// the whole batch (see store.Messages.Append for the contract and batch for
// how it is done). A non-nil error means nothing was stored.
//
// Beyond the contract: an entry with an empty Conv or Sender, an unknown
// Kind, a KindMember without Member.User, an unknown action or role fails
// with store.ErrInvalid; adding a user who is a member already fails with
// store.ErrExists; removing or changing the role of a non-member fails with
// store.ErrNotFound; with SkipMemberCheck, an entry for an absent
// conversation fails with store.ErrNotFound. Deleting a message also clears
// the bodies of its earlier edits. A new member starts with ReadSeq and
// DeliveredSeq equal to its JoinedSeq.
func (db *DB) Append(ctx context.Context, entries []store.Append, now time.Time) ([]store.AppendResult, error) {
	res, err := db.Commit(ctx, entries, store.Writes{}, now)
	if err != nil {
		return nil, err
	}
	return res.Appends, nil
}

// Range returns up to limit messages of conv with after < seq < before
// (before 0: no upper bound), ascending if asc, else descending from
// before, in their current state. A limit of zero or less returns none.
func (db *DB) Range(ctx context.Context, conv string, after, before uint64, limit int, asc bool) ([]protocol.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	hi := int64(math.MaxInt64)
	if before > 0 && before <= math.MaxInt64 {
		hi = int64(before)
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	order := "DESC"
	if asc {
		order = "ASC"
	}
	msgs, err := queryMessages(ctx, db.r,
		msgSelect+"WHERE conv_id = ? AND seq > ? AND seq < ? ORDER BY seq "+order+" LIMIT ?",
		conv, int64(after), hi, limit)
	if err != nil {
		return nil, fmt.Errorf("store: range: %w", err)
	}
	return msgs, nil
}

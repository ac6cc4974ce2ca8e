package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// Commit applies a batch of appends and the small writes that ride with it
// in one write transaction: one synced commit for all of it (see
// store.GroupCommit). The entries are decided exactly as Append decides
// them; then come the acks, the touches, the read positions, the releases
// and the expiry, each with the statements of its own method.
func (db *DB) Commit(ctx context.Context, entries []store.Append, w store.Writes, now time.Time) (store.CommitResult, error) {
	res := store.CommitResult{Appends: []store.AppendResult{}}
	if len(entries) == 0 && w.Empty() {
		return res, nil
	}
	err := db.update(ctx, func(tx *Tx) error {
		res = store.CommitResult{
			Appends:  make([]store.AppendResult, len(entries)),
			Reads:    make([]store.ReadResult, len(w.Reads)),
			Releases: make([]error, len(w.Releases)),
		}
		if len(entries) > 0 {
			if err := newBatch(ctx, tx, ms(now), len(entries)).run(entries, res.Appends); err != nil {
				return err
			}
		}
		return applyWrites(ctx, tx, &w, &res)
	})
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("store: commit: %w", err)
	}
	return res, nil
}

// applyWrites applies w in tx, in the order store.GroupCommit.Commit
// documents, recording the per-item outcomes in res. A returned error is a
// storage failure: the transaction must be rolled back.
func applyWrites(ctx context.Context, tx *Tx, w *store.Writes, res *store.CommitResult) error {
	if err := saveAcks(ctx, tx, w.Acks); err != nil {
		return err
	}
	for _, t := range w.Touches {
		if err := touchDevice(ctx, tx, t.User, t.Device, t.At); err != nil {
			return err
		}
	}
	for i, r := range w.Reads {
		pos, err := setRead(ctx, tx, r.Conv, r.User, r.Seq)
		switch {
		case errors.Is(err, store.ErrNotFound):
			res.Reads[i].Err = fmt.Errorf("%w: not a member", store.ErrNotFound)
		case err != nil:
			return err
		}
		res.Reads[i].Seq = pos
	}
	for _, r := range w.Releases {
		if r.PacketKey == "" {
			continue // no message holds the empty key
		}
		if err := releasePacketKey(ctx, tx, r.Sender, r.PacketKey); err != nil {
			return err
		}
	}
	if !w.ExpireBefore.IsZero() {
		gone, err := expireDevices(ctx, tx, w.ExpireBefore)
		if err != nil {
			return err
		}
		res.Expired = gone
	}
	return nil
}

package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// OpenWithPragmas is Open with extra pragmas run on every new connection
// after Parley's settings and before their verification. Tests use it to
// simulate a driver or build that lowers durability.
func OpenWithPragmas(path string, opts Options, pragmas ...string) (*DB, error) {
	return open(path, opts, pragmas)
}

// SeedGroups creates n groups named prefix0..prefix(n-1), each with the
// given members (the first as owner) and no messages, in one transaction:
// benchmark setup without one synced commit per group.
func (db *DB) SeedGroups(ctx context.Context, prefix string, n int, members []string, now time.Time) error {
	return db.update(ctx, func(tx *Tx) error {
		for i := range n {
			c := store.Conversation{
				ID: fmt.Sprint(prefix, i), Kind: protocol.ConvGroup, CreatedBy: members[0],
				CreatedAt: now, UpdatedAt: now,
			}
			if err := insertConversation(ctx, tx, c); err != nil {
				return err
			}
			ms := make([]store.Member, len(members))
			for j, u := range members {
				ms[j] = store.Member{User: u, Role: protocol.RoleMember}
			}
			ms[0].Role = protocol.RoleOwner
			if err := insertMembers(ctx, tx, c.ID, ms); err != nil {
				return err
			}
		}
		return nil
	})
}

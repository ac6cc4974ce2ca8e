package core

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Retention configures the deletion of old messages. The zero value keeps
// messages forever and checks conversations' own settings hourly.
type Retention struct {
	// MaxAge is the global retention: a message older than this is deleted
	// unless its conversation has a setting of its own. 0 keeps messages
	// forever.
	MaxAge time.Duration
	// CheckInterval is how often the purge runs; 0 means one hour.
	CheckInterval time.Duration
	// Batch is the most messages one purge transaction deletes, so that the
	// purge never holds the store's writer for long; 0 means 1,000.
	Batch int
}

// Retention defaults and bounds.
const (
	defaultRetentionCheck = time.Hour
	defaultPurgeBatch     = 1000
	// MaxRetention is the longest retention a conversation may set.
	MaxRetention = 100 * 365 * 24 * time.Hour
)

// withDefaults checks r and fills in its zero fields.
func (r *Retention) withDefaults() error {
	if r.MaxAge < 0 || r.CheckInterval < 0 || r.Batch < 0 {
		return fmt.Errorf("core: retention settings must not be negative: %+v", *r)
	}
	if r.CheckInterval == 0 {
		r.CheckInterval = defaultRetentionCheck
	}
	if r.Batch == 0 {
		r.Batch = defaultPurgeBatch
	}
	return nil
}

// runRetention purges old messages at start, every CheckInterval, and
// soon after a conversation's retention changes.
func (c *Core) runRetention(ctx context.Context) {
	t := time.NewTicker(c.retention.CheckInterval)
	defer t.Stop()
	for {
		c.purge(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.purgeNow:
		}
	}
}

// purge deletes what is due, one batch (one short transaction) at a time,
// until a batch comes back short.
func (c *Core) purge(ctx context.Context) {
	total := 0
	for ctx.Err() == nil {
		n, err := c.st.Purge(ctx, c.now(), c.retention.MaxAge, c.retention.Batch)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("retention: purge", "err", err)
			}
			break
		}
		total += n
		c.metrics.Purged.Add(float64(n))
		if n < c.retention.Batch {
			break
		}
	}
	if total > 0 {
		c.log.Info("retention: purged messages", "count", total)
	}
}

// SetRetention sets conv's own retention: its messages older than maxAge
// are deleted by the next purge (within a moment); 0 goes back to the
// server's setting. Owners and admins of a group may, and either member of
// a direct conversation. maxAge is 0 or from one second to MaxRetention.
// It returns the conversation as id's user sees it.
func (c *Core) SetRetention(ctx context.Context, id Identity, conv string, maxAge time.Duration) (protocol.Conversation, error) {
	if maxAge < 0 || (maxAge > 0 && maxAge < time.Second) || maxAge > MaxRetention {
		return protocol.Conversation{}, badField("max_age", "must be 0 (the server's setting) or from 1s to %dh", int64(MaxRetention/time.Hour))
	}
	if err := ValidateConvID(conv); err != nil {
		return protocol.Conversation{}, err
	}
	m, err := c.st.Member(ctx, conv, id.User)
	if err != nil {
		return protocol.Conversation{}, fmt.Errorf("conversation %s: %w", conv, err)
	}
	if isGroup(conv) && protocol.RoleRank(m.Role) < protocol.RoleRank(protocol.RoleAdmin) {
		return protocol.Conversation{}, fmt.Errorf("set retention: %w", store.ErrForbidden)
	}
	if err := c.st.SetRetention(ctx, conv, maxAge); err != nil {
		return protocol.Conversation{}, fmt.Errorf("set retention: %w", err)
	}
	select {
	case c.purgeNow <- struct{}{}:
	default: // a pass is pending already
	}
	return c.Conversation(ctx, id.User, conv)
}

// isGroup reports whether conv names a group.
func isGroup(conv string) bool { return ConvKind(conv) == protocol.ConvGroup }

package core

import (
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
)

// Op classes of client operations with a budget of their own per user
// (DESIGN.md §2.15). Sends, edits and deletes have theirs (allowSend).
const (
	// opCheap: ack, read, typing — each costs the server little.
	opCheap = iota
	// opQuery: history, conversation list, members, presence, resume —
	// each reads the store for the client.
	opQuery
)

// budgets are the per-user token buckets of the operation classes; a nil
// bucket is off.
type budgets struct {
	c      *Core
	cheap  *ratelimit.Limiter
	query  *ratelimit.Limiter
	typing *typingGate
}

func newBudgets(c *Core, rl RateLimits) *budgets {
	b := &budgets{c: c}
	if rl.OpsPerSecond > 0 {
		b.cheap = ratelimit.NewLimiter(float64(rl.OpsPerSecond), time.Second, max(1, rl.OpsBurst), c.now)
	}
	if rl.QueriesPerSecond > 0 {
		b.query = ratelimit.NewLimiter(float64(rl.QueriesPerSecond), time.Second, max(1, rl.QueryBurst), c.now)
	}
	if rl.TypingInterval > 0 {
		b.typing = newTypingGate(rl.TypingInterval, c.now)
	}
	return b
}

// spend takes one operation of class op from user's budget, or returns a
// *ratelimit.Error saying when to retry.
func (b *budgets) spend(user string, op int) error {
	l, name, what, per, burst := b.cheap, ratelimit.LimitOps, "operations (ack, read, typing)",
		b.c.rateLimits.OpsPerSecond, b.c.rateLimits.OpsBurst
	if op == opQuery {
		l, name, what, per, burst = b.query, ratelimit.LimitQueries, "queries (history, conversations, members, presence, resume)",
			b.c.rateLimits.QueriesPerSecond, b.c.rateLimits.QueryBurst
	}
	if l == nil {
		return nil
	}
	wait := l.Allow(user)
	if wait == 0 {
		return nil
	}
	b.c.metrics.RateLimited.WithLabelValues(name).Inc()
	return &ratelimit.Error{Limit: name, RetryAfter: wait,
		Msg: fmt.Sprintf("too many %s (at most %d per second, bursts of %d): retry after retry_after_ms", what, per, max(1, burst))}
}

// typingGate coalesces typing: per sender and conversation, at most one
// typing event is relayed per interval; the others are accepted and
// dropped (the members already know).
type typingGate struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[userConv]time.Time
}

// maxTypingEntries bounds the gate's memory; past it, entries older than
// the interval are dropped, and if none is, it starts over.
const maxTypingEntries = 100_000

func newTypingGate(every time.Duration, now func() time.Time) *typingGate {
	return &typingGate{every: every, now: now, last: make(map[userConv]time.Time)}
}

// relay reports whether a typing event of user in conv goes out now.
func (g *typingGate) relay(user, conv string) bool {
	now := g.now()
	k := userConv{user: user, conv: conv}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.last[k]; ok && now.Sub(t) < g.every {
		return false
	}
	if len(g.last) >= maxTypingEntries {
		for key, t := range g.last {
			if now.Sub(t) >= g.every {
				delete(g.last, key)
			}
		}
		if len(g.last) >= maxTypingEntries {
			g.last = make(map[userConv]time.Time)
		}
	}
	g.last[k] = now
	return true
}

package ratelimit

import (
	"fmt"
	"sync"
	"time"
)

// ConnLimits are the limits on new connections per client address. A zero
// field turns its limit off.
type ConnLimits struct {
	// PerIP bounds the open connections of one address.
	PerIP int
	// PerIPPerMinute is a token bucket of new connections per address,
	// holding a minute's worth and refilling evenly over the minute.
	PerIPPerMinute int
	// FlappingPerMinute bans an address that attempts more connections
	// than this within a minute (refused attempts included) for Ban.
	FlappingPerMinute int
	Ban               time.Duration
	// Noun names what is admitted in refusals; empty: "connections".
	Noun string
}

// IPGate admits new connections per client address (a Key): first the
// flapping ban, then the concurrent connections, then the connection rate.
// One gate is shared by every gateway that accepts long-lived connections,
// so the limits hold across protocols. Safe for concurrent use.
type IPGate struct {
	l        ConnLimits
	rate     *Limiter  // nil: off
	flapping *Flapping // nil: off

	mu   sync.Mutex
	open map[string]int // open connections per key; absent: none
}

// NewIPGate returns a gate enforcing l; now is the clock (nil: time.Now).
func NewIPGate(l ConnLimits, now func() time.Time) *IPGate {
	if l.Noun == "" {
		l.Noun = "connections"
	}
	g := &IPGate{l: l, open: make(map[string]int)}
	if l.PerIPPerMinute > 0 {
		g.rate = NewLimiter(float64(l.PerIPPerMinute), time.Minute, l.PerIPPerMinute, now)
	}
	if l.FlappingPerMinute > 0 && l.Ban > 0 {
		g.flapping = NewFlapping(l.FlappingPerMinute, time.Minute, l.Ban, now)
	}
	return g
}

// Admit admits a new connection from the address with key, or refuses it
// with an *Error. On success the caller must call release exactly once,
// when the connection ends. A nil gate admits everything.
func (g *IPGate) Admit(key string) (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	if g.flapping != nil {
		if wait := g.flapping.Connect(key); wait > 0 {
			return nil, &Error{Limit: LimitFlapping, RetryAfter: wait,
				Msg: "too many connection attempts from this address: refused until the ban ends"}
		}
	}
	g.mu.Lock()
	if g.l.PerIP > 0 && g.open[key] >= g.l.PerIP {
		g.mu.Unlock()
		return nil, &Error{Limit: LimitConnIP, RetryAfter: BusyRetry,
			Msg: fmt.Sprintf("too many open %s from this address (at most %d)", g.l.Noun, g.l.PerIP)}
	}
	g.open[key]++
	g.mu.Unlock()
	if g.rate != nil {
		if wait := g.rate.Allow(key); wait > 0 {
			g.release(key)
			return nil, &Error{Limit: LimitConnRate, RetryAfter: wait,
				Msg: fmt.Sprintf("too many new %s from this address (at most %d per minute)", g.l.Noun, g.l.PerIPPerMinute)}
		}
	}
	var once sync.Once
	return func() { once.Do(func() { g.release(key) }) }, nil
}

func (g *IPGate) release(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.open[key]; n > 1 {
		g.open[key] = n - 1
	} else {
		delete(g.open, key)
	}
}

// Open returns how many connections from key are open.
func (g *IPGate) Open(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open[key]
}

package ratelimit

import (
	"math"
	"sync"
	"time"
)

// MaxKeys bounds the keys one Buckets, Flapping or IPGate remembers.
const MaxKeys = 100_000

// Buckets is a set of token buckets, one per key, each holding up to burst
// tokens and refilling per tokens every period (evenly, not in steps). A
// key's bucket starts full. Not safe for concurrent use: the owner locks
// around it (so that one attempt can check several sets at once).
type Buckets struct {
	per     float64       // tokens added per period
	period  time.Duration // > 0
	burst   float64
	maxKeys int
	m       map[string]*bucket
}

type bucket struct {
	tokens  float64
	at      time.Time // when tokens was last brought up to date
	refused bool      // an attempt was refused since the last one allowed
}

// NewBuckets returns buckets that refill per tokens every period and hold
// at most burst. per and burst must be positive.
func NewBuckets(per float64, period time.Duration, burst int) *Buckets {
	return &Buckets{per: per, period: period, burst: float64(burst), maxKeys: MaxKeys, m: make(map[string]*bucket)}
}

// level returns key's bucket brought up to now; a new bucket is full.
func (b *Buckets) level(key string, now time.Time) *bucket {
	k, ok := b.m[key]
	if !ok {
		if len(b.m) >= b.maxKeys {
			b.prune(now)
		}
		k = &bucket{tokens: b.burst, at: now}
		b.m[key] = k
		return k
	}
	if el := now.Sub(k.at); el > 0 {
		k.tokens = min(b.burst, k.tokens+b.refill(el))
		k.at = now
	}
	return k
}

func (b *Buckets) refill(el time.Duration) float64 {
	return float64(el) / float64(b.period) * b.per
}

// Wait returns how long until key's bucket holds a token: 0 if it holds one
// now.
func (b *Buckets) Wait(key string, now time.Time) time.Duration {
	k := b.level(key, now)
	if k.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - k.tokens) / b.per * float64(b.period)))
}

// Take takes one token from key's bucket, which must hold one (Wait
// returned 0), and clears its refusal mark.
func (b *Buckets) Take(key string, now time.Time) {
	k := b.level(key, now)
	k.tokens--
	k.refused = false
}

// Refuse marks key's bucket as having refused an attempt and reports
// whether this is the first refusal since it last allowed one (so that an
// attack is logged once, not per attempt).
func (b *Buckets) Refuse(key string, now time.Time) (first bool) {
	k := b.level(key, now)
	first = !k.refused
	k.refused = true
	return first
}

// Refund gives one token back to key's bucket, never above burst. A bucket
// that was forgotten meanwhile is full anyway and stays forgotten.
func (b *Buckets) Refund(key string, now time.Time) {
	if _, ok := b.m[key]; !ok {
		return
	}
	k := b.level(key, now)
	k.tokens = min(b.burst, k.tokens+1)
}

// Len is how many keys are remembered.
func (b *Buckets) Len() int { return len(b.m) }

// prune forgets full buckets (a new one would be the same) and, if that
// does not free a tenth of the set, arbitrary ones, so that an attacker
// who sprays keys costs bounded memory and one sweep per tenth of the set.
func (b *Buckets) prune(now time.Time) {
	for key, k := range b.m {
		if k.tokens+b.refill(now.Sub(k.at)) >= b.burst {
			delete(b.m, key)
		}
	}
	for key := range b.m {
		if len(b.m) < b.maxKeys*9/10 {
			break
		}
		delete(b.m, key)
	}
}

// Limiter is a Buckets for one kind of attempt, safe for concurrent use.
type Limiter struct {
	mu  sync.Mutex
	b   *Buckets
	now func() time.Time
}

// NewLimiter returns a limiter whose buckets refill per tokens every period
// and hold at most burst; now is the clock (nil: time.Now).
func NewLimiter(per float64, period time.Duration, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{b: NewBuckets(per, period, burst), now: now}
}

// Allow takes a token from key's bucket and returns 0, or, if the bucket is
// empty, takes nothing and returns how long until it holds a token.
func (l *Limiter) Allow(key string) (retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if w := l.b.Wait(key, now); w > 0 {
		l.b.Refuse(key, now)
		return w
	}
	l.b.Take(key, now)
	return 0
}

// AllowN is Allow for n tokens at once: it takes all n, or none and
// returns how long until the bucket holds n (n must not exceed the burst).
func (l *Limiter) AllowN(key string, n int) (retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := l.b.level(key, now)
	if need := float64(n); k.tokens < need {
		k.refused = true
		return time.Duration(math.Ceil((need - k.tokens) / l.b.per * float64(l.b.period)))
	}
	k.tokens -= float64(n)
	k.refused = false
	return 0
}

// ReturnN gives n tokens back to key's bucket, never above the burst: for
// an attempt that took more than it turned out to cost. A bucket that was
// forgotten meanwhile is full anyway and stays forgotten.
func (l *Limiter) ReturnN(key string, n int) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.b.m[key]; !ok {
		return
	}
	k := l.b.level(key, l.now())
	k.tokens = min(l.b.burst, k.tokens+float64(n))
}

// Len is how many keys are remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

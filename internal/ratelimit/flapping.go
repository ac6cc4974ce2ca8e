package ratelimit

import (
	"sync"
	"time"
)

// Flapping bans keys that connect too often: a key that connects more than
// max times within window is refused, and stays refused for ban. Connects
// are counted in fixed windows per key, and the count "within the last
// window" is estimated as the current window's count plus the previous
// window's weighted by how much of it still overlaps (two counters per key
// instead of a timestamp per connect). A refused connect does not count and
// does not extend a ban; when a ban ends, the key starts from zero. Safe
// for concurrent use; at most MaxKeys keys are remembered.
type Flapping struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	ban     time.Duration
	now     func() time.Time
	maxKeys int
	m       map[string]*flap
}

type flap struct {
	start     time.Time // start of the current window
	cur, prev int       // connects in the current and the previous window
	until     time.Time // banned until; zero: not banned
}

// NewFlapping returns a tracker that bans for ban a key connecting more
// than max times within window; now is the clock (nil: time.Now).
func NewFlapping(max int, window, ban time.Duration, now func() time.Time) *Flapping {
	if now == nil {
		now = time.Now
	}
	return &Flapping{max: max, window: window, ban: ban, now: now, maxKeys: MaxKeys, m: make(map[string]*flap)}
}

// Connect records a connect of key and returns 0, or refuses it and returns
// how long the key's ban still lasts: while key is banned, and for the
// connect that crosses the limit, which starts the ban.
func (f *Flapping) Connect(key string) (banned time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	k, ok := f.m[key]
	if !ok {
		if len(f.m) >= f.maxKeys {
			f.prune(now)
		}
		k = &flap{start: now}
		f.m[key] = k
	}
	if now.Before(k.until) {
		return k.until.Sub(now)
	}
	if !k.until.IsZero() { // a ban ended: start afresh
		*k = flap{start: now}
	}
	k.roll(now, f.window)
	overlap := 1 - float64(now.Sub(k.start))/float64(f.window)
	if float64(k.prev)*overlap+float64(k.cur)+1 > float64(f.max) {
		*k = flap{start: now, until: now.Add(f.ban)}
		return f.ban
	}
	k.cur++
	return 0
}

// roll moves k's windows forward to the one holding now.
func (k *flap) roll(now time.Time, window time.Duration) {
	switch el := now.Sub(k.start); {
	case el < window:
	case el < 2*window:
		k.prev, k.cur = k.cur, 0
		k.start = k.start.Add(window)
	default:
		k.prev, k.cur = 0, 0
		k.start = now
	}
}

// Len is how many keys are remembered.
func (f *Flapping) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// prune forgets keys that are neither banned nor counted in the last two
// windows (a new record would be the same), then, if that does not free a
// tenth of the set, unbanned keys, then any.
func (f *Flapping) prune(now time.Time) {
	banned := func(k *flap) bool { return now.Before(k.until) }
	for key, k := range f.m {
		if !banned(k) && now.Sub(k.start) >= 2*f.window {
			delete(f.m, key)
		}
	}
	for pass := 0; pass < 2 && len(f.m) >= f.maxKeys*9/10; pass++ {
		for key, k := range f.m {
			if len(f.m) < f.maxKeys*9/10 {
				break
			}
			if pass == 1 || !banned(k) {
				delete(f.m, key)
			}
		}
	}
}

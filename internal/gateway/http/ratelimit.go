package httpapi

import (
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/core"
)

// maxBuckets bounds the keys one bucket set remembers. A key whose bucket
// has refilled is forgotten first; beyond that, arbitrary keys are.
const maxBuckets = 100_000

// rateLimitError is a refused attempt; it unwraps to core.ErrRateLimited,
// so core.ToProtocol maps it, and writeError adds the Retry-After header.
type rateLimitError struct {
	what       string        // what was limited, for the message
	retryAfter time.Duration // until an attempt would be allowed
	// by names the limit that refused ("address", "account"; both joined);
	// first is set on the first refusal since the bucket last allowed an
	// attempt, so a server logs an attack once, not every attempt. Neither
	// reaches the client.
	by    string
	first bool
}

// Error is the client's message. It names neither the limit that refused
// the attempt nor the wait (that is Retry-After), so refusals of unknown and
// existing accounts, by address or by account, read the same.
func (e *rateLimitError) Error() string {
	return "too many " + e.what + "; retry after the delay in the Retry-After header"
}

func (e *rateLimitError) Unwrap() error { return core.ErrRateLimited }

// seconds is Retry-After: whole seconds, rounded up, at least 1.
func (e *rateLimitError) seconds() int {
	return max(1, int(math.Ceil(e.retryAfter.Seconds())))
}

// buckets is a set of token buckets, one per key, each holding up to perMin
// tokens and refilling perMin tokens per minute. Not safe for concurrent
// use; loginLimiter guards it.
type buckets struct {
	perMin float64
	m      map[string]*bucket
}

type bucket struct {
	tokens  float64
	at      time.Time // when tokens was last brought up to date
	refused bool      // an attempt was refused since the last one allowed
}

func newBuckets(perMin int) *buckets {
	return &buckets{perMin: float64(perMin), m: make(map[string]*bucket)}
}

// level returns key's bucket brought up to now; a new bucket is full.
func (b *buckets) level(key string, now time.Time) *bucket {
	k, ok := b.m[key]
	if !ok {
		if len(b.m) >= maxBuckets {
			b.prune(now)
		}
		k = &bucket{tokens: b.perMin, at: now}
		b.m[key] = k
		return k
	}
	if el := now.Sub(k.at); el > 0 {
		k.tokens = min(b.perMin, k.tokens+el.Minutes()*b.perMin)
		k.at = now
	}
	return k
}

// wait is how long until key's bucket k holds one token.
func (b *buckets) wait(k *bucket) time.Duration {
	return time.Duration((1 - k.tokens) / b.perMin * float64(time.Minute))
}

// prune forgets full buckets (a new one would be the same) and, if that
// does not free a tenth of the set, arbitrary ones, so that an attacker
// who sprays keys costs bounded memory and one sweep per tenth of the set.
func (b *buckets) prune(now time.Time) {
	for key, k := range b.m {
		if k.tokens+now.Sub(k.at).Minutes()*b.perMin >= b.perMin {
			delete(b.m, key)
		}
	}
	for key := range b.m {
		if len(b.m) < maxBuckets*9/10 {
			break
		}
		delete(b.m, key)
	}
}

// loginLimiter limits failed password logins per client address and per
// account name. An attempt takes a token from both buckets before the
// password is checked (so concurrent guesses cannot overshoot) and gives
// it back if the login succeeds, so only failures count.
type loginLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	ip      *buckets
	account *buckets
}

func newLoginLimiter(perIP, perAccount int, now func() time.Time) *loginLimiter {
	if now == nil {
		now = time.Now
	}
	return &loginLimiter{now: now, ip: newBuckets(perIP), account: newBuckets(perAccount)}
}

// loginAttempt is a token taken for one attempt.
type loginAttempt struct {
	l           *loginLimiter
	ip, account string
}

// take takes a token for an attempt from addr on account, or refuses it
// with a *rateLimitError. A refused attempt takes nothing.
func (l *loginLimiter) take(addr, account string) (loginAttempt, error) {
	ipKey, acctKey := clientKey(addr), accountKey(account)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	ib, ab := l.ip.level(ipKey, now), l.account.level(acctKey, now)
	if ib.tokens < 1 || ab.tokens < 1 {
		e := &rateLimitError{what: "login attempts"}
		for _, x := range []struct {
			b    *buckets
			k    *bucket
			name string
		}{{l.ip, ib, "address"}, {l.account, ab, "account"}} {
			if x.k.tokens < 1 {
				e.retryAfter = max(e.retryAfter, x.b.wait(x.k))
				e.by = strings.TrimPrefix(e.by+"+"+x.name, "+")
				e.first = e.first || !x.k.refused
				x.k.refused = true
			}
		}
		return loginAttempt{}, e
	}
	ib.tokens--
	ab.tokens--
	ib.refused, ab.refused = false, false
	return loginAttempt{l: l, ip: ipKey, account: acctKey}, nil
}

// refund gives the attempt's tokens back (the login succeeded, or failed
// before any password was checked).
func (a loginAttempt) refund() {
	l := a.l
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, x := range []struct {
		b   *buckets
		key string
	}{{l.ip, a.ip}, {l.account, a.account}} {
		if _, ok := x.b.m[x.key]; ok { // a forgotten bucket is full anyway
			k := x.b.level(x.key, now)
			k.tokens = min(x.b.perMin, k.tokens+1)
		}
	}
}

// clientKey is the rate-limit key of a remote address: the IP, or for IPv6
// its /64, which one subscriber usually holds whole. No proxy header is
// trusted: behind a proxy every client shares the proxy's key.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// accountKey bounds the key of an account name: no valid user id is longer
// than core.MaxIDLen, so longer names share keys with their prefix.
func accountKey(name string) string {
	if len(name) > core.MaxIDLen+1 {
		return name[:core.MaxIDLen+1]
	}
	return name
}

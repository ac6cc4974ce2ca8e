package httpapi

import (
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/ratelimit"
)

// rateLimitError is a refused login attempt; it unwraps to
// core.ErrRateLimited, so core.ToProtocol maps it, and writeError adds the
// Retry-After header. Unlike a *ratelimit.Error its body carries no
// retry_after_ms: every login refusal reads the same (BAD_INPUTS H6).
type rateLimitError struct {
	what       string        // what was limited, for the message
	retryAfter time.Duration // until an attempt would be allowed
	// by names the limit that refused ("address", "account"; both joined);
	// limits holds their metric names; first is set on the first refusal
	// since the bucket last allowed an attempt, so a server logs an attack
	// once, not every attempt. None reaches the client.
	by     string
	limits []string
	first  bool
}

// Error is the client's message. It names neither the limit that refused
// the attempt nor the wait (that is Retry-After), so refusals of unknown and
// existing accounts, by address or by account, read the same.
func (e *rateLimitError) Error() string {
	return "too many " + e.what + "; retry after the delay in the Retry-After header"
}

func (e *rateLimitError) Unwrap() error { return core.ErrRateLimited }

// Limits names the limits that refused (metric labels, ratelimit.Limit*).
func (e *rateLimitError) Limits() []string { return e.limits }

// seconds is Retry-After: whole seconds, rounded up, at least 1.
func (e *rateLimitError) seconds() int {
	return max(1, int(math.Ceil(e.retryAfter.Seconds())))
}

// loginLimiter limits failed password logins per client address and per
// account name, each a set of token buckets holding a minute's worth of
// attempts. An attempt takes a token from both buckets before the password
// is checked (so concurrent guesses cannot overshoot) and gives it back if
// the login succeeds, so only failures count. Successful logins have a
// budget of their own per account (success, nil: none), checked before
// the password too, so that a client that knows a password cannot sign in
// (and create devices, and hash) without bound either.
type loginLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	ip      *ratelimit.Buckets
	account *ratelimit.Buckets
	success *ratelimit.Buckets
}

func newLoginLimiter(perIP, perAccount int, now func() time.Time) *loginLimiter {
	if now == nil {
		now = time.Now
	}
	return &loginLimiter{now: now,
		ip:      ratelimit.NewBuckets(float64(perIP), time.Minute, perIP),
		account: ratelimit.NewBuckets(float64(perAccount), time.Minute, perAccount)}
}

// Logins limits failed password checks per client address and account
// name, and successful ones per account name. One Logins shared by the
// HTTP API and the MQTT gateway gives an attacker one budget, whatever
// protocol the guesses come by.
type Logins struct{ l *loginLimiter }

// NewLogins returns a limiter of perIP failed attempts a minute per client
// address, perAccount per account name, and successPerAccount successful
// ones per account name (0: not limited).
func NewLogins(perIP, perAccount, successPerAccount int) *Logins {
	l := newLoginLimiter(perIP, perAccount, time.Now)
	if successPerAccount > 0 {
		l.success = ratelimit.NewBuckets(float64(successPerAccount), time.Minute, successPerAccount)
	}
	return &Logins{l: l}
}

// Attempt takes a token for a password check by the client address with
// key ipKey (ratelimit.Key) on account, or refuses with an error that
// unwraps to core.ErrRateLimited, before any password is checked. Call
// done with the check's result: nil (a success, which counts against the
// account's successes and not as a failure), an error that unwraps to
// core.ErrUnauthorized (a failure, which counts), or any other error
// (nothing was checked, such as core.ErrBusy: nothing counts).
func (g *Logins) Attempt(ipKey, account string) (done func(error), err error) {
	a, err := g.l.take(ipKey, account)
	if err != nil {
		return nil, err
	}
	return a.done, nil
}

// loginAttempt is a token taken for one attempt.
type loginAttempt struct {
	l           *loginLimiter
	ip, account string
}

// take takes a token for an attempt from the client address with key ipKey
// (ratelimit.Key) on account, or refuses it with a *rateLimitError. A
// refused attempt takes nothing.
func (l *loginLimiter) take(ipKey, account string) (loginAttempt, error) {
	acctKey := accountKey(account)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	iw, aw := l.ip.Wait(ipKey, now), l.account.Wait(acctKey, now)
	var sw time.Duration
	if l.success != nil {
		sw = l.success.Wait(acctKey, now)
	}
	if iw > 0 || aw > 0 || sw > 0 {
		e := &rateLimitError{what: "login attempts", retryAfter: max(iw, aw, sw)}
		for _, x := range []struct {
			b           *ratelimit.Buckets
			key         string
			wait        time.Duration
			name, limit string
		}{{l.ip, ipKey, iw, "address", ratelimit.LimitLoginIP}, {l.account, acctKey, aw, "account", ratelimit.LimitLoginAccount},
			{l.success, acctKey, sw, "account successes", ratelimit.LimitLoginSuccess}} {
			if x.wait > 0 {
				e.by = strings.TrimPrefix(e.by+"+"+x.name, "+")
				e.limits = append(e.limits, x.limit)
				e.first = x.b.Refuse(x.key, now) || e.first
			}
		}
		return loginAttempt{}, e
	}
	l.ip.Take(ipKey, now)
	l.account.Take(acctKey, now)
	return loginAttempt{l: l, ip: ipKey, account: acctKey}, nil
}

// done settles the attempt with the result of its check (see
// Logins.Attempt): a success gives the failure tokens back and takes one
// of the account's successes; a wrong password keeps them; anything else
// checked nothing and gives them back.
func (a loginAttempt) done(err error) {
	switch {
	case err == nil, errors.Is(err, core.ErrTooManyDevices): // the password was right
		a.refund()
		if l := a.l; l != nil && l.success != nil {
			l.mu.Lock()
			// Several successes that passed take together may leave the
			// bucket below zero: later attempts then wait longer.
			l.success.Take(a.account, l.now())
			l.mu.Unlock()
		}
	case errors.Is(err, core.ErrUnauthorized):
	default:
		a.refund()
	}
}

// refund gives the attempt's failure tokens back (the login succeeded, or
// failed before any password was checked).
func (a loginAttempt) refund() {
	l := a.l
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.ip.Refund(a.ip, now)
	l.account.Refund(a.account, now)
}

// accountKey bounds the key of an account name: no valid user id is longer
// than core.MaxIDLen, so longer names share keys with their prefix.
func accountKey(name string) string {
	if len(name) > core.MaxIDLen+1 {
		return name[:core.MaxIDLen+1]
	}
	return name
}

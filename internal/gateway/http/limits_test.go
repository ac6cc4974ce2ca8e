package httpapi

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/ratelimit"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLoginLimiterPerAccountRefillsAndRetryAfter(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLoginLimiter(100, 2, clk.now)
	for i := range 2 {
		if _, err := l.take(fmt.Sprintf("10.0.0.%d", i), "alice"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := l.take("10.0.0.9", "alice")
	var rl *rateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, core.ErrRateLimited) {
		t.Fatalf("third attempt: %v, want a rate-limit error", err)
	}
	// Two per minute: one token every 30 s.
	if rl.seconds() != 30 {
		t.Errorf("Retry-After %d s, want 30", rl.seconds())
	}
	if rl.by != "account" || !rl.first {
		t.Errorf("first refusal: by %q first %v, want account, true", rl.by, rl.first)
	}
	if _, err := l.take("10.0.0.9", "alice"); !errors.As(err, &rl) || rl.first {
		t.Errorf("second refusal: %v first %v, want a refusal not marked first", err, rl.first)
	}
	if _, err := l.take("10.0.0.9", "bob"); err != nil {
		t.Errorf("another account: %v", err)
	}
	clk.advance(29 * time.Second)
	if _, err := l.take("10.0.0.9", "alice"); !errors.As(err, &rl) || rl.seconds() != 1 {
		t.Fatalf("after 29 s: %v, want a refusal with Retry-After 1", err)
	}
	clk.advance(time.Second)
	if _, err := l.take("10.0.0.9", "alice"); err != nil {
		t.Fatalf("after 30 s: %v", err)
	}
	if _, err := l.take("10.0.0.9", "alice"); !errors.As(err, &rl) || !rl.first {
		t.Errorf("refusal after an allowed attempt: %v first %v, want first", err, rl.first)
	}
}

func TestLoginLimiterPerAddressAndRefund(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLoginLimiter(3, 100, clk.now)
	var last loginAttempt
	for i := range 3 {
		a, err := l.take("192.0.2.1", fmt.Sprintf("user%d", i))
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		last = a
	}
	if _, err := l.take("192.0.2.1", "fresh"); err == nil {
		t.Fatal("fourth attempt from one address was allowed")
	}
	if _, err := l.take("192.0.2.2", "fresh"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// A success gives its token back, and refunds never overfill.
	last.refund()
	if _, err := l.take("192.0.2.1", "x"); err != nil {
		t.Fatalf("after a refund: %v", err)
	}
	clk.advance(time.Hour)
	for range 5 {
		last.refund()
	}
	for i := range 3 {
		if _, err := l.take("192.0.2.1", "y"+fmt.Sprint(i)); err != nil {
			t.Fatalf("attempt %d after an hour: %v", i, err)
		}
	}
	if _, err := l.take("192.0.2.1", "z"); err == nil {
		t.Fatal("refunds overfilled the bucket")
	}
	// A refused attempt takes nothing: its zero value refunds nothing.
	loginAttempt{}.refund()
}

func TestLoginLimiterBoundedMemory(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLoginLimiter(10, 10, clk.now)
	for i := range ratelimit.MaxKeys {
		if _, err := l.take("192.0.2.1", fmt.Sprint(i)); err != nil && i < 10 {
			t.Fatal(err)
		}
	}
	if n := l.account.Len(); n != ratelimit.MaxKeys {
		t.Fatalf("%d account buckets, want %d", n, ratelimit.MaxKeys)
	}
	// None has refilled: arbitrary ones are forgotten, down to 90%.
	l.take("192.0.2.2", "one-more")
	if n := l.account.Len(); n > ratelimit.MaxKeys*9/10+1 {
		t.Fatalf("%d account buckets after pruning, want at most %d", n, ratelimit.MaxKeys*9/10+1)
	}
	// Once they have refilled, all are forgotten.
	clk.advance(time.Minute)
	for i := 0; l.account.Len() < ratelimit.MaxKeys; i++ {
		l.take(fmt.Sprintf("198.51.100.%d", i%250), fmt.Sprint("b", i))
	}
	clk.advance(time.Minute)
	l.take("192.0.2.3", "last")
	if n := l.account.Len(); n != 1 {
		t.Fatalf("%d account buckets after refilling, want 1", n)
	}
}

func TestCheckQuery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		query   string
		allowed []string
		field   string // "" means accepted
	}{
		{"", nil, ""},
		{"limit=5&before=3", []string{"before", "after", "limit"}, ""},
		{"limit=", []string{"limit"}, ""},
		{"sort=x", []string{"limit"}, "sort"},
		{"b=1&a=2", nil, "a"},
		{"limit=1&limit=2", []string{"limit"}, "limit"},
		{"limit=1;x=2", []string{"limit", "x"}, "query"},
		{"limit=%zz", []string{"limit"}, "query"},
		{"=1", []string{"limit"}, "query"},
		{fmt.Sprintf("%0100d=1", 0), []string{"limit"}, "query"},
	} {
		r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
		err := checkQuery(r, tt.allowed)
		var fe *core.FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("?%s: %v, want accepted", tt.query, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("?%s: %v, want a field error on %q", tt.query, err, tt.field)
		}
	}
}

func TestCredentialParam(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]bool{
		"access_token=x": true, "ACCESS_TOKEN=x": true, "a=1&token=x": true, "a=1;jwt=x": true,
		"access%5Ftoken=x": true, "api_key": true, "limit=5": false, "tokens=x": false, "": false, "x=access_token": false,
	} {
		r := httptest.NewRequest("GET", "/v1/me", nil)
		r.URL.RawQuery = q
		if _, got := credentialParam(r); got != want {
			t.Errorf("?%s: %v, want %v", q, got, want)
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	t.Parallel()
	list := []string{"https://app.example", "http://localhost:3000/"}
	for origin, want := range map[string]bool{
		"https://app.example": true, "HTTPS://APP.EXAMPLE": true, "http://localhost:3000": true,
		"http://app.example": false, "https://app.example:8443": false, "https://app.example.evil": false,
		"null": false, "": false, "https://evil.example": false, "file:///etc": false,
	} {
		if got := originAllowed(list, origin); got != want {
			t.Errorf("originAllowed(%q) = %v, want %v", origin, got, want)
		}
	}
	if !originAllowed([]string{"*"}, "https://any.example") || originAllowed([]string{"*"}, "null") {
		t.Error(`"*" must allow any http(s) origin and not "null"`)
	}
	if originAllowed(nil, "https://app.example") {
		t.Error("an empty list allowed an origin")
	}
}

package ratelimit

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLimiterBurstRefillAndWait(t *testing.T) {
	t.Parallel()
	clk := newClock()
	// 2 per second, bursts of 5.
	l := NewLimiter(2, time.Second, 5, clk.now)
	for i := range 5 {
		if w := l.Allow("alice"); w != 0 {
			t.Fatalf("attempt %d refused (wait %v) within the burst", i, w)
		}
	}
	if w := l.Allow("alice"); w != 500*time.Millisecond {
		t.Fatalf("past the burst: wait %v, want 500ms", w)
	}
	if w := l.Allow("bob"); w != 0 {
		t.Fatalf("another key refused: %v", w)
	}
	clk.advance(400 * time.Millisecond)
	if w := l.Allow("alice"); w != 100*time.Millisecond {
		t.Fatalf("after 400ms: wait %v, want 100ms", w)
	}
	clk.advance(100 * time.Millisecond)
	if w := l.Allow("alice"); w != 0 {
		t.Fatalf("after 500ms: wait %v, want a token", w)
	}
	// A long pause refills up to the burst, not beyond.
	clk.advance(time.Hour)
	for i := range 5 {
		if w := l.Allow("alice"); w != 0 {
			t.Fatalf("after an hour, attempt %d refused", i)
		}
	}
	if w := l.Allow("alice"); w == 0 {
		t.Fatal("the bucket filled beyond its burst")
	}
}

func TestBucketsRefuseAndRefund(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBuckets(1, time.Minute, 1)
	now := clk.now()
	if b.Wait("k", now) != 0 {
		t.Fatal("a new bucket is not full")
	}
	b.Take("k", now)
	if w := b.Wait("k", now); w != time.Minute {
		t.Fatalf("empty bucket: wait %v, want 1m", w)
	}
	if !b.Refuse("k", now) || b.Refuse("k", now) {
		t.Fatal("only the first refusal since an allowed attempt is first")
	}
	b.Refund("k", now)
	if b.Wait("k", now) != 0 {
		t.Fatal("a refund did not give the token back")
	}
	b.Refund("k", now)
	b.Take("k", now)
	if b.Wait("k", now) == 0 {
		t.Fatal("refunds overfilled the bucket")
	}
	if b.Refuse("k", now) != true {
		t.Fatal("a refusal after an allowed attempt is first again")
	}
	b.Refund("never-seen", now)
	if b.Len() != 1 {
		t.Fatalf("a refund remembered a key: %d keys", b.Len())
	}
}

func TestBucketsBoundedMemory(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBuckets(10, time.Minute, 10)
	b.maxKeys = 1000
	for i := range 1000 {
		b.Take(fmt.Sprint(i), clk.now())
	}
	if b.Len() != 1000 {
		t.Fatalf("%d keys, want 1000", b.Len())
	}
	// None has refilled: arbitrary ones are forgotten, down to 90%.
	b.Wait("one-more", clk.now())
	if n := b.Len(); n > 901 {
		t.Fatalf("%d keys after pruning, want at most 901", n)
	}
	// Once they have refilled, all are forgotten.
	clk.advance(time.Minute)
	for i := 0; b.Len() < 1000; i++ {
		b.Take(fmt.Sprint("b", i), clk.now())
	}
	clk.advance(time.Minute)
	b.Wait("last", clk.now())
	if n := b.Len(); n != 1 {
		t.Fatalf("%d keys after refilling, want 1", n)
	}
}

func TestFlappingBansAndExpires(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := NewFlapping(3, time.Minute, 5*time.Minute, clk.now)
	for i := range 3 {
		if w := f.Connect("alice/phone"); w != 0 {
			t.Fatalf("connect %d refused", i)
		}
		clk.advance(time.Second)
	}
	if w := f.Connect("alice/phone"); w != 5*time.Minute {
		t.Fatalf("fourth connect within a minute: %v, want a 5m ban", w)
	}
	if w := f.Connect("alice/tablet"); w != 0 {
		t.Fatal("another key was refused")
	}
	clk.advance(4 * time.Minute)
	if w := f.Connect("alice/phone"); w != time.Minute {
		t.Fatalf("during the ban: %v, want the remaining 1m", w)
	}
	clk.advance(time.Minute)
	// The ban is over, and the count starts from zero.
	for i := range 3 {
		if w := f.Connect("alice/phone"); w != 0 {
			t.Fatalf("after the ban, connect %d refused (%v)", i, w)
		}
	}
	if w := f.Connect("alice/phone"); w == 0 {
		t.Fatal("the fourth connect after the ban was allowed")
	}
}

func TestFlappingSlidingWindow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := NewFlapping(4, time.Minute, time.Minute, clk.now)
	// Steady connects below the limit are never banned (the estimate
	// assumes the previous window's connects were spread evenly, so a
	// client connecting steadily at exactly the limit may be banned).
	for i := range 100 {
		if w := f.Connect("steady"); w != 0 {
			t.Fatalf("steady connect %d (every 20s, 3 per minute) was refused", i)
		}
		clk.advance(20 * time.Second)
	}
	// Four at the end of one window and a fifth just after it begins the
	// next: five within a few seconds, across the window boundary.
	clk2 := newClock()
	g := NewFlapping(4, time.Minute, time.Minute, clk2.now)
	g.Connect("k") // starts the window
	clk2.advance(57 * time.Second)
	for range 3 {
		if w := g.Connect("k"); w != 0 {
			t.Fatal("refused within the limit")
		}
	}
	clk2.advance(4 * time.Second) // in the next window
	if w := g.Connect("k"); w == 0 {
		t.Fatal("a fifth connect within seconds of four was allowed because it fell in the next window")
	}
}

func TestFlappingBoundedMemory(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := NewFlapping(1, time.Minute, time.Hour, clk.now)
	f.maxKeys = 1000
	f.Connect("banned")
	f.Connect("banned") // banned for an hour
	for i := 0; f.Len() < 1000; i++ {
		f.Connect(fmt.Sprint(i))
	}
	f.Connect("one-more")
	if n := f.Len(); n > 901 {
		t.Fatalf("%d keys after pruning, want at most 901", n)
	}
	if w := f.Connect("banned"); w == 0 {
		t.Fatal("pruning forgot a ban while unbanned keys could go")
	}
	// Quiet keys are forgotten first.
	clk.advance(2 * time.Minute)
	for i := 0; f.Len() < 1000; i++ {
		f.Connect(fmt.Sprint("b", i))
	}
	clk.advance(2 * time.Minute)
	f.Connect("last")
	if n := f.Len(); n != 2 {
		t.Fatalf("%d keys after they went quiet, want 2 (the ban and the last)", n)
	}
}

func TestIPGate(t *testing.T) {
	t.Parallel()
	clk := newClock()
	g := NewIPGate(ConnLimits{PerIP: 2, PerIPPerMinute: 4, FlappingPerMinute: 6, Ban: time.Minute}, clk.now)
	limit := func(err error) string {
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrLimited) || e.RetryAfter <= 0 {
			t.Fatalf("refusal %v is not a limit error with a wait", err)
		}
		return e.Limit
	}
	r1, err := g.Admit("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.Admit("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	// Concurrency: a third open connection is refused; the attempt counts
	// as a connect attempt (flapping) but takes no rate token.
	if _, err := g.Admit("192.0.2.1"); limit(err) != LimitConnIP {
		t.Fatalf("third open connection: %v", err)
	}
	if _, err := g.Admit("192.0.2.2"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	r1()
	r1() // release is idempotent
	if g.Open("192.0.2.1") != 1 {
		t.Fatalf("open = %d after one release, want 1", g.Open("192.0.2.1"))
	}
	// Rate: 4 per minute; two were taken.
	r3, err := g.Admit("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	r2()
	r3()
	r4, err := g.Admit("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	r4()
	if _, err := g.Admit("192.0.2.1"); limit(err) != LimitConnRate {
		t.Fatalf("fifth new connection in a minute: %v", err)
	}
	if g.Open("192.0.2.1") != 0 {
		t.Fatal("a refused connection stayed counted as open")
	}
	// Flapping: that was the sixth attempt; the seventh bans.
	if _, err := g.Admit("192.0.2.1"); limit(err) != LimitFlapping {
		t.Fatalf("seventh attempt in a minute: %v", err)
	}
	clk.advance(59 * time.Second)
	if _, err := g.Admit("192.0.2.1"); limit(err) != LimitFlapping {
		t.Fatalf("during the ban: %v", err)
	}
	clk.advance(time.Second)
	if r, err := g.Admit("192.0.2.1"); err != nil {
		t.Fatalf("after the ban: %v", err)
	} else {
		r()
	}
	var nilGate *IPGate
	if r, err := nilGate.Admit("x"); err != nil {
		t.Fatal(err)
	} else {
		r()
	}
}

func TestErrorRetryRounding(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d       time.Duration
		ms, sec int64
	}{
		{time.Nanosecond, 1, 1},
		{999 * time.Millisecond, 999, 1},
		{time.Second, 1000, 1},
		{time.Second + time.Microsecond, 1001, 2},
		{5 * time.Minute, 300_000, 300},
	} {
		e := &Error{RetryAfter: tt.d}
		if e.RetryAfterMillis() != tt.ms || int64(e.RetryAfterSeconds()) != tt.sec {
			t.Errorf("%v: %d ms %d s, want %d ms %d s", tt.d, e.RetryAfterMillis(), e.RetryAfterSeconds(), tt.ms, tt.sec)
		}
	}
}

package ratelimit

import (
	"testing"
	"time"
)

// TestLimiterAllowNAndReturnN: an attempt of n tokens is allowed whole
// or refused whole, says how long until n are there, and tokens given back
// count again (never above the burst).
func TestLimiterAllowNAndReturnN(t *testing.T) {
	t.Parallel()
	clk := newClock()
	// 10 per second, bursts of 100.
	l := NewLimiter(10, time.Second, 100, clk.now)
	if w := l.AllowN("alice", 60); w != 0 {
		t.Fatalf("60 of a full 100 refused (wait %v)", w)
	}
	// 40 left: 50 is refused whole, and takes nothing.
	if w := l.AllowN("alice", 50); w != time.Second {
		t.Fatalf("50 of 40 left: wait %v, want 1s (10 more at 10/s)", w)
	}
	if w := l.AllowN("alice", 40); w != 0 {
		t.Fatalf("the 40 left refused after a refusal (wait %v): the refusal took tokens", w)
	}
	if w := l.Allow("alice"); w != 100*time.Millisecond {
		t.Fatalf("empty bucket: wait %v, want 100ms", w)
	}
	l.ReturnN("alice", 30)
	if w := l.AllowN("alice", 30); w != 0 {
		t.Fatalf("30 given back, then refused (wait %v)", w)
	}
	l.ReturnN("alice", 1000)
	if w := l.AllowN("alice", 100); w != 0 {
		t.Fatalf("a full bucket refused its burst (wait %v)", w)
	}
	l.ReturnN("alice", 1000) // never above the burst
	if w := l.AllowN("alice", 101); w == 0 {
		t.Fatal("101 allowed from a bucket of 100")
	}
	if w := l.AllowN("alice", 100); w != 0 {
		t.Fatalf("a full bucket refused its burst after refusing more (wait %v)", w)
	}
	if w := l.AllowN("bob", 0); w != 0 {
		t.Fatalf("nothing asked, wait %v", w)
	}
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHashes makes v's checks cheap and counted: the stored hash of
// password p is "H:"+p.
func fakeHashes(v *Verifier) *atomic.Int64 {
	var n atomic.Int64
	v.check = func(hash, password string) bool {
		n.Add(1)
		return hash != "" && hash == "H:"+password
	}
	return &n
}

// gate makes v's checks block until release is closed, counting those
// running at once.
type gate struct {
	release  chan struct{}
	running  atomic.Int64
	most     atomic.Int64
	finished atomic.Int64
}

func blockHashes(v *Verifier) *gate {
	g := &gate{release: make(chan struct{})}
	v.check = func(hash, password string) bool {
		n := g.running.Add(1)
		for {
			m := g.most.Load()
			if n <= m || g.most.CompareAndSwap(m, n) {
				break
			}
		}
		<-g.release
		g.running.Add(-1)
		g.finished.Add(1)
		return hash == "H:"+password
	}
	return g
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestVerifierBoundsConcurrentHashes(t *testing.T) {
	t.Parallel()
	v := NewVerifier(VerifierOptions{Concurrency: 2, Wait: time.Minute})
	g := blockHashes(v)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			// Distinct users: no check can be answered from the cache.
			if ok, err := v.Check(context.Background(), fmt.Sprint("u", i), "H:pw", "pw"); !ok || err != nil {
				t.Errorf("check %d = %v, %v", i, ok, err)
			}
		})
	}
	waitUntil(t, "two checks running", func() bool { return g.running.Load() == 2 })
	close(g.release)
	wg.Wait()
	if m := g.most.Load(); m != 2 {
		t.Fatalf("%d checks ran at once, want at most (and here exactly) 2", m)
	}
	if f := g.finished.Load(); f != 10 {
		t.Fatalf("%d checks hashed, want 10", f)
	}
}

func TestVerifierBusy(t *testing.T) {
	t.Parallel()
	v := NewVerifier(VerifierOptions{Concurrency: 1, Wait: 20 * time.Millisecond})
	var outcomes sync.Map
	v.obs = func(o Outcome) {
		n, _ := outcomes.LoadOrStore(o, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	g := blockHashes(v)
	done := make(chan error, 1)
	go func() {
		_, err := v.Check(context.Background(), "alice", "H:pw", "pw")
		done <- err
	}()
	waitUntil(t, "the first check to hold the slot", func() bool { return g.running.Load() == 1 })

	// The slot stays taken past the wait: busy, and nothing was hashed.
	if ok, err := v.Check(context.Background(), "bob", "H:pw", "pw"); ok || !errors.Is(err, ErrBusy) {
		t.Fatalf("check while the only slot is taken = %v, %v; want ErrBusy", ok, err)
	}
	// A context that ends first ends the wait, also with ErrBusy.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v.wait = time.Hour
	if _, err := v.Check(ctx, "bob", "H:pw", "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("check with an ended context = %v, want ErrBusy", err)
	}
	if _, err := v.Hash(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("hash with an ended context = %v, want ErrBusy", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("first check: %v", err)
	}
	if g.finished.Load() != 1 {
		t.Fatalf("%d checks hashed, want 1", g.finished.Load())
	}
	for o, want := range map[Outcome]int64{Hashed: 1, Busy: 2} {
		n, _ := outcomes.Load(o)
		if n == nil || n.(*atomic.Int64).Load() != want {
			t.Errorf("outcome %s observed %v times, want %d", o, n, want)
		}
	}
	// The slot is free again: a check waits no more.
	if ok, err := v.Check(context.Background(), "bob", "H:pw", "pw"); !ok || err != nil {
		t.Fatalf("check after the slot was freed = %v, %v", ok, err)
	}
}

func TestVerifierRemembersSuccesses(t *testing.T) {
	t.Parallel()
	v := NewVerifier(VerifierOptions{})
	hashes := fakeHashes(v)
	ctx := context.Background()
	check := func(step, user, hash, password string, want bool, wantHashes int64) {
		t.Helper()
		ok, err := v.Check(ctx, user, hash, password)
		if err != nil || ok != want {
			t.Fatalf("%s: check = %v, %v; want %v", step, ok, err, want)
		}
		if n := hashes.Load(); n != wantHashes {
			t.Fatalf("%s: %d hashes so far, want %d", step, n, wantHashes)
		}
	}
	check("first login", "alice", "H:old", "old", true, 1)
	check("reconnect", "alice", "H:old", "old", true, 1)
	check("reconnect again", "alice", "H:old", "old", true, 1)
	check("wrong password", "alice", "H:old", "guess", false, 2)
	check("still remembered after a wrong guess", "alice", "H:old", "old", true, 2)
	check("another user, same password", "bob", "H:old", "old", true, 3)
	// The password changes: the stored hash is part of the entry, so the
	// old password no longer matches from the cache (and hashes, and fails).
	check("old password after a change", "alice", "H:new", "old", false, 4)
	check("new password", "alice", "H:new", "new", true, 5)
	check("new password remembered", "alice", "H:new", "new", true, 5)
	v.Forget("alice")
	check("after Forget", "alice", "H:new", "new", true, 6)
	// No password (an unknown user): never a match, never remembered.
	check("no stored hash", "carol", "", "", false, 7)
	check("no stored hash again", "carol", "", "", false, 8)
}

func TestVerifierCacheIsBounded(t *testing.T) {
	t.Parallel()
	v := NewVerifier(VerifierOptions{CacheSize: 3})
	fakeHashes(v)
	for i := range 10 {
		if ok, _ := v.Check(context.Background(), fmt.Sprint("u", i), "H:pw", "pw"); !ok {
			t.Fatalf("check u%d failed", i)
		}
	}
	if n := v.Len(); n != 3 {
		t.Fatalf("%d entries remembered, want 3 (the bound)", n)
	}
	off := NewVerifier(VerifierOptions{CacheSize: -1})
	offHashes := fakeHashes(off)
	for range 2 {
		_, _ = off.Check(context.Background(), "alice", "H:pw", "pw")
	}
	if offHashes.Load() != 2 || off.Len() != 0 {
		t.Fatalf("cache off: %d hashes, %d entries; want 2, 0", offHashes.Load(), off.Len())
	}
}

func TestVerifierWithArgon2(t *testing.T) {
	t.Parallel()
	v := NewVerifier(VerifierOptions{})
	h, err := v.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{{"correct horse", true}, {"correct horse", true}, {"wrong", false}} {
		if ok, err := v.Check(context.Background(), "alice", h, tt.password); ok != tt.want || err != nil {
			t.Fatalf("Check(%q) = %v, %v; want %v", tt.password, ok, err, tt.want)
		}
	}
	// Two keyed Verifiers never agree on an entry: the key is per process
	// (here, per Verifier).
	if a, b := NewVerifier(VerifierOptions{}).mac("u", h, "p"), v.mac("u", h, "p"); a == b {
		t.Fatal("two verifiers computed the same MAC: the key is not random")
	}
}

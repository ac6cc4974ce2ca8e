package bustest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bus"
)

// WaitTimeout bounds every wait of the suite: for a delivery, for a barrier,
// for Run to return.
const WaitTimeout = 10 * time.Second

// pollInterval is how often a wait rechecks its condition.
const pollInterval = 2 * time.Millisecond

// runID keeps topic names of concurrent test processes apart when their
// buses share a broker; topicSeq keeps them apart within one process.
var (
	runID    = strconv.FormatInt(time.Now().UnixNano(), 36)
	topicSeq atomic.Uint64
)

// Topic returns a topic name unique to this process and call, shaped like a
// conversation topic ("c.<id>"), so tests sharing a broker do not see each
// other's messages.
func Topic(name string) string {
	return fmt.Sprintf("c.bustest-%s-%d-%s", runID, topicSeq.Add(1), name)
}

// Eventually polls cond until it holds, failing the test with what after
// WaitTimeout. It is the suite's only way to wait: no fixed sleeps.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", WaitTimeout, what)
		}
		time.Sleep(pollInterval)
	}
}

// Recorder runs a bus's Run loop in the background and records every
// message the handler receives. It also checks that the handler is never
// called concurrently, as bus.Handler promises.
type Recorder struct {
	Bus bus.Bus

	mu      sync.Mutex
	got     []bus.Message
	inside  atomic.Int32
	overlap atomic.Bool
	cancel  context.CancelFunc
	done    chan error
}

// Start creates a bus with newBus and starts its Run loop. Cleanup stops Run
// (cancel, then Close), fails the test if Run does not return within
// WaitTimeout, and reports concurrent handler calls.
func Start(t *testing.T, newBus func(t *testing.T) bus.Bus) *Recorder {
	t.Helper()
	r := &Recorder{Bus: newBus(t), done: make(chan error, 1)}
	t.Cleanup(func() { _ = r.Bus.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.Bus.Run(ctx, r.handle) }()
	t.Cleanup(func() {
		r.cancel()
		_ = r.Bus.Close()
		select {
		case <-r.done:
		case <-time.After(WaitTimeout):
			t.Errorf("Run did not return within %v of cancel and Close", WaitTimeout)
		}
		if r.overlap.Load() {
			t.Errorf("handler was called concurrently")
		}
	})
	return r
}

func (r *Recorder) handle(m bus.Message) {
	if r.inside.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.inside.Add(-1)
	r.mu.Lock()
	r.got = append(r.got, bus.Message{Topic: m.Topic, Data: bytes.Clone(m.Data)})
	r.mu.Unlock()
}

// Received returns the payloads received on topic, in arrival order.
func (r *Recorder) Received(topic string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, m := range r.got {
		if m.Topic == topic {
			out = append(out, m.Data)
		}
	}
	return out
}

// Count returns how many messages arrived on topic.
func (r *Recorder) Count(topic string) int { return len(r.Received(topic)) }

// Subscribe subscribes topic, failing the test on error.
func (r *Recorder) Subscribe(t testing.TB, topic string) {
	t.Helper()
	if err := r.Bus.Subscribe(context.Background(), topic); err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
}

// Unsubscribe drops one count of topic, failing the test on error.
func (r *Recorder) Unsubscribe(t testing.TB, topic string) {
	t.Helper()
	if err := r.Bus.Unsubscribe(context.Background(), topic); err != nil {
		t.Fatalf("Unsubscribe(%q): %v", topic, err)
	}
}

// Publish publishes data on topic, failing the test on error.
func (r *Recorder) Publish(t testing.TB, topic string, data []byte) {
	t.Helper()
	if err := r.Bus.Publish(context.Background(), bus.Message{Topic: topic, Data: data}); err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
}

// WaitCount waits until at least n messages arrived on topic.
func (r *Recorder) WaitCount(t testing.TB, topic string, n int) {
	t.Helper()
	Eventually(t, fmt.Sprintf("%d messages on %s", n, topic), func() bool { return r.Count(topic) >= n })
}

// Barrier publishes a marker on a topic of its own, subscribed for the
// purpose, and waits for it. Messages the same publisher sent before the
// barrier have then been delivered, or will not be: a bus delivers one
// node's messages through one ordered stream (the in-process queue, the
// node's broker queue), which is what the "not delivered" checks rely on.
func (r *Recorder) Barrier(t testing.TB) {
	t.Helper()
	topic := Topic("barrier")
	r.Subscribe(t, topic)
	r.Publish(t, topic, []byte("barrier"))
	r.WaitCount(t, topic, 1)
	r.Unsubscribe(t, topic)
}

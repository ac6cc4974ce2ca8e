package bustest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bus"
)

// Run runs the conformance suite of bus.Bus against buses made by newBus,
// one or more per subtest. newBus must return a bus that is open and not yet
// running; the suite calls Run and Close itself (the factory may register
// its own cleanup too, since Close is idempotent). Subtests run in parallel
// and use topics from Topic, so buses sharing one broker do not interfere.
//
// The suite publishes at most a few thousand messages at a time and expects
// all of them: a bus may lose messages under overload, not at this rate.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	t.Run("Delivery", func(t *testing.T) { t.Parallel(); testDelivery(t, newBus) })
	t.Run("UnsubscribedNotDelivered", func(t *testing.T) { t.Parallel(); testUnsubscribed(t, newBus) })
	t.Run("SubscriptionCounting", func(t *testing.T) { t.Parallel(); testCounting(t, newBus) })
	t.Run("OrderPerTopic", func(t *testing.T) { t.Parallel(); testOrder(t, newBus) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { t.Parallel(); testConcurrent(t, newBus) })
	t.Run("RunStopsOnCancel", func(t *testing.T) { t.Parallel(); testRunStopsOnCancel(t, newBus) })
	t.Run("RunStopsOnClose", func(t *testing.T) { t.Parallel(); testRunStopsOnClose(t, newBus) })
	t.Run("CloseTwice", func(t *testing.T) { t.Parallel(); testCloseTwice(t, newBus) })
	t.Run("PublishAfterClose", func(t *testing.T) { t.Parallel(); testPublishAfterClose(t, newBus) })
}

// testDelivery: a message on a subscribed topic arrives with the same topic
// and the same bytes, whatever the bytes are.
func testDelivery(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	r := Start(t, newBus)
	topic := Topic("delivery")
	r.Subscribe(t, topic)
	payloads := [][]byte{
		[]byte(`{"seq":1,"body":"hello"}`),
		{},
		{0x00, 0xff, 0xfe, '\n', 0x00},
		[]byte("héllo 👋 \u202e"),
		bytes.Repeat([]byte("0123456789abcdef"), 4096), // 64 KiB
	}
	for _, p := range payloads {
		r.Publish(t, topic, p)
	}
	r.WaitCount(t, topic, len(payloads))
	got := r.Received(topic)
	if len(got) != len(payloads) {
		t.Fatalf("received %d messages, want %d", len(got), len(payloads))
	}
	for i := range payloads {
		if !bytes.Equal(got[i], payloads[i]) {
			t.Errorf("message %d: got %d bytes %.40q, want %d bytes %.40q", i, len(got[i]), got[i], len(payloads[i]), payloads[i])
		}
	}
}

// testUnsubscribed: topics never subscribed, or subscribed and dropped
// again, are not delivered; unsubscribing an unknown topic is a no-op.
func testUnsubscribed(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	r := Start(t, newBus)
	never, dropped := Topic("never"), Topic("dropped")
	if err := r.Bus.Unsubscribe(context.Background(), never); err != nil {
		t.Fatalf("Unsubscribe of a topic never subscribed: %v", err)
	}
	r.Subscribe(t, dropped)
	r.Unsubscribe(t, dropped)
	r.Publish(t, never, []byte("x"))
	r.Publish(t, dropped, []byte("y"))
	r.Barrier(t)
	if n := r.Count(never); n != 0 {
		t.Errorf("received %d messages on a topic never subscribed", n)
	}
	if n := r.Count(dropped); n != 0 {
		t.Errorf("received %d messages on an unsubscribed topic", n)
	}
}

// testCounting: two Subscribes need two Unsubscribes.
func testCounting(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	r := Start(t, newBus)
	topic := Topic("counted")
	r.Subscribe(t, topic)
	r.Subscribe(t, topic)
	r.Unsubscribe(t, topic)
	r.Publish(t, topic, []byte("still subscribed"))
	r.WaitCount(t, topic, 1)

	r.Unsubscribe(t, topic)
	r.Publish(t, topic, []byte("unsubscribed"))
	r.Barrier(t)
	if got := r.Received(topic); len(got) != 1 || string(got[0]) != "still subscribed" {
		t.Errorf("after the second Unsubscribe: received %q, want only %q", got, "still subscribed")
	}

	// A new Subscribe starts from zero again: one Unsubscribe ends it.
	r.Subscribe(t, topic)
	r.Publish(t, topic, []byte("again"))
	r.WaitCount(t, topic, 2)
	r.Unsubscribe(t, topic)
	r.Publish(t, topic, []byte("gone"))
	r.Barrier(t)
	if n := r.Count(topic); n != 2 {
		t.Errorf("received %d messages, want 2", n)
	}
}

// testOrder: messages of one topic arrive in publish order, also when the
// publishes of several topics interleave.
func testOrder(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	const n = 500
	r := Start(t, newBus)
	topics := []string{Topic("order-a"), Topic("order-b"), Topic("order-c")}
	for _, topic := range topics {
		r.Subscribe(t, topic)
	}
	for i := range n {
		for _, topic := range topics {
			r.Publish(t, topic, []byte(strconv.Itoa(i)))
		}
	}
	for _, topic := range topics {
		r.WaitCount(t, topic, n)
		checkSequence(t, topic, r.Received(topic), "", n)
	}
}

// testConcurrent: publishers on several goroutines, one topic each; every
// topic keeps its publisher's order and the handler is never re-entered.
func testConcurrent(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	const publishers, n = 4, 250
	r := Start(t, newBus)
	topics := make([]string, publishers)
	for p := range topics {
		topics[p] = Topic(fmt.Sprintf("concurrent-%d", p))
		r.Subscribe(t, topics[p])
	}
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for i := range n {
				m := bus.Message{Topic: topics[p], Data: []byte(fmt.Sprintf("%d:%d", p, i))}
				if err := r.Bus.Publish(context.Background(), m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	for p, topic := range topics {
		r.WaitCount(t, topic, n)
		checkSequence(t, topic, r.Received(topic), fmt.Sprintf("%d:", p), n)
	}
}

// checkSequence checks that got is prefix+"0" … prefix+"n-1" in order.
func checkSequence(t *testing.T, topic string, got [][]byte, prefix string, n int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("%s: received %d messages, want %d", topic, len(got), n)
		return
	}
	for i, data := range got {
		if want := prefix + strconv.Itoa(i); string(data) != want {
			t.Errorf("%s: message %d is %q, want %q (order broken)", topic, i, data, want)
			return
		}
	}
}

// waitReturn waits for Run's result on done, failing after WaitTimeout.
func waitReturn(t *testing.T, done <-chan error, after string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Logf("Run returned %v after %s", err, after)
		}
	case <-time.After(WaitTimeout):
		t.Fatalf("Run did not return within %v after %s", WaitTimeout, after)
	}
}

func testRunStopsOnCancel(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	b := newBus(t)
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, func(bus.Message) {}) }()
	cancel()
	waitReturn(t, done, "ctx was cancelled")
}

func testRunStopsOnClose(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	b := newBus(t)
	t.Cleanup(func() { _ = b.Close() })
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background(), func(bus.Message) {}) }()
	if err := b.Subscribe(context.Background(), Topic("close")); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitReturn(t, done, "Close")
}

func testCloseTwice(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	r := Start(t, newBus)
	if err := r.Bus.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := r.Bus.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func testPublishAfterClose(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	r := Start(t, newBus)
	topic := Topic("closed")
	r.Subscribe(t, topic)
	if err := r.Bus.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if err := r.Bus.Publish(ctx, bus.Message{Topic: topic, Data: []byte("late")}); err == nil {
		t.Errorf("Publish on a subscribed topic after Close returned nil, want an error")
	}
	if err := r.Bus.Publish(ctx, bus.Message{Topic: Topic("closed-unsubscribed"), Data: []byte("late")}); err == nil {
		t.Errorf("Publish on an unsubscribed topic after Close returned nil, want an error")
	}
}

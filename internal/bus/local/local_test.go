package local_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/bus/bustest"
	"github.com/parley-im/parley/internal/bus/local"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return local.New() })
}

// publishAll publishes n numbered messages on topic from another goroutine
// and fails the test if that does not finish in time: Publish must never
// block, however slow or absent the handler.
func publishAll(t *testing.T, b *local.Bus, topic string, n int) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := b.Publish(context.Background(), bus.Message{Topic: topic, Data: []byte(strconv.Itoa(i))}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	case <-time.After(bustest.WaitTimeout):
		t.Fatalf("publishing %d messages blocked for %v", n, bustest.WaitTimeout)
	}
}

// TestQueuedBeforeRunAndDropped: messages published before Run wait in the
// queue; past QueueLen they are dropped and counted, and the rest arrive in
// order once Run starts.
func TestQueuedBeforeRunAndDropped(t *testing.T) {
	t.Parallel()
	const extra = 10
	b := local.New()
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.Subscribe(ctx, "c.t"); err != nil {
		t.Fatal(err)
	}
	publishAll(t, b, "c.t", local.QueueLen+extra)
	if got := b.Dropped(); got != extra {
		t.Fatalf("Dropped() = %d, want %d", got, extra)
	}
	publishAll(t, b, "c.unsubscribed", 2*local.QueueLen)
	if got := b.Dropped(); got != extra {
		t.Fatalf("publishing on an unsubscribed topic changed Dropped() to %d", got)
	}

	got := make(chan bus.Message, local.QueueLen+extra)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = b.Run(ctx, func(m bus.Message) { got <- m })
	}()
	bustest.Eventually(t, "the queued messages", func() bool { return len(got) >= local.QueueLen })
	_ = b.Close()
	<-runDone
	close(got)
	i := 0
	for m := range got {
		if m.Topic != "c.t" || string(m.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d: %s %q, want c.t %q", i, m.Topic, m.Data, strconv.Itoa(i))
		}
		i++
	}
	if i != local.QueueLen {
		t.Fatalf("delivered %d messages, want %d", i, local.QueueLen)
	}
}

// TestSlowHandlerDoesNotBlockPublish: with the handler stuck, Publish keeps
// returning and drops what does not fit.
func TestSlowHandlerDoesNotBlockPublish(t *testing.T) {
	t.Parallel()
	b := local.New()
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.Subscribe(ctx, "c.slow"); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}, 1), make(chan struct{})
	go func() {
		_ = b.Run(ctx, func(bus.Message) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		})
	}()
	publishAll(t, b, "c.slow", 1)
	select {
	case <-entered: // the handler holds the first message
	case <-time.After(bustest.WaitTimeout):
		t.Fatal("handler was not called")
	}
	publishAll(t, b, "c.slow", local.QueueLen+5)
	close(release)
	if got := b.Dropped(); got != 5 {
		t.Fatalf("Dropped() = %d, want 5", got)
	}
}

// TestUnsubscribeDiscardsQueued: a message queued before Run is not
// delivered once its topic's last subscription is gone.
func TestUnsubscribeDiscardsQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := local.New()
	t.Cleanup(func() { _ = b.Close() })
	for _, topic := range []string{"c.q", "c.marker"} {
		if err := b.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	publishAll(t, b, "c.q", 1)
	if err := b.Unsubscribe(ctx, "c.q"); err != nil {
		t.Fatal(err)
	}
	publishAll(t, b, "c.marker", 1)
	var topics []string
	done := make(chan struct{})
	go func() {
		_ = b.Run(ctx, func(m bus.Message) {
			topics = append(topics, m.Topic)
			if m.Topic == "c.marker" {
				close(done)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(bustest.WaitTimeout):
		t.Fatal("marker not delivered")
	}
	if len(topics) != 1 {
		t.Fatalf("delivered %q, want only c.marker", topics)
	}
}

// TestErrors: the sentinels returned after Close and on a second Run.
func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	b := local.New()
	if err := b.Run(cancelled, func(bus.Message) {}); err != nil {
		t.Errorf("Run with a cancelled context = %v, want nil", err)
	}
	if err := b.Run(ctx, func(bus.Message) {}); !errors.Is(err, local.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := b.Publish(ctx, bus.Message{Topic: "c.x"}); !errors.Is(err, local.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := b.Subscribe(ctx, "c.x"); !errors.Is(err, local.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := b.Unsubscribe(ctx, "c.x"); !errors.Is(err, local.ErrClosed) {
		t.Errorf("Unsubscribe after Close = %v, want ErrClosed", err)
	}
	if err := local.New().Publish(cancelled, bus.Message{Topic: "c.x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context = %v, want context.Canceled", err)
	}
}

package rabbitmq

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/bus/bustest"
)

// reconnectTimeout bounds the wait for a bus to reconnect once the broker
// is reachable again: a few MaxBackoff periods and a ConnectTimeout.
const reconnectTimeout = 30 * time.Second

// TestTwoNodes: two nodes exchange messages through the broker; each gets
// the topics it subscribed and only those, one copy per node.
func TestTwoNodes(t *testing.T) {
	a := bustest.Start(t, factory)
	b := bustest.Start(t, factory)
	shared, onlyB := bustest.Topic("shared"), bustest.Topic("only-b")
	a.Subscribe(t, shared)
	b.Subscribe(t, shared)
	b.Subscribe(t, onlyB)
	b.Subscribe(t, onlyB) // counted twice: still one binding, one copy

	a.Publish(t, shared, []byte("from a"))
	b.Publish(t, shared, []byte("from b"))
	a.Publish(t, onlyB, []byte("a to b"))
	for _, r := range []*bustest.Recorder{a, b} {
		r.WaitCount(t, shared, 2)
	}
	b.WaitCount(t, onlyB, 1)
	a.Barrier(t)
	b.Barrier(t)
	for name, r := range map[string]*bustest.Recorder{"a": a, "b": b} {
		got := r.Received(shared)
		if len(got) != 2 || !(string(got[0]) == "from a" && string(got[1]) == "from b" || string(got[0]) == "from b" && string(got[1]) == "from a") {
			t.Errorf("node %s received %q on the shared topic, want both messages once", name, got)
		}
	}
	if n := a.Count(onlyB); n != 0 {
		t.Errorf("node a received %d messages on a topic only b subscribed", n)
	}
	if got := b.Received(onlyB); len(got) != 1 {
		t.Errorf("node b received %q, want one copy however often it subscribed", got)
	}
}

// TestBrokerRestart stops the broker in the middle of cross-node traffic.
// During the outage Publish fails at once, Subscribe and Unsubscribe are
// counted, and Close is prompt. When the broker is back both nodes
// reconnect by themselves, their subscriptions (those made during the
// outage too) are bound again, those dropped stay dropped, and messages
// flow both ways.
func TestBrokerRestart(t *testing.T) {
	a := bustest.Start(t, factory)
	b := bustest.Start(t, factory)
	ba, bb := a.Bus.(*Bus), b.Bus.(*Bus)
	third := newBus(t, nil)
	shared, during, dropped := bustest.Topic("shared"), bustest.Topic("during"), bustest.Topic("dropped")
	a.Subscribe(t, shared)
	b.Subscribe(t, shared)
	b.Subscribe(t, dropped)
	a.Publish(t, shared, []byte("before"))
	b.WaitCount(t, shared, 1)
	a.WaitCount(t, shared, 1)

	t0 := time.Now()
	if err := rmq.StopBroker(); err != nil {
		t.Fatalf("StopBroker: %v", err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := rmq.StartBroker(ctx); err != nil {
				t.Errorf("StartBroker in cleanup: %v", err)
			}
		}
	})
	t.Logf("broker stopped in %v", time.Since(t0))
	waitFor(t, reconnectTimeout, "both buses to notice the broker is gone", func() bool {
		return !ba.Connected() && !bb.Connected()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t1 := time.Now()
	err := ba.Publish(ctx, bus.Message{Topic: shared, Data: []byte("during the outage")})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Publish during the outage = %v, want ErrUnavailable", err)
	}
	if d := time.Since(t1); d > time.Second {
		t.Errorf("Publish during the outage took %v, want an immediate error", d)
	}
	b.Subscribe(t, during)
	b.Unsubscribe(t, dropped)
	t2 := time.Now()
	if err := third.Close(); err != nil {
		t.Errorf("Close during the outage: %v", err)
	}
	if d := time.Since(t2); d > 2*time.Second {
		t.Errorf("Close during the outage took %v", d)
	}
	if err := third.Publish(context.Background(), bus.Message{Topic: shared}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close during the outage = %v, want ErrClosed", err)
	}

	startCtx, startCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer startCancel()
	if err := rmq.StartBroker(startCtx); err != nil {
		t.Fatalf("StartBroker: %v", err)
	}
	restarted = true
	t3 := time.Now()
	waitFor(t, reconnectTimeout, "both buses to reconnect", func() bool {
		return ba.Connected() && bb.Connected()
	})
	t.Logf("outage %v (broker restart %v); both buses connected %v after StartBroker returned (reconnects a=%d b=%d)",
		time.Since(t0).Round(time.Millisecond), rmq.StartupTime().Round(time.Millisecond),
		time.Since(t3).Round(time.Millisecond), ba.Reconnects(), bb.Reconnects())
	if ba.Reconnects() == 0 || bb.Reconnects() == 0 {
		t.Errorf("Reconnects a=%d b=%d, want both above 0", ba.Reconnects(), bb.Reconnects())
	}

	a.Publish(t, shared, []byte("after from a"))
	b.Publish(t, shared, []byte("after from b"))
	a.Publish(t, during, []byte("subscribed during the outage"))
	a.Publish(t, dropped, []byte("unsubscribed during the outage"))
	for _, r := range []*bustest.Recorder{a, b} {
		r.WaitCount(t, shared, 3)
	}
	b.WaitCount(t, during, 1)
	b.Barrier(t)
	if n := b.Count(dropped); n != 0 {
		t.Errorf("b received %d messages on a topic it unsubscribed during the outage", n)
	}
	for name, r := range map[string]*bustest.Recorder{"a": a, "b": b} {
		for _, data := range r.Received(shared) {
			if string(data) == "during the outage" {
				t.Errorf("node %s received the message whose Publish failed", name)
			}
		}
	}
}

// TestRedeliveryAfterConnectionLoss: a delivery whose handler has not
// returned when the connection dies is not acknowledged, so the broker
// delivers it again on the next connection: at least once (the test never
// counts exact repeats). Messages published after the reconnection arrive
// too.
func TestRedeliveryAfterConnectionLoss(t *testing.T) {
	b := newBus(t, nil)
	topic := bustest.Topic("redeliver")
	if err := b.Subscribe(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		got     []string
		entered = make(chan struct{})
		release = make(chan struct{})
		once    sync.Once
	)
	runDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		runDone <- b.Run(ctx, func(m bus.Message) {
			mu.Lock()
			got = append(got, string(m.Data))
			mu.Unlock()
			if string(m.Data) == "held" {
				once.Do(func() {
					close(entered)
					<-release
				})
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		_ = b.Close()
		select {
		case <-runDone:
		case <-time.After(bustest.WaitTimeout):
			t.Errorf("Run did not return")
		}
	})
	count := func(data string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, g := range got {
			if g == data {
				n++
			}
		}
		return n
	}
	pub := func(data string) {
		t.Helper()
		pctx, pcancel := context.WithTimeout(context.Background(), bustest.WaitTimeout)
		defer pcancel()
		if err := b.Publish(pctx, bus.Message{Topic: topic, Data: []byte(data)}); err != nil {
			t.Fatalf("Publish(%q): %v", data, err)
		}
	}

	pub("held")
	select {
	case <-entered:
	case <-time.After(bustest.WaitTimeout):
		t.Fatal("the handler was not called")
	}
	dropConnection(t, b)
	waitFor(t, reconnectTimeout, "the bus to reconnect", func() bool { return b.Reconnects() >= 1 && b.Connected() })
	close(release) // its ack goes to a dead channel
	waitFor(t, bustest.WaitTimeout, "the held message to be delivered again", func() bool { return count("held") >= 2 })
	pub("after")
	waitFor(t, bustest.WaitTimeout, "a message published after the reconnection", func() bool { return count("after") >= 1 })
}

// TestPausedBroker: a broker that accepts TCP but answers nothing (SIGSTOP)
// holds neither Publish beyond its ctx nor Close beyond CloseTimeout; once
// it is resumed, messages flow again.
func TestPausedBroker(t *testing.T) {
	r := bustest.Start(t, factory)
	b := r.Bus.(*Bus)
	closer := newBus(t, nil)
	topic := bustest.Topic("paused")
	r.Subscribe(t, topic)
	r.Publish(t, topic, []byte("before"))
	r.WaitCount(t, topic, 1)

	if err := rmq.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = rmq.Resume()
		}
	})
	// SIGSTOP stops the VM's threads asynchronously: a publish right after
	// Pause may still be confirmed. Every attempt must return within its
	// ctx, and soon none is confirmed.
	waitFor(t, bustest.WaitTimeout, "a Publish to the paused broker to time out", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		err := b.Publish(ctx, bus.Message{Topic: topic, Data: []byte("during the pause")})
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("Publish to a paused broker took %v with a 300ms ctx", d)
		}
		return err != nil
	})
	t1 := time.Now()
	_ = closer.Close()
	if d := time.Since(t1); d > closer.cfg.CloseTimeout+2*time.Second {
		t.Errorf("Close with a paused broker took %v, CloseTimeout is %v", d, closer.cfg.CloseTimeout)
	}
	if err := rmq.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	resumed = true
	// The connection may have survived the pause or been given up by the
	// heartbeat: either way the bus delivers again.
	waitFor(t, reconnectTimeout, "a message after the pause", func() bool {
		if !b.Connected() {
			return false
		}
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		defer pcancel()
		_ = b.Publish(pctx, bus.Message{Topic: topic, Data: []byte("after")})
		for _, d := range r.Received(topic) {
			if bytes.Equal(d, []byte("after")) {
				return true
			}
		}
		return false
	})
}

// TestNewErrors: New refuses a bad configuration, an unreachable broker
// (bounded by ctx), and a node id another running bus holds.
func TestNewErrors(t *testing.T) {
	ctx := context.Background()
	bad := testConfig()
	bad.NodeID = "a b"
	if _, err := New(ctx, bad); err == nil {
		t.Error("New with a node id holding a space succeeded")
	}
	noURL := testConfig()
	noURL.URL = ""
	if _, err := New(ctx, noURL); err == nil {
		t.Error("New without a URL succeeded")
	}

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	down := testConfig()
	down.URL = "amqp://guest:guest@" + addr + "/"
	if _, err := New(ctx, down); err == nil {
		t.Error("New with no broker succeeded")
	}
	// A listener that never answers the handshake: ctx bounds New.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	mute := testConfig()
	mute.URL = "amqp://guest:guest@" + silent.Addr().String() + "/"
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := New(sctx, mute); err == nil {
		t.Error("New with a silent broker succeeded")
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("New with a silent broker and a 300ms ctx took %v", d)
	}

	first := newBus(t, nil)
	same := testConfig()
	same.NodeID = first.cfg.NodeID
	second, err := New(ctx, same)
	if err == nil {
		_ = second.Close()
		t.Fatal("a second bus with the same node id was admitted")
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Errorf("second bus with the node id: %v, want it to say the node id is in use", err)
	}
	if !first.Connected() {
		t.Error("the first bus lost its connection")
	}
}

// TestGoroutinesEndAtClose: after Close (and a reconnection before it),
// every goroutine the bus started has ended.
func TestGoroutinesEndAtClose(t *testing.T) {
	// Warm up whatever a first connection starts once per process.
	_ = newBus(t, nil).Close()
	before := runtime.NumGoroutine()

	b := newBus(t, nil)
	topic := bustest.Topic("leak")
	received := make(chan struct{}, 16)
	runDone := make(chan error, 1)
	go func() {
		runDone <- b.Run(context.Background(), func(bus.Message) { received <- struct{}{} })
	}()
	if err := b.Subscribe(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	roundTrip := func() {
		t.Helper()
		if err := b.Publish(context.Background(), bus.Message{Topic: topic, Data: []byte("x")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		select {
		case <-received:
		case <-time.After(bustest.WaitTimeout):
			t.Fatal("message not received")
		}
	}
	roundTrip()
	dropConnection(t, b)
	waitFor(t, reconnectTimeout, "the bus to reconnect", func() bool { return b.Reconnects() >= 1 && b.Connected() })
	roundTrip()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-runDone:
	case <-time.After(bustest.WaitTimeout):
		t.Fatal("Run did not return after Close")
	}
	deadline := time.Now().Add(bustest.WaitTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Close, %d before the bus:\n%s", runtime.NumGoroutine(), before, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("goroutines: %d before, %d after Close", before, runtime.NumGoroutine())
}

// TestBlockedBroker: while a memory alarm makes the broker block
// publishers (connection.blocked), Publish fails at once with
// ErrUnavailable instead of writing to a socket nobody reads; when the
// alarm clears, publishing works again.
func TestBlockedBroker(t *testing.T) {
	r := bustest.Start(t, factory)
	b := r.Bus.(*Bus)
	topic := bustest.Topic("blocked")
	r.Subscribe(t, topic)
	r.Publish(t, topic, []byte("before"))
	r.WaitCount(t, topic, 1)

	ctx := context.Background()
	if _, err := rmq.Ctl(ctx, "set_vm_memory_high_watermark", "0"); err != nil {
		t.Fatalf("raise a memory alarm: %v", err)
	}
	restored := false
	restore := func() {
		if _, err := rmq.Ctl(ctx, "set_vm_memory_high_watermark", "0.4"); err != nil {
			t.Errorf("clear the memory alarm: %v", err)
		}
		restored = true
	}
	t.Cleanup(func() {
		if !restored {
			restore()
		}
	})
	// The broker blocks a connection when it next publishes; from the
	// notification on, Publish refuses at once.
	var last error
	waitFor(t, bustest.WaitTimeout, "Publish to be refused as blocked", func() bool {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		last = b.Publish(pctx, bus.Message{Topic: topic, Data: []byte("during the alarm")})
		return errors.Is(last, ErrUnavailable) && strings.Contains(last.Error(), "blocks publishing")
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := b.Publish(pctx, bus.Message{Topic: topic, Data: []byte("during the alarm")}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Publish while blocked = %v, want ErrUnavailable", err)
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Errorf("Publish while blocked took %v, want an immediate error", d)
	}
	t.Logf("while blocked: %v", last)
	restore()
	waitFor(t, reconnectTimeout, "a message after the alarm", func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = b.Publish(pctx, bus.Message{Topic: topic, Data: []byte("after")})
		for _, d := range r.Received(topic) {
			if bytes.Equal(d, []byte("after")) {
				return true
			}
		}
		return false
	})
}

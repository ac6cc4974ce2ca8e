package rabbitmq

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/bus/bustest"
	"github.com/parley-im/parley/internal/testinfra/rabbittest"
)

// rmq is the package's broker. Tests that stop, pause or cut it are not
// parallel; only the conformance suite's subtests run in parallel.
var rmq *rabbittest.Server

func TestMain(m *testing.M) {
	os.Exit(rabbittest.Main(m, &rmq, rabbittest.Options{}))
}

var nodeSeq atomic.Uint64

// testConfig is a Config for a new node of its own on the package's broker,
// with short backoffs and heartbeat so that fault tests end quickly. Set
// RABBITMQ_BUS_LOG=1 to see the buses' logs on stderr.
func testConfig() Config {
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("RABBITMQ_BUS_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return Config{
		URL:          rmq.URL(),
		NodeID:       fmt.Sprintf("test-%d-%d", os.Getpid(), nodeSeq.Add(1)),
		Logger:       log,
		MinBackoff:   20 * time.Millisecond,
		MaxBackoff:   500 * time.Millisecond,
		Heartbeat:    2 * time.Second,
		CloseTimeout: time.Second,
	}
}

// newBus connects a bus with cfg (testConfig() when nil) and closes it when
// the test ends.
func newBus(t testing.TB, cfg *Config) *Bus {
	t.Helper()
	c := testConfig()
	if cfg != nil {
		c = *cfg
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// factory is the bustest factory: every bus a node of its own.
func factory(t *testing.T) bus.Bus { return newBus(t, nil) }

// TestConformance runs the bus conformance suite, unchanged, with every bus
// a node of its own on the shared broker.
func TestConformance(t *testing.T) {
	bustest.Run(t, factory)
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test with what after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dropConnection closes b's socket under the AMQP connection, as a network
// failure would: no orderly close, the broker sees the TCP connection go.
func dropConnection(t testing.TB, b *Bus) {
	t.Helper()
	s, _ := b.current()
	if s == nil {
		t.Fatal("dropConnection: the bus has no connection")
	}
	_ = s.raw.Close()
}

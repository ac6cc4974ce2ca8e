package local

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/internal/bus"
)

// QueueLen is how many published messages a Bus holds for its Run goroutine.
// When the queue is full, Publish drops the message and counts it.
const QueueLen = 8192

var (
	// ErrClosed is returned by Publish, Subscribe and Unsubscribe after Close.
	ErrClosed = errors.New("local bus: closed")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("local bus: Run called more than once")
)

// Bus is the in-process bus of a single node. Create it with New.
type Bus struct {
	mu     sync.RWMutex
	subs   map[string]int // topic → subscription count, never zero
	closed bool

	queue     chan bus.Message // never closed; done ends Run instead
	done      chan struct{}
	closeOnce sync.Once
	running   atomic.Bool
	dropped   atomic.Uint64
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty Bus with no subscriptions.
func New() *Bus {
	return &Bus{
		subs:  make(map[string]int),
		queue: make(chan bus.Message, QueueLen),
		done:  make(chan struct{}),
	}
}

// Publish queues m for the Run goroutine if m.Topic is subscribed; otherwise
// it does nothing. It never blocks: when the queue is full, m is dropped and
// counted in Dropped, and Publish still returns nil, since the bus is not
// the source of truth and receivers repair gaps from the store. m.Data is
// not copied; the caller must not modify it afterwards.
func (b *Bus) Publish(ctx context.Context, m bus.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	closed, n := b.closed, b.subs[m.Topic]
	b.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case n == 0:
		return nil
	}
	select {
	case b.queue <- m:
	default:
		b.dropped.Add(1)
	}
	return nil
}

// Subscribe adds one count to the subscription of topic.
func (b *Bus) Subscribe(ctx context.Context, topic string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.subs[topic]++
	return nil
}

// Unsubscribe removes one count from the subscription of topic. At zero,
// messages of topic still queued are discarded rather than delivered.
func (b *Bus) Unsubscribe(ctx context.Context, topic string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	switch n := b.subs[topic]; n {
	case 0:
	case 1:
		delete(b.subs, topic)
	default:
		b.subs[topic] = n - 1
	}
	return nil
}

// Run calls h for each queued message, in publish order, until ctx is done
// or Close is called; then it returns nil. Messages still queued then are
// discarded. A second call returns ErrRunning.
func (b *Bus) Run(ctx context.Context, h bus.Handler) error {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.done:
			return nil
		case m := <-b.queue:
			if b.subscribed(m.Topic) {
				h(m)
			}
		}
	}
}

// subscribed reports whether topic has a subscription now.
func (b *Bus) subscribed(topic string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.subs[topic] > 0
}

// Close stops the bus: Run returns and later calls of Publish, Subscribe
// and Unsubscribe return ErrClosed. It always returns nil.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.done)
	})
	return nil
}

// Dropped returns how many messages Publish dropped because the queue was
// full. It is meant for metrics and tests.
func (b *Bus) Dropped() uint64 {
	return b.dropped.Load()
}

// SingleNode reports true: the in-process bus connects no other node.
func (b *Bus) SingleNode() bool { return true }

var _ bus.SingleNode = (*Bus)(nil)

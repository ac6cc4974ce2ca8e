package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parley-im/parley/internal/bus"
)

var (
	// ErrClosed is returned by Publish, Subscribe and Unsubscribe after
	// Close.
	ErrClosed = errors.New("rabbitmq bus: closed")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("rabbitmq bus: Run called more than once")
	// ErrUnavailable is returned by Publish while the bus has no connection
	// to the broker, or when the connection was lost before the broker
	// confirmed the message (which may or may not have been routed).
	ErrUnavailable = errors.New("rabbitmq bus: broker unavailable")
	// ErrNacked is returned by Publish when the broker refused the message
	// (a negative publisher confirm).
	ErrNacked = errors.New("rabbitmq bus: broker refused the message")
)

// Bus is a bus.Bus on a RabbitMQ broker. Create it with New.
type Bus struct {
	cfg   Config
	queue string // QueuePrefix + NodeID

	// topoMu serializes the changes of the queue's bindings: Subscribe,
	// Unsubscribe, the rebinding of a new session and the queue's deletion
	// at Close. It is held across the broker calls, so that the bindings
	// follow the counts in the order the counts changed.
	topoMu sync.Mutex
	subs   map[string]int  // topic → subscription count, never zero; under topoMu and mu
	bound  map[string]bool // topics that may be bound on the queue; under topoMu

	mu      sync.Mutex
	sess    *session      // the live session, or nil while reconnecting
	sessCh  chan struct{} // closed and replaced whenever sess changes
	closed  bool
	done    chan struct{} // closed by Close
	closing context.Context
	cancel  context.CancelFunc // cancels closing, at Close

	closeOnce  sync.Once
	supervised chan struct{} // closed when supervise has returned
	running    atomic.Bool
	reconnects atomic.Uint64
	discarded  atomic.Uint64
}

var _ bus.Bus = (*Bus)(nil)

// New connects to the broker, declares the exchange and this node's queue,
// starts consuming it and returns the bus; after that, the bus reconnects
// by itself whenever the connection is lost, until Close. ctx bounds the
// first connection only (with Config.ConnectTimeout); New does not retry:
// a broker unreachable at start is an error for the caller to report.
func New(ctx context.Context, cfg Config) (*Bus, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Bus{
		cfg:        cfg,
		queue:      QueuePrefix + cfg.NodeID,
		subs:       make(map[string]int),
		bound:      make(map[string]bool),
		sessCh:     make(chan struct{}),
		done:       make(chan struct{}),
		supervised: make(chan struct{}),
	}
	b.closing, b.cancel = context.WithCancel(context.Background())
	s, err := b.connect(ctx)
	if err != nil {
		b.cancel()
		return nil, fmt.Errorf("rabbitmq bus: connect to the broker: %w", err)
	}
	cfg.Logger.Info("rabbitmq bus: connected", "node", cfg.NodeID, "queue", b.queue, "exchange", cfg.Exchange)
	go b.supervise(s)
	return b, nil
}

// setSession makes s (nil: none) the current session and wakes whoever
// waits for a change. It reports false, changing nothing, once the bus is
// closed.
func (b *Bus) setSession(s *session) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.sess = s
	close(b.sessCh)
	b.sessCh = make(chan struct{})
	return true
}

// current returns the live session (nil if none) and whether the bus is
// closed.
func (b *Bus) current() (*session, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil && b.sess.isDead() {
		return nil, b.closed
	}
	return b.sess, b.closed
}

// Connected reports whether the bus has a live connection to the broker,
// with its bindings and consumer in place. It is meant for health checks,
// metrics and tests.
func (b *Bus) Connected() bool {
	s, closed := b.current()
	return s != nil && !closed
}

// Reconnects counts the connections made after the first one.
func (b *Bus) Reconnects() uint64 { return b.reconnects.Load() }

// Discarded counts the deliveries acknowledged without calling the
// handler: their topic was unsubscribed after they were queued, or their
// routing key was not one this package makes. The broker routes a node
// only what it bound, so this stays near zero; a steady rise means
// bindings match more than they should.
func (b *Bus) Discarded() uint64 { return b.discarded.Load() }

// Publish publishes m on the exchange with m.Topic's routing key and waits
// for the broker's confirm: nil means the broker routed m (to no queue, if
// no node subscribes m.Topic). While the bus is reconnecting it returns
// ErrUnavailable at once, and so it does while the broker blocks publishing
// (a memory or disk alarm); a connection lost before the confirm is
// ErrUnavailable too, a negative confirm ErrNacked, and ctx ending first
// its error (m may still be delivered then). m.Data is not kept after
// Publish returns.
func (b *Bus) Publish(ctx context.Context, m bus.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key, err := routingKey(m.Topic)
	if err != nil {
		return err
	}
	s, closed := b.current()
	switch {
	case closed:
		return ErrClosed
	case s == nil:
		return ErrUnavailable
	}
	if reason := s.blocked.Load(); reason != nil {
		return fmt.Errorf("%w: the broker blocks publishing (%s)", ErrUnavailable, *reason)
	}
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, b.cfg.Exchange, key, false, false, amqp.Publishing{
		ContentType:  "application/octet-stream",
		DeliveryMode: amqp.Transient,
		Body:         m.Data,
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: publish: %w", ErrUnavailable, err)
	}
	if dc == nil { // cannot happen: the channel is put in confirm mode first
		return fmt.Errorf("%w: no publisher confirm", ErrUnavailable)
	}
	select {
	case <-dc.Done():
		if dc.Acked() {
			return nil
		}
		if s.isDead() {
			return fmt.Errorf("%w: connection lost before the confirm", ErrUnavailable)
		}
		return ErrNacked
	case <-s.dead:
		return fmt.Errorf("%w: connection lost before the confirm", ErrUnavailable)
	case <-ctx.Done():
		return fmt.Errorf("rabbitmq bus: waiting for the confirm: %w", ctx.Err())
	}
}

// Subscribe adds one count to topic; at the first count it binds the
// node's queue to topic's routing key. The count is kept whatever the
// broker does: while the bus is disconnected, or if the binding fails
// (which ends the session), the binding is made when the bus reconnects.
// So Subscribe fails only for a bad topic, a done ctx or a closed bus.
// The broker call takes no context; a broker that stopped answering holds
// it until the heartbeat gives the connection up (Config.Heartbeat).
func (b *Bus) Subscribe(ctx context.Context, topic string) error {
	key, s, err := b.lockTopology(ctx, topic)
	if err != nil {
		return err
	}
	defer b.topoMu.Unlock()
	b.mu.Lock()
	b.subs[topic]++
	n := b.subs[topic]
	b.mu.Unlock()
	if n > 1 || s == nil {
		return nil
	}
	b.bound[topic] = true
	if err := s.pub.QueueBind(b.queue, key, b.cfg.Exchange, false, nil); err != nil {
		// The channel is closed by the failure; the next session binds.
		b.cfg.Logger.Warn("rabbitmq bus: bind failed; binding again after reconnecting", "node", b.cfg.NodeID, "topic", topic, "err", err)
		s.kill(fmt.Errorf("bind %q: %w", topic, err))
	}
	return nil
}

// Unsubscribe drops one count of topic; at zero it unbinds the queue, and
// messages of topic already queued are not delivered. Unsubscribing a
// topic not subscribed is a no-op. Like Subscribe, it fails only for a bad
// topic, a done ctx or a closed bus: an unbinding that cannot be made now
// is made when the bus reconnects.
func (b *Bus) Unsubscribe(ctx context.Context, topic string) error {
	key, s, err := b.lockTopology(ctx, topic)
	if err != nil {
		return err
	}
	defer b.topoMu.Unlock()
	b.mu.Lock()
	n := b.subs[topic]
	switch n {
	case 0:
	case 1:
		delete(b.subs, topic)
	default:
		b.subs[topic] = n - 1
	}
	b.mu.Unlock()
	if n != 1 || s == nil {
		return nil
	}
	if err := s.pub.QueueUnbind(b.queue, key, b.cfg.Exchange, nil); err != nil {
		b.cfg.Logger.Warn("rabbitmq bus: unbind failed; unbinding after reconnecting", "node", b.cfg.NodeID, "topic", topic, "err", err)
		s.kill(fmt.Errorf("unbind %q: %w", topic, err))
		return nil
	}
	delete(b.bound, topic)
	return nil
}

// lockTopology checks a Subscribe or Unsubscribe of topic and takes
// topoMu (the caller unlocks it): it returns topic's routing key and the
// current session (nil while disconnected), or the error that refuses the
// call (a done ctx, a bad topic, a closed bus) with topoMu not held.
func (b *Bus) lockTopology(ctx context.Context, topic string) (key string, s *session, err error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	if key, err = routingKey(topic); err != nil {
		return "", nil, err
	}
	b.topoMu.Lock()
	s, closed := b.current()
	if closed {
		b.topoMu.Unlock()
		return "", nil, ErrClosed
	}
	return key, s, nil
}

// subscribed reports whether topic has a subscription now.
func (b *Bus) subscribed(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[topic] > 0
}

// Run calls h for each delivery of the node's queue, on this goroutine and
// in queue order, and acknowledges it when h returns; a delivery whose
// topic is no longer subscribed is acknowledged without calling h. Across
// reconnections it waits for the next session and goes on. It returns nil
// when ctx is done or the bus is closed; a second call returns ErrRunning.
func (b *Bus) Run(ctx context.Context, h bus.Handler) error {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	for {
		s := b.awaitSession(ctx)
		if s == nil {
			return nil
		}
		if !b.consume(ctx, s, h) {
			return nil
		}
	}
}

// awaitSession returns the live session, waiting for one while the bus
// reconnects; nil when ctx is done or the bus is closed.
func (b *Bus) awaitSession(ctx context.Context) *session {
	for {
		b.mu.Lock()
		s, ch, closed := b.sess, b.sessCh, b.closed
		b.mu.Unlock()
		if closed || ctx.Err() != nil {
			return nil
		}
		if s != nil && !s.isDead() {
			return s
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		case <-b.done:
			return nil
		}
	}
}

// consume delivers s's messages until s dies (true: go on with the next
// session) or ctx is done or the bus closed (false).
func (b *Bus) consume(ctx context.Context, s *session, h bus.Handler) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-b.done:
			return false
		case <-s.dead:
			return true
		case d, ok := <-s.deliveries:
			if !ok {
				s.kill(errors.New("delivery channel closed"))
				return true
			}
			b.deliver(d, h)
		}
	}
}

// deliver hands d to h if its topic is subscribed, then acknowledges it.
// An ack that fails (the channel died meanwhile) is left to the broker,
// which redelivers d on the next session: delivery is at least once.
func (b *Bus) deliver(d amqp.Delivery, h bus.Handler) {
	topic, err := topicOf(d.RoutingKey)
	switch {
	case err != nil:
		b.discarded.Add(1)
		b.cfg.Logger.Warn("rabbitmq bus: dropped a message with a foreign routing key", "node", b.cfg.NodeID, "err", err)
	case b.subscribed(topic):
		h(bus.Message{Topic: topic, Data: d.Body})
	default:
		b.discarded.Add(1)
	}
	_ = d.Ack(false)
}

// Close stops the bus: Run returns, the node's queue is deleted and the
// connection closed (within Config.CloseTimeout), the reconnection loop
// ends, and later calls of Publish, Subscribe and Unsubscribe return
// ErrClosed. It returns once every goroutine of the bus has ended (except
// Run's, which returns as soon as its handler does), and always nil.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.done)
		b.mu.Unlock()
		b.cancel()
		<-b.supervised
	})
	return nil
}

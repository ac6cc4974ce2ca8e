package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// session is one AMQP connection with its two channels. It is made by
// connect and dies once: when the broker or the network closes the
// connection or a channel, when the consumer is cancelled, or when the bus
// kills it. A dead session is never reused; the supervisor makes a new one.
type session struct {
	conn *amqp.Connection
	raw  net.Conn // the socket under conn: closing it ends everything at once
	// pub is in confirm mode. Publishes go to it from any goroutine;
	// topology calls (bind, unbind, delete) only under Bus.topoMu, because
	// amqp091-go matches a channel's replies to its calls by type, so two
	// concurrent calls on one channel could take each other's answers.
	pub        *amqp.Channel
	cons       *amqp.Channel
	deliveries <-chan amqp.Delivery

	// blocked holds the broker's reason while it blocks publishing on
	// this connection (a memory or disk alarm: connection.blocked), "" when
	// it does not. The broker stops reading the socket then, and a write
	// could wait for as long as the alarm lasts, unbounded by any ctx.
	blocked atomic.Pointer[string]

	dead     chan struct{} // closed by kill
	deadOnce sync.Once
	reason   error // why it died; written before dead is closed
}

// kill marks s dead with reason (the first reason wins) and closes its
// socket, which ends the connection, both channels, pending confirms and
// calls, and amqp091-go's goroutines.
func (s *session) kill(reason error) {
	s.deadOnce.Do(func() {
		s.reason = reason
		close(s.dead)
	})
	if s.raw != nil {
		_ = s.raw.Close()
	}
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// watch kills s when the connection or a channel closes or the consumer is
// cancelled. It ends when s is dead.
func (s *session) watch(connClosed, pubClosed, consClosed <-chan *amqp.Error, cancelled <-chan string) {
	var reason error
	select {
	case e := <-connClosed:
		reason = closeReason("connection", e)
	case e := <-pubClosed:
		reason = closeReason("publishing channel", e)
	case e := <-consClosed:
		reason = closeReason("consuming channel", e)
	case tag, ok := <-cancelled:
		if ok {
			reason = fmt.Errorf("consumer %s cancelled by the broker (queue deleted?)", tag)
		} else {
			reason = errors.New("consuming channel closed")
		}
	case <-s.dead:
		return
	}
	s.kill(reason)
}

// watchBlocked follows the broker's connection.blocked and unblocked
// notifications until s is dead (amqp091-go delivers them from its reader
// goroutine, so they must be taken promptly).
func (s *session) watchBlocked(ch <-chan amqp.Blocking) {
	for {
		select {
		case bl, ok := <-ch:
			if !ok {
				return
			}
			if bl.Active {
				reason := bl.Reason
				if reason == "" {
					reason = "resource alarm"
				}
				s.blocked.Store(&reason)
			} else {
				s.blocked.Store(nil)
			}
		case <-s.dead:
			return
		}
	}
}

func closeReason(what string, e *amqp.Error) error {
	if e == nil {
		return fmt.Errorf("%s closed", what)
	}
	return fmt.Errorf("%s closed: %w", what, e)
}

// connect dials the broker and sets up a session: the exchange, this node's
// queue, the bindings of every subscribed topic, and the consumer. On
// success the session is current (Bus.sess) when connect returns; on
// failure nothing of it is left running. ctx bounds the whole attempt
// together with Config.ConnectTimeout: when it ends, the socket is closed,
// which fails whatever call is waiting.
func (b *Bus) connect(ctx context.Context) (s *session, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ConnectTimeout)
	defer cancel()
	dialTimeout := b.cfg.ConnectTimeout
	if dl, ok := ctx.Deadline(); ok {
		dialTimeout = time.Until(dl)
	}
	if dialTimeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	s = &session{dead: make(chan struct{})}
	var rawMu sync.Mutex
	cfg := amqp.Config{
		Heartbeat: b.cfg.Heartbeat,
		Properties: amqp.Table{
			"connection_name": "parley bus " + b.cfg.NodeID,
			"product":         "parley",
		},
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := amqp.DefaultDial(dialTimeout)(network, addr)
			if err == nil {
				rawMu.Lock()
				s.raw = c
				rawMu.Unlock()
			}
			return c, err
		},
	}
	// When ctx ends first, closing the socket fails the call in progress.
	// stop is deferred after cancel, so it runs first: the cancel at return
	// does not close a session that succeeded.
	stop := context.AfterFunc(ctx, func() {
		rawMu.Lock()
		defer rawMu.Unlock()
		if s.raw != nil {
			_ = s.raw.Close()
		}
	})
	defer stop()
	defer func() {
		if err != nil {
			s.kill(err)
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", err, ctx.Err())
			}
		}
	}()

	s.conn, err = amqp.DialConfig(b.cfg.URL, cfg)
	if err != nil {
		return s, fmt.Errorf("dial: %w", err)
	}
	connClosed := s.conn.NotifyClose(make(chan *amqp.Error, 1))
	go s.watchBlocked(s.conn.NotifyBlocked(make(chan amqp.Blocking, 1)))
	if s.pub, err = s.conn.Channel(); err != nil {
		return s, fmt.Errorf("open channel: %w", err)
	}
	pubClosed := s.pub.NotifyClose(make(chan *amqp.Error, 1))
	if s.cons, err = s.conn.Channel(); err != nil {
		return s, fmt.Errorf("open channel: %w", err)
	}
	consClosed := s.cons.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := s.cons.NotifyCancel(make(chan string, 1))
	go s.watch(connClosed, pubClosed, consClosed, cancelled)

	if err = s.pub.Confirm(false); err != nil {
		return s, fmt.Errorf("confirm mode: %w", err)
	}
	if err = s.pub.ExchangeDeclare(b.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return s, fmt.Errorf("declare exchange %s: %w", b.cfg.Exchange, err)
	}
	args := amqp.Table{
		"x-expires":    b.cfg.QueueExpiry.Milliseconds(),
		"x-max-length": int64(b.cfg.QueueMaxLength),
	}
	if _, err = s.pub.QueueDeclare(b.queue, false, false, false, false, args); err != nil {
		return s, fmt.Errorf("declare queue %s: %w", b.queue, err)
	}
	if err = s.cons.Qos(b.cfg.Prefetch, 0, false); err != nil {
		return s, fmt.Errorf("qos: %w", err)
	}

	b.topoMu.Lock()
	defer b.topoMu.Unlock()
	if err = b.rebind(s); err != nil {
		return s, err
	}
	// An exclusive consumer: a second process with this node id is refused
	// (ACCESS_REFUSED) instead of silently sharing the node's messages.
	s.deliveries, err = s.cons.Consume(b.queue, b.queue, false, true, false, false, nil)
	if err != nil {
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused {
			return s, fmt.Errorf("consume %s: another connection holds the queue (is node id %q in use, or is the broker still closing this node's last connection?): %w", b.queue, b.cfg.NodeID, err)
		}
		return s, fmt.Errorf("consume %s: %w", b.queue, err)
	}
	if !b.setSession(s) {
		return s, ErrClosed
	}
	return s, nil
}

// rebind brings the bindings of s's queue in line with the subscription
// counts: it binds every topic counted above zero and unbinds those that
// may still be bound from an earlier session (the queue outlives a
// connection) but were unsubscribed since. b.topoMu is held.
func (b *Bus) rebind(s *session) error {
	for topic := range b.bound {
		if b.subs[topic] > 0 {
			continue
		}
		key, _ := routingKey(topic) // checked when it was subscribed
		if err := s.pub.QueueUnbind(b.queue, key, b.cfg.Exchange, nil); err != nil {
			return fmt.Errorf("unbind %q: %w", topic, err)
		}
		delete(b.bound, topic)
	}
	for topic := range b.subs {
		key, _ := routingKey(topic)
		if err := s.pub.QueueBind(b.queue, key, b.cfg.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind %q: %w", topic, err)
		}
		b.bound[topic] = true
	}
	return nil
}

// supervise keeps the bus connected: when the current session dies it
// makes new ones, with capped exponential backoff and jitter, until one
// succeeds or the bus is closed. It ends at Close, after closing the
// session it holds. s is the session New made.
func (b *Bus) supervise(s *session) {
	defer close(b.supervised)
	for {
		select {
		case <-s.dead:
		case <-b.done:
			b.shutdown(s)
			return
		}
		b.setSession(nil)
		b.cfg.Logger.Warn("rabbitmq bus: connection lost; reconnecting", "node", b.cfg.NodeID, "err", s.reason)
		s.kill(s.reason)
		var err error
		for attempt := 0; ; attempt++ {
			t := time.NewTimer(b.backoff(attempt))
			select {
			case <-b.done:
				t.Stop()
				return
			case <-t.C:
			}
			s, err = b.connect(b.closing)
			if err == nil {
				break
			}
			if errors.Is(err, ErrClosed) || b.closing.Err() != nil {
				return // Close ended the attempt
			}
			b.cfg.Logger.Warn("rabbitmq bus: reconnection failed", "node", b.cfg.NodeID, "attempt", attempt+1, "err", err)
		}
		b.reconnects.Add(1)
		b.cfg.Logger.Info("rabbitmq bus: reconnected", "node", b.cfg.NodeID, "queue", b.queue)
	}
}

// backoff is the wait before reconnection attempt n (0 first): the bound
// doubles from MinBackoff to MaxBackoff, and the wait is drawn uniformly
// from its upper half, so that nodes that lost the broker together do not
// come back in lockstep.
func (b *Bus) backoff(n int) time.Duration {
	d := b.cfg.MinBackoff
	for i := 0; i < n && d < b.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, b.cfg.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// shutdown ends s at Close: it deletes the node's queue (a node that
// closes cleanly leaves nothing behind; whatever was queued is repaired
// from the store) and closes the connection, within CloseTimeout, after
// which the socket is closed regardless.
func (b *Bus) shutdown(s *session) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if s.isDead() {
			return
		}
		b.topoMu.Lock()
		_, err := s.pub.QueueDelete(b.queue, false, false, false)
		b.topoMu.Unlock()
		if err != nil {
			b.cfg.Logger.Warn("rabbitmq bus: delete queue at close", "node", b.cfg.NodeID, "err", err)
		}
		_ = s.conn.Close()
	}()
	t := time.NewTimer(b.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		b.cfg.Logger.Warn("rabbitmq bus: orderly close timed out; closing the socket", "node", b.cfg.NodeID)
	}
	s.kill(ErrClosed)
	// With the socket closed every call above returns at once.
	<-done
}

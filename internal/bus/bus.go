// Package bus defines how Parley nodes tell each other about committed
// messages and transient events. The bus is a latency path, never the source
// of truth: a message on it may be lost, duplicated or late, and receivers
// repair from the store by seq (DESIGN.md §2.4).
//
// Implementations: internal/bus/local (in-process, one node) and later
// internal/bus/rabbitmq; both pass internal/bus/bustest.
package bus

import "context"

// Message is one bus message. Topic is a routing key such as "c.<conv>" (a
// conversation's events) or "u.<user>" (events for one user); Data is opaque.
type Message struct {
	Topic string
	Data  []byte
}

// Handler receives the messages of subscribed topics. It is called from one
// goroutine per bus, in publish order per topic, and must not block for long.
type Handler func(Message)

// Bus routes messages between nodes.
type Bus interface {
	// Publish sends m to every node subscribed to m.Topic, this one included.
	// A nil error means the bus accepted m, not that anyone received it.
	Publish(ctx context.Context, m Message) error
	// Subscribe makes this node receive m.Topic. Subscriptions are counted:
	// each Subscribe needs one Unsubscribe.
	Subscribe(ctx context.Context, topic string) error
	// Unsubscribe drops one count of a subscription; at zero the node stops
	// receiving the topic. Unsubscribing a topic not subscribed is a no-op.
	Unsubscribe(ctx context.Context, topic string) error
	// Run delivers received messages to h until ctx is done or Close is
	// called, then returns. It is called once.
	Run(ctx context.Context, h Handler) error
	// Close stops the bus. It is safe to call more than once.
	Close() error
}

// SingleNode is implemented by buses that connect no other node (the
// in-process bus). The core skips encoding and publishing for them: every
// receiver is on this node and was served directly.
type SingleNode interface {
	SingleNode() bool
}

package rabbitmq

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultExchange is the topic exchange the nodes publish to.
const DefaultExchange = "parley.bus"

// QueuePrefix starts the name of every node's queue: parley.node.<id>.
const QueuePrefix = "parley.node."

// maxNodeIDLen bounds Config.NodeID, well inside AMQP's 255-byte names.
const maxNodeIDLen = 128

// Config configures a Bus. URL and NodeID are required; every other zero
// field takes the default named in its comment.
type Config struct {
	// URL is the broker's amqp:// or amqps:// URL, with credentials and
	// vhost.
	URL string
	// NodeID names this node; its queue is QueuePrefix+NodeID. 1–128 ASCII
	// letters, digits and "-_.:". Two running nodes must not share one: the
	// second one's consumer is refused while the first holds the queue.
	NodeID string
	// Exchange is the topic exchange of node-to-node traffic (durable);
	// DefaultExchange when empty. Every node of a cluster uses the same.
	Exchange string
	// Logger receives connection state changes (nil: discarded).
	Logger *slog.Logger

	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts: it doubles from MinBackoff (100 ms) up to MaxBackoff (10 s),
	// and each wait is drawn at random between half and all of it.
	MinBackoff, MaxBackoff time.Duration
	// ConnectTimeout bounds one connection attempt: dial, AMQP handshake,
	// declarations and rebinding (10 s).
	ConnectTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval (5 s). A broker that answers
	// nothing for three intervals is taken for dead; this also bounds a
	// Publish, Subscribe or Unsubscribe stuck on a broker that stopped
	// reading (amqp091-go's I/O takes no context).
	Heartbeat time.Duration
	// CloseTimeout bounds the orderly part of Close (deleting the queue,
	// closing the connection); after it the socket is closed (2 s).
	CloseTimeout time.Duration
	// Prefetch is how many deliveries the broker sends before an ack (256).
	Prefetch int
	// QueueExpiry is how long the broker keeps this node's queue once no
	// consumer uses it (x-expires, 60 s): long enough to survive a
	// reconnection, so that unacknowledged deliveries are redelivered.
	QueueExpiry time.Duration
	// QueueMaxLength caps the queue (x-max-length, 100000; the oldest
	// messages are dropped past it).
	QueueMaxLength int
}

// withDefaults checks c and returns it with the defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("rabbitmq bus: Config.URL is empty")
	}
	if err := validNodeID(c.NodeID); err != nil {
		return c, err
	}
	if c.Exchange == "" {
		c.Exchange = DefaultExchange
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 10*time.Second)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	def(&c.ConnectTimeout, 10*time.Second)
	def(&c.Heartbeat, 5*time.Second)
	def(&c.CloseTimeout, 2*time.Second)
	def(&c.QueueExpiry, 60*time.Second)
	if c.QueueExpiry < time.Second {
		c.QueueExpiry = time.Second
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 256
	}
	if c.QueueMaxLength <= 0 {
		c.QueueMaxLength = 100000
	}
	return c, nil
}

func validNodeID(id string) error {
	if id == "" || len(id) > maxNodeIDLen {
		return fmt.Errorf("rabbitmq bus: node id %q: want 1–%d characters", id, maxNodeIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return fmt.Errorf("rabbitmq bus: node id %q: %q is not allowed (letters, digits and -_.: only)", id, c)
		}
	}
	return nil
}

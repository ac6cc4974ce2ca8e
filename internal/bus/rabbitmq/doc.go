// Package rabbitmq is the bus.Bus of cluster mode (bus.driver: rabbitmq):
// the nodes of a cluster tell each other about committed messages and
// transient events through a RabbitMQ broker, with amqp091-go. It passes
// internal/bus/bustest like the in-process bus.
//
// # Job
//
// The bus is a latency path, never the source of truth (DESIGN.md §2.4): a
// message on it may be lost, duplicated or late, and the receiving node
// repairs from the store by seq. So the bus keeps nothing durable and
// promises at-least-once delivery only while a node is connected; it never
// blocks the node on the broker for longer than a context or a heartbeat,
// and a node that loses the broker keeps serving its local users.
//
// # Topology
//
//   - One topic exchange, Config.Exchange (DefaultExchange, "parley.bus"),
//     durable, shared by every node. Publish sends there with the topic's
//     routing key, mandatory off (a message no node subscribed is dropped by
//     the broker), transient, with publisher confirms.
//   - One queue per node, "parley.node.<NodeID>": not durable, not
//     exclusive, not auto-delete, with x-expires (Config.QueueExpiry, 60 s
//     unused) and x-max-length (Config.QueueMaxLength, oldest dropped). The
//     node consumes it with one exclusive consumer, so a second process
//     with the same node id is refused rather than sharing the node's
//     messages. The queue is not exclusive to its connection because it
//     must outlive one: deliveries not yet acknowledged when a connection
//     dies are requeued and redelivered on the next connection, which an
//     exclusive queue (deleted with its connection) would lose. x-expires
//     removes the queue of a node that does not come back; Close deletes
//     it at once. A broker restart loses it (it is not durable): the node
//     declares it again and the store repairs what was lost.
//   - Subscriptions are counted (bus.Bus): the first Subscribe of a topic
//     binds the node's queue to the exchange with the topic's routing key,
//     the last Unsubscribe unbinds it. Traffic between nodes is therefore
//     one copy per node per message, whatever the number of recipients on
//     that node (DESIGN.md §3, seed 004's direct routing).
//   - Routing keys: a topic ("c.<conv>", "u.<user>") with '%', '.', '*' and
//     '#' percent-encoded except its first '.'. User ids may contain '.',
//     '*' and '%' (core.ValidateUserID refuses '#' but not those), and a
//     topic exchange splits keys at '.' and treats the binding words "*" and
//     "#" as wildcards: unescaped, a user named "*" would receive every
//     user's topic. Escaped, every binding matches exactly one topic. A
//     routing key is at most 255 bytes (ErrBadTopic beyond; a 64-byte id
//     escapes to at most 194).
//
// # Concurrency
//
// Every method is safe for concurrent use. Publish needs no lock of the
// bus: publishes from many goroutines share the session's confirm-mode
// channel, and each waits for its own confirm, so one goroutine's
// publishes keep their order. Subscribe, Unsubscribe, the rebinding after a
// reconnection and the queue's deletion at Close are serialized (topoMu),
// held across their broker calls, so bindings follow counts in order; a
// separate channel carries the consumer. The handler passed to Run is
// called from Run's goroutine only, one delivery at a time, in queue order
// (which is publish order per publishing goroutine and topic), and each
// delivery is acknowledged after the handler returns (manual acks, at most
// Config.Prefetch unacknowledged). Deliveries of a topic no longer
// subscribed are acknowledged without calling the handler, as the local
// bus discards them, and counted (Discarded).
//
// Goroutines: one supervisor per bus (reconnection) and two watchers per
// connection (closes and cancels; blocked and unblocked), besides
// amqp091-go's own; all end at Close, which waits for them. Run returns
// when its context ends or at Close (as soon as a running handler
// returns).
//
// # When the broker goes away
//
// A connection or channel that closes (NotifyClose: broker stopped or
// restarted, network cut, heartbeat missed three times, a channel error)
// or a consumer the broker cancels ends the session. The supervisor then
// reconnects with capped exponential backoff and jitter (Config.MinBackoff
// doubling to Config.MaxBackoff, each wait drawn from the upper half), each
// attempt bounded by Config.ConnectTimeout; a new session declares the
// exchange and the queue again, unbinds what was unsubscribed meanwhile,
// binds every topic whose count is above zero, starts consuming, and only
// then becomes current, so Connected reports true only when the node
// receives its topics again. Meanwhile:
//
//   - Publish returns ErrUnavailable at once, as it does while the broker
//     blocks publishing for a memory or disk alarm (connection.blocked:
//     the broker stops reading the socket, and a write would wait for the
//     alarm's end, bounded by nothing); a publish in flight when the
//     connection dies returns ErrUnavailable (amqp091-go nacks pending
//     confirms), and one whose ctx ends first returns ctx's error. The
//     caller (the core's dispatcher) counts and drops it: receivers catch
//     up from the store.
//   - Subscribe and Unsubscribe only count; the next session binds and
//     unbinds. They never fail for a broker reason.
//   - Run waits for the next session. Deliveries unacknowledged when the
//     connection died are redelivered by the broker if the queue survived
//     (a broken connection), possibly after newer messages were seen:
//     at least once, and the receiver's seq repair handles repeats. After
//     a broker restart the queue is new and what it held is gone.
//
// amqp091-go's socket I/O takes no context. Against a broker that accepts
// TCP but answers nothing (frozen, partitioned), Publish's wait for the
// confirm ends with its ctx, but a socket write that finds the send buffer
// full, and a binding's call (Subscribe, Unsubscribe), are bounded only by
// the heartbeat: after three Config.Heartbeat intervals without a frame
// the connection is closed and everything waiting on it returns. New is
// bounded by its ctx and Config.ConnectTimeout and does not retry: an
// unreachable broker at start is the caller's error to report.
//
// Close deletes the node's queue and closes the connection within
// Config.CloseTimeout, then closes the socket regardless.
package rabbitmq

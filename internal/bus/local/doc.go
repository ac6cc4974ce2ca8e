// Package local is the in-process implementation of bus.Bus, used when one
// node runs alone (bus.driver: local). Publishing on a node delivers to the
// same node's Run handler.
//
// Publish hands a message to a bounded queue (QueueLen) that the Run
// goroutine drains, so a slow handler can never block a publisher. When the
// queue is full the message is dropped and counted (Dropped). This is
// allowed because the bus is a latency path, not the source of truth: a
// receiver that misses a message repairs the gap from the store by seq
// (DESIGN.md §2.4). Messages published before Run starts wait in the same
// queue. Publish on a topic nobody subscribed is a cheap no-op, and
// messages are not copied: the caller must not modify Message.Data after
// Publish.
//
// Concurrency: every method is safe for concurrent use. The handler runs on
// the one goroutine that called Run, in publish order across all topics, and
// only for topics still subscribed when the message is taken off the queue.
package local

// Package bustest is the conformance suite every bus.Bus implementation
// passes: internal/bus/local now, internal/bus/rabbitmq later. A backend's
// test calls
//
//	bustest.Run(t, func(t *testing.T) bus.Bus { return local.New() })
//
// The suite checks delivery with the same topic and bytes, that
// unsubscribed topics are not delivered, subscription counting, per-topic
// publish order (with one publisher and with several concurrent ones), that
// the handler is never called concurrently, that Run returns after its
// context is cancelled and after Close, that Close is idempotent, and that
// Publish after Close fails.
//
// It never sleeps to assert: every wait polls a condition and is bounded by
// WaitTimeout. To show that a message was not delivered, it publishes a
// barrier message afterwards and waits for that (Recorder.Barrier), relying
// on a bus delivering one node's messages through one ordered stream.
//
// The helpers (Start, Recorder, Eventually, Topic) are exported for
// backend-specific tests. Subtests run in parallel, each with its own buses
// and uniquely named topics; a Recorder is safe for concurrent use.
package bustest

// Package mqtt is Parley's MQTT 3.1.1 and 5.0 gateway: MQTT over TCP (with
// optional TLS) and over WebSocket, on the seed-001 topic scheme
// (docs/mqtt.md), in the same message space as the WebSocket and HTTP
// gateways.
//
// The packet codec, the protocol state machines of QoS 1 and 2 for what
// clients publish, keepalive and session takeover come from
// github.com/mochi-mqtt/server/v2, driven through its hooks (ADR 0005).
// Everything about chat is Parley's: a PUBLISH to a chat topic is a send
// under the delivery contract (the hook returns only after the commit, so
// the PUBACK or PUBREC follows it); deliveries are written by the core's
// per-connection writer through this package's core.Transport, with packet
// ids, in-flight windows and acks of their own, never through the
// library's topic tree, retained store or in-flight queue; a session's
// state (subscriptions) is kept in the store and its positions by the core,
// so a reconnect resumes from the store, also after a restart. Like every
// gateway it reaches the store only through the core: it takes the core as
// the Core interface, the roles it uses (core.MQTTSessions for sessions).
//
// Concurrency: the library runs one read goroutine per connection, which
// calls the hooks; the core's writer goroutine calls the transport. Both
// write packets through the library's client, which serializes writes with
// its own lock. A conn's mutable state is guarded by its mutex.
package mqtt

// Package ws is Parley's WebSocket gateway: it upgrades HTTP requests,
// authenticates the first frame (hello), decodes JSON request frames, calls
// the core, and writes the core's events as JSON frames. Before the upgrade
// it admits the connection through the per-address limits (Options.Conns,
// with the client address resolved through Options.Proxies) and refuses
// with 429; a refusal by the core's per-user limits at hello is answered
// with an error frame and close 3004 or 3005.
//
// Concurrency: each connection has one read goroutine (this package), one
// writer goroutine (the core's Client) and one pinger. Sends are queued for
// commit in the order they are read and answered as their commits finish.
// The WebSocket library reads the client's bytes through a frameGuard
// (guard.go), which enforces the RFC 6455 rules the library leaves to the
// application; only the read goroutine reads from it, and any goroutine may
// stop it. The rules for malformed input are in docs/protocol.md, "Parsing
// rules".
package ws

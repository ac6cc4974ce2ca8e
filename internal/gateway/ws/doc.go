// Package ws is Parley's WebSocket gateway: it upgrades HTTP requests,
// authenticates the first frame (hello), decodes JSON request frames, calls
// the core, and writes the core's events as JSON frames.
//
// Concurrency: each connection has one read goroutine (this package), one
// writer goroutine (the core's Client) and one pinger. Sends are queued for
// commit in the order they are read and answered as their commits finish.
package ws

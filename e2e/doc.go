// Package e2e holds Parley's end-to-end tests: each starts a real server
// (in-process on a free loopback port, or the built binary for crash tests)
// with a temporary data directory and talks to it through the Go SDK, raw
// WebSocket frames and HTTP.
package e2e

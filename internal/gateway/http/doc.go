// Package httpapi is Parley's HTTP API gateway (directory internal/gateway/http):
// accounts and tokens, conversations, sending and history, read and delivery
// positions, presence, devices, the admin API, health and metrics. Every
// error response has one JSON shape, {"error": protocol.Error}.
//
// Handlers are stateless; the core does the work and is safe for concurrent use.
package httpapi

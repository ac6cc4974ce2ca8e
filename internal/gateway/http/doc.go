// Package httpapi is Parley's HTTP API gateway (directory internal/gateway/http):
// accounts and tokens, conversations, sending and history, read and delivery
// positions, presence, devices, the admin API, health and metrics. Every
// error response has one JSON shape, {"error": protocol.Error}.
//
// Hostile input is refused at the edge, in one place each: query strings
// against a per-route whitelist (handle and checkQuery), credentials in the
// URL (credentialParam), request bodies by media type, encoding, size and
// nesting (readJSON), browser origins by the allow-list (cors), and failed
// password logins by a per-address and per-account token bucket
// (loginLimiter). The client address is resolved once per use through the
// trusted proxies (Options.Proxies, ratelimit.Proxies); the send rate limit
// lives in the core, and its refusals get a Retry-After here (writeError).
//
// Handlers keep no per-request state; the core does the work and is safe
// for concurrent use. The one piece of shared state, the login limiter, is
// guarded by its own mutex and bounded in size.
package httpapi

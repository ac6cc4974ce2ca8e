// Package ratelimit holds the limits every gateway shares: token buckets per
// key (Buckets, Limiter), the flapping tracker that bans keys which connect
// too often (Flapping), the admission of new connections per client address
// (IPGate), and the resolution of a request's client address behind trusted
// proxies (Proxies).
//
// A refusal is an *Error that names the limit (the label of the
// parley_rate_limited_total metric) and how long to wait; errors.Is(err,
// ErrLimited) is true for every refusal. The core re-exports ErrLimited as
// core.ErrRateLimited and maps an *Error to a 429 error with retry_after_ms.
//
// Memory: every keyed structure remembers at most MaxKeys keys. When full,
// it first forgets the keys whose state a new key would have anyway (a
// refilled bucket, a quiet and unbanned flapping record), then arbitrary
// ones, so that a client spraying keys costs bounded memory.
//
// Concurrency: Buckets is not safe for concurrent use (its owner holds a
// lock around several buckets, as the login limiter does); Limiter,
// Flapping and IPGate are, each behind one mutex. Proxies is immutable
// after ParseProxies.
package ratelimit

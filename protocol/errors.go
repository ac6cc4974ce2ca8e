package protocol

import "fmt"

// Error is the one error shape of every gateway: a WebSocket error frame, the
// body of an HTTP error response. Code ranges tell a client what to do:
//
//	400–499  the request was wrong: fix it, do not retry it unchanged
//	500–599  the server failed: retry later with the same client message id
//	3000–3499 (WebSocket close codes) the server closed: reconnect and resume
//	3500–3999 (WebSocket close codes) the server closed: do not reconnect
type Error struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// Field names the request field that was wrong, when one was.
	Field string `json:"field,omitempty"`
	// RetryAfterMS, on a 429 refused by a send or connection limit, is how
	// many milliseconds to wait before retrying (HTTP also sends it, in
	// whole seconds, as Retry-After). Omitted on other errors.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

func (e *Error) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%d %s: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Reason)
}

// Error codes of replies. See docs/protocol.md for what a client does on each.
const (
	CodeBadRequest    = 400 // malformed frame or field; Field names it
	CodeUnauthorized  = 401 // missing, invalid, expired or revoked credentials
	CodeForbidden     = 403 // authenticated but not allowed (e.g. editing another's message)
	CodeNotFound      = 404 // absent, or not visible to this user (the two are not told apart)
	CodeConflict      = 409 // already exists
	CodeTooLarge      = 413 // body over the message-size limit
	CodeTooMany       = 429 // rate limited: retry after retry_after_ms (HTTP: Retry-After)
	CodeInternal      = 500 // server failure: retry with the same client message id
	CodeUnavailable   = 503 // server shutting down or storage unavailable: retry later
	CodeNotReady      = 425 // operation before hello/resume
	CodeUnsupported   = 426 // protocol version not supported
	CodeGone          = 410 // conversation history no longer available (retention)
	CodeUnprocessable = 422 // well-formed but semantically invalid
)

// WebSocket close codes used by the server (RFC 6455 allows 3000–4999 for
// applications). 3000–3499: reconnect and resume; 3500–3999: do not reconnect
// without user action.
const (
	CloseShutdown     = 3000 // server restarting: reconnect with backoff and resume
	CloseSlowConsumer = 3001 // outbound queue overflowed: reconnect and resume
	CloseWriteFailed  = 3002 // a write to the connection failed or timed out: reconnect and resume
	ClosePingTimeout  = 3003 // no pong in time: reconnect and resume
	CloseAuthTimeout  = 3500 // no hello within the deadline
	CloseAuthFailed   = 3501 // hello refused: get a new token first
	CloseRevoked      = 3502 // token or device revoked, or user disabled
	CloseKicked       = 3503 // disconnected by an administrator (may sign in again by user action)
	CloseBadProtocol  = 3504 // protocol version not supported
	// CloseTakeover: another connection of the same device took over. Not
	// reconnected automatically, or two copies of one device would keep
	// ending each other.
	CloseTakeover = 3505
	// CloseTooManyDevices: hello named a device the user does not have
	// yet, and the user already has limits.devices_per_user devices. The
	// error frame before it is 403 too_many_devices. Not reconnected
	// automatically: revoke a device first (DELETE /v1/devices/{device}).
	CloseTooManyDevices = 3506
)

// Close codes of the connection limits, in the reconnect range: a limit is
// temporary. The error frame sent just before the close (429 rate_limited)
// carries retry_after_ms; reconnect with backoff, and not sooner than that.
const (
	// CloseTooManyConnections: the user already has as many connections
	// as allowed (rate_limits.connections_per_user). A slot frees when
	// another of the user's connections closes.
	CloseTooManyConnections = 3004
	// CloseFlapping: this device connected too often and is banned for a
	// while (rate_limits.flapping_connects_per_minute, flapping_ban);
	// retry_after_ms is when the ban ends.
	CloseFlapping = 3005
)

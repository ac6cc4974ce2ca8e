package ratelimit

import (
	"errors"
	"time"
)

// ErrLimited is the sentinel of every refusal by a limit (core re-exports
// it as core.ErrRateLimited): retry later.
var ErrLimited = errors.New("rate limited")

// Names of the limits: the values of the limit label of the
// parley_rate_limited_total metric, and Error.Limit.
const (
	LimitLoginIP      = "login_ip"      // failed logins per client address
	LimitLoginAccount = "login_account" // failed logins per account name
	LimitLoginSuccess = "login_success" // successful password logins per account name
	LimitSend         = "send"          // sends, edits and deletes per user
	LimitConnUser     = "conn_user"     // concurrent connections per user (on one node)
	LimitConnIP       = "conn_ip"       // concurrent connections per client address
	LimitConnRate     = "conn_rate"     // new connections per client address per minute
	LimitFlapping     = "flapping"      // a banned device or client address
	LimitOps          = "ops"           // acks, reads and typing per user
	LimitQueries      = "queries"       // history, lists, presence and resumes per user
	// LimitFriendRequests: friend requests per user per hour.
	LimitFriendRequests = "friend_requests"
	// LimitNotices: system notices created per admin per minute.
	LimitNotices = "notices"
	// LimitGroupInvites: group invitations per user per hour.
	LimitGroupInvites = "group_invites"
	// LimitBroadcast: copies of broadcasts per user per hour.
	LimitBroadcast = "broadcast"
)

// Names lists every limit name, for metrics that start each at zero.
var Names = []string{LimitLoginIP, LimitLoginAccount, LimitLoginSuccess, LimitSend, LimitConnUser, LimitConnIP, LimitConnRate, LimitFlapping, LimitOps, LimitQueries, LimitFriendRequests, LimitNotices, LimitGroupInvites, LimitBroadcast}

// BusyRetry is the wait advised when a concurrency limit refuses: a slot
// frees when another connection closes, which no clock predicts.
const BusyRetry = 5 * time.Second

// Error is a refusal by one limit. Its message is meant for the client.
type Error struct {
	// Limit is one of the Limit* names.
	Limit string
	// RetryAfter is how long to wait before trying again (positive).
	RetryAfter time.Duration
	// Msg is the client's message.
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrLimited) true.
func (e *Error) Unwrap() error { return ErrLimited }

// RetryAfterMillis is RetryAfter in whole milliseconds, rounded up, at
// least 1.
func (e *Error) RetryAfterMillis() int64 {
	return max(1, int64((e.RetryAfter+time.Millisecond-1)/time.Millisecond))
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1:
// the value of an HTTP Retry-After header.
func (e *Error) RetryAfterSeconds() int {
	return max(1, int((e.RetryAfter+time.Second-1)/time.Second))
}

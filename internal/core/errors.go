package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Sentinel errors of the core. Gateways map them (and store errors) to client
// error codes with ToProtocol, the one place where that mapping lives.
var (
	// ErrUnauthorized: credentials missing, invalid, expired or revoked.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrBadRequest: a field is malformed; wrap it in a FieldError.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge: a message body is over the size limit.
	ErrTooLarge = errors.New("message too large")
	// ErrUnavailable: the core is shutting down or storage is failing.
	ErrUnavailable = errors.New("unavailable")
	// ErrRegistrationClosed: self-registration is turned off.
	ErrRegistrationClosed = errors.New("registration is closed")
	// ErrRateLimited: too many attempts; retry later. Every refusal by a
	// limit is one; a *ratelimit.Error also says which limit and how long
	// to wait.
	ErrRateLimited = ratelimit.ErrLimited
	// ErrBusy: too many password checks at once; nothing was checked and
	// the client retries after a second (MQTT 5 CONNACK 0x89, 3.1.1 return
	// code 3, HTTP 503 with Retry-After).
	ErrBusy = auth.ErrBusy
	// ErrTooManyDevices: the user already has limits.devices_per_user
	// devices; a new one is refused until one is revoked. Existing
	// devices are not affected.
	ErrTooManyDevices = errors.New("too many devices")
	// ErrClientMsgIDInUse: the sender's client message id names a message
	// of another conversation, so the send is not a retry of it; nothing
	// was stored (409, reason client_msg_id_in_use).
	ErrClientMsgIDInUse = errors.New("client_msg_id already used in another conversation")
)

// AuthError is an authentication failure with a reason the client may see
// (never one that helps guess credentials).
type AuthError struct{ Reason string }

func (e *AuthError) Error() string { return "unauthorized: " + e.Reason }

// Unwrap makes errors.Is(err, ErrUnauthorized) true.
func (e *AuthError) Unwrap() error { return ErrUnauthorized }

// FieldError is a bad request naming the field that was wrong.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrBadRequest) true.
func (e *FieldError) Unwrap() error { return ErrBadRequest }

func badField(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ToProtocol maps any error returned by the core to the client-facing error.
// Internal details never reach the client: unknown errors become 500.
func ToProtocol(err error) *protocol.Error {
	var fe *FieldError
	var ae *AuthError
	var le *ratelimit.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return &protocol.Error{Code: protocol.CodeUnauthorized, Reason: "unauthorized", Message: ae.Reason}
	case errors.As(err, &fe):
		return &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Message: fe.Reason, Field: fe.Field}
	case errors.Is(err, ErrBadRequest):
		return &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request"}
	case errors.Is(err, ErrUnauthorized):
		return &protocol.Error{Code: protocol.CodeUnauthorized, Reason: "unauthorized"}
	case errors.Is(err, ErrRegistrationClosed):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "registration_closed"}
	case errors.Is(err, ErrBlocked):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "blocked", Message: ErrBlocked.Error()}
	case errors.Is(err, ErrTooManyFollows):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "too_many_follows",
			Message: "you follow as many users as allowed (moments.follows_per_user): unfollow one to follow another"}
	case errors.Is(err, ErrTooManyBlocks):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "too_many_blocks",
			Message: "you block as many users as allowed (limits.blocks_per_user): unblock one to block another"}
	case errors.Is(err, ErrGroupFull):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "group_full", Message: ErrGroupFull.Error()}
	case errors.Is(err, ErrInviteRequired):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "invite_required", Message: ErrInviteRequired.Error()}
	case errors.Is(err, ErrTooManyLinks):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "too_many_links", Message: ErrTooManyLinks.Error()}
	case errors.Is(err, ErrLinkExpired):
		return &protocol.Error{Code: protocol.CodeGone, Reason: "link_expired", Message: ErrLinkExpired.Error()}
	case errors.Is(err, ErrTooManyBroadcastLists):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "too_many_lists",
			Message: "you have as many broadcast lists as allowed (limits.broadcast_lists_per_user): delete one to create another"}
	case errors.Is(err, store.ErrForbidden):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "forbidden"}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNotMember):
		// Absent and forbidden look the same (BAD_INPUTS J10).
		return &protocol.Error{Code: protocol.CodeNotFound, Reason: "not_found"}
	case errors.Is(err, ErrClientMsgIDInUse):
		return &protocol.Error{Code: protocol.CodeConflict, Reason: "client_msg_id_in_use", Field: "client_msg_id",
			Message: "client_msg_id already used in another conversation: nothing was stored; a new message needs a new client_msg_id"}
	case errors.Is(err, ErrAlreadyFriends):
		return &protocol.Error{Code: protocol.CodeConflict, Reason: "already_friends", Message: "you are friends already"}
	case errors.Is(err, ErrNotAccepted):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "not_accepted", Message: ErrNotAccepted.Error()}
	case errors.Is(err, store.ErrExists):
		return &protocol.Error{Code: protocol.CodeConflict, Reason: "exists"}
	case errors.Is(err, store.ErrInvalid):
		return &protocol.Error{Code: protocol.CodeUnprocessable, Reason: "invalid"}
	case errors.Is(err, ErrTooLarge):
		return &protocol.Error{Code: protocol.CodeTooLarge, Reason: "too_large"}
	case errors.As(err, &le):
		return &protocol.Error{Code: protocol.CodeTooMany, Reason: "rate_limited", Message: le.Msg, RetryAfterMS: le.RetryAfterMillis()}
	case errors.Is(err, ErrRateLimited):
		return &protocol.Error{Code: protocol.CodeTooMany, Reason: "rate_limited"}
	case errors.Is(err, ErrBusy):
		return &protocol.Error{Code: protocol.CodeUnavailable, Reason: "busy",
			Message: "too many sign-ins at once: retry after retry_after_ms", RetryAfterMS: auth.BusyRetry.Milliseconds()}
	case errors.Is(err, ErrTooManyDevices):
		return &protocol.Error{Code: protocol.CodeForbidden, Reason: "too_many_devices",
			Message: "this user has as many devices as allowed (limits.devices_per_user): revoke one (DELETE /v1/devices/{device}) to sign in on a new one"}
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &protocol.Error{Code: protocol.CodeUnavailable, Reason: "unavailable", Message: "retry later with the same client_msg_id"}
	default:
		return &protocol.Error{Code: protocol.CodeInternal, Reason: "internal", Message: "retry later with the same client_msg_id"}
	}
}

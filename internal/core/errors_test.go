package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

func TestToProtocol(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("send to g_x: %w", fmt.Errorf("store: %w", err)) }
	tests := []struct {
		name   string
		err    error
		code   int
		reason string
		field  string
	}{
		{"unauthorized", ErrUnauthorized, protocol.CodeUnauthorized, "unauthorized", ""},
		{"wrapped unauthorized", wrap(ErrUnauthorized), protocol.CodeUnauthorized, "unauthorized", ""},
		{"bad request", ErrBadRequest, protocol.CodeBadRequest, "bad_request", ""},
		{"wrapped bad request", wrap(ErrBadRequest), protocol.CodeBadRequest, "bad_request", ""},
		{"field error", &FieldError{Field: "seq", Reason: "is required"}, protocol.CodeBadRequest, "bad_request", "seq"},
		{"wrapped field error", wrap(badField("client_msg_id", "too long")), protocol.CodeBadRequest, "bad_request", "client_msg_id"},
		{"validator field", ValidateConvID("nope"), protocol.CodeBadRequest, "bad_request", "conv"},
		{"user validator field", ValidateUserID("a/b"), protocol.CodeBadRequest, "bad_request", "user"},
		{"too large", ErrTooLarge, protocol.CodeTooLarge, "too_large", ""},
		{"wrapped too large", fmt.Errorf("%w: 70000 bytes, the limit is 65536", ErrTooLarge), protocol.CodeTooLarge, "too_large", ""},
		{"unavailable", ErrUnavailable, protocol.CodeUnavailable, "unavailable", ""},
		{"wrapped unavailable", wrap(ErrUnavailable), protocol.CodeUnavailable, "unavailable", ""},
		{"deadline", context.DeadlineExceeded, protocol.CodeUnavailable, "unavailable", ""},
		{"wrapped deadline", wrap(context.DeadlineExceeded), protocol.CodeUnavailable, "unavailable", ""},
		{"canceled", context.Canceled, protocol.CodeUnavailable, "unavailable", ""},
		{"registration closed", ErrRegistrationClosed, protocol.CodeForbidden, "registration_closed", ""},
		{"rate limited", ErrRateLimited, protocol.CodeTooMany, "rate_limited", ""},
		{"limit refusal", &ratelimit.Error{Limit: ratelimit.LimitSend, RetryAfter: time.Second, Msg: "too many"}, protocol.CodeTooMany, "rate_limited", ""},
		{"wrapped limit refusal", wrap(&ratelimit.Error{Limit: ratelimit.LimitConnUser, RetryAfter: time.Second}), protocol.CodeTooMany, "rate_limited", ""},
		{"store forbidden", store.ErrForbidden, protocol.CodeForbidden, "forbidden", ""},
		{"blocked", ErrBlocked, protocol.CodeForbidden, "blocked", ""},
		{"too many blocks", fmt.Errorf("%w: at most 3", ErrTooManyBlocks), protocol.CodeForbidden, "too_many_blocks", ""},
		{"too many follows", fmt.Errorf("%w: at most 3", ErrTooManyFollows), protocol.CodeForbidden, "too_many_follows", ""},
		{"too many broadcast lists", fmt.Errorf("%w: at most 3", ErrTooManyBroadcastLists), protocol.CodeForbidden, "too_many_lists", ""},
		{"wrapped store forbidden", wrap(store.ErrForbidden), protocol.CodeForbidden, "forbidden", ""},
		{"store not found", store.ErrNotFound, protocol.CodeNotFound, "not_found", ""},
		{"wrapped store not found", wrap(store.ErrNotFound), protocol.CodeNotFound, "not_found", ""},
		// Not a member looks exactly like absent (BAD_INPUTS J10).
		{"store not member", store.ErrNotMember, protocol.CodeNotFound, "not_found", ""},
		{"wrapped store not member", wrap(store.ErrNotMember), protocol.CodeNotFound, "not_found", ""},
		{"store exists", store.ErrExists, protocol.CodeConflict, "exists", ""},
		{"wrapped store exists", wrap(store.ErrExists), protocol.CodeConflict, "exists", ""},
		{"store invalid", store.ErrInvalid, protocol.CodeUnprocessable, "invalid", ""},
		{"joined with a sentinel", errors.Join(errors.New("x"), store.ErrNotFound), protocol.CodeNotFound, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pe := ToProtocol(tt.err)
			if pe == nil {
				t.Fatalf("ToProtocol(%v) = nil", tt.err)
			}
			if pe.Code != tt.code || pe.Reason != tt.reason || pe.Field != tt.field {
				t.Errorf("ToProtocol(%v) = {code %d, reason %q, field %q}, want {%d, %q, %q}",
					tt.err, pe.Code, pe.Reason, pe.Field, tt.code, tt.reason, tt.field)
			}
			// Wrapping context ("send to g_x", "store") is for logs only.
			if tt.field == "" && (strings.Contains(pe.Message, "g_x") || strings.Contains(pe.Message, "store")) {
				t.Errorf("message %q leaks the wrapping context", pe.Message)
			}
		})
	}
}

func TestToProtocolNil(t *testing.T) {
	t.Parallel()
	if pe := ToProtocol(nil); pe != nil {
		t.Fatalf("ToProtocol(nil) = %+v, want nil", pe)
	}
}

func TestToProtocolFieldErrorMessage(t *testing.T) {
	t.Parallel()
	pe := ToProtocol(fmt.Errorf("history: %w", &FieldError{Field: "limit", Reason: "must be between 1 and 300"}))
	if pe.Message != "must be between 1 and 300" {
		t.Errorf("message = %q, want the field error's reason", pe.Message)
	}
}

// TestToProtocolUnknown: an unknown error is a 500 that says nothing of the
// internals (paths, SQL, addresses, secrets).
func TestToProtocolUnknown(t *testing.T) {
	t.Parallel()
	secrets := []string{"/var/lib/parley/parley.db", "SELECT", "10.0.0.7", "hunter2", "database is locked"}
	errs := []error{
		errors.New("sqlite: SELECT * FROM users: database is locked at /var/lib/parley/parley.db"),
		fmt.Errorf("dial 10.0.0.7:5432: %w", errors.New("password=hunter2 refused")),
		&protocol.Error{Code: 418, Reason: "teapot", Message: "hunter2"}, // gateways handle *protocol.Error themselves
	}
	for _, err := range errs {
		pe := ToProtocol(err)
		if pe == nil || pe.Code != protocol.CodeInternal || pe.Reason != "internal" || pe.Field != "" {
			t.Errorf("ToProtocol(%v) = %+v, want a 500 internal error", err, pe)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(pe.Message, s) || strings.Contains(pe.Reason, s) {
				t.Errorf("ToProtocol(%v) leaks %q: %+v", err, s, pe)
			}
		}
	}
}

// TestToProtocolCodes: every mapped code is an HTTP error status, so
// gateways can use it as one.
func TestToProtocolCodes(t *testing.T) {
	t.Parallel()
	for _, err := range []error{ErrUnauthorized, ErrBadRequest, ErrTooLarge, ErrUnavailable, ErrRegistrationClosed,
		ErrRateLimited, store.ErrNotFound, store.ErrExists, store.ErrNotMember, store.ErrForbidden, store.ErrInvalid,
		errors.New("boom"), &FieldError{Field: "f", Reason: "r"}} {
		pe := ToProtocol(err)
		if pe.Code < 400 || pe.Code > 599 {
			t.Errorf("ToProtocol(%v).Code = %d, outside 400–599", err, pe.Code)
		}
		if pe.Reason == "" {
			t.Errorf("ToProtocol(%v) has no reason", err)
		}
	}
}

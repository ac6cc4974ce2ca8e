package admit

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

func TestOriginAllowed(t *testing.T) {
	t.Parallel()
	list := []string{"https://app.example", "http://localhost:3000/", "HTTPS://Upper.Example"}
	for _, tt := range []struct {
		origin string
		want   bool
	}{
		{"https://app.example", true},
		{"HTTPS://APP.EXAMPLE", true},
		{"http://localhost:3000", true},
		{"https://upper.example", true},
		{"http://app.example", false},
		{"https://app.example:8443", false},
		{"https://app.example.evil", false},
		{"https://evil.example", false},
		{"null", false},
		{"", false},
		{"file:///etc", false},
		{"://bad", false},
	} {
		if got := OriginAllowed(list, tt.origin); got != tt.want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
	if !OriginAllowed([]string{"*"}, "https://any.example") || !OriginAllowed([]string{"*"}, "app://x.example") {
		t.Error(`"*" must allow any origin with a host`)
	}
	if OriginAllowed([]string{"*"}, "null") {
		t.Error(`"*" allowed "null"`)
	}
	if OriginAllowed(nil, "https://app.example") {
		t.Error("an empty list allowed an origin")
	}
}

func TestWriteTooMany(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		err        error
		retryAfter string
		retryMS    int64
	}{
		{"limit", &ratelimit.Error{Limit: ratelimit.LimitOps, RetryAfter: 1500 * time.Millisecond, Msg: "slow down"}, "2", 1500},
		{"wrapped", errors.Join(errors.New("admit"), &ratelimit.Error{Limit: ratelimit.LimitOps, RetryAfter: time.Millisecond, Msg: "x"}), "1", 1},
		{"plain", ratelimit.ErrLimited, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			WriteTooMany(w, tt.err)
			if w.Code != http.StatusTooManyRequests {
				t.Errorf("status %d, want 429", w.Code)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var body struct {
				Error *protocol.Error `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if body.Error.Code != protocol.CodeTooMany || body.Error.Reason != "rate_limited" || body.Error.RetryAfterMS != tt.retryMS {
				t.Errorf("error %+v", body.Error)
			}
		})
	}
}

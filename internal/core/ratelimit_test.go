package core

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

func withRateLimits(rl RateLimits) func(*Options) {
	return func(o *Options) { o.RateLimits = rl }
}

// rateLimited returns parley_rate_limited_total by limit.
func rateLimited(t *testing.T, c *Core) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Metrics().RateLimited)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "limit" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if len(out) != len(ratelimit.Names) {
		t.Fatalf("parley_rate_limited_total has %d limits, want every one of %v", len(out), ratelimit.Names)
	}
	return out
}

// limitOf returns the limit that refused err, failing if it is not a
// refusal with a positive wait.
func limitOf(t *testing.T, err error) *ratelimit.Error {
	t.Helper()
	var le *ratelimit.Error
	if !errors.As(err, &le) || !errors.Is(err, ErrRateLimited) || le.RetryAfter <= 0 {
		t.Fatalf("%v is not a rate-limit refusal with a wait", err)
	}
	return le
}

// TestSendRateLimit: sends, edits and deletes of one user share one bucket,
// whatever the device; a refusal stores nothing, maps to 429 with
// retry_after_ms and is counted; other users are not affected.
func TestSendRateLimit(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, withRateLimits(RateLimits{SendsPerSecond: 2, SendBurst: 3}))
	phone, web := Identity{User: "alice", Device: "phone"}, Identity{User: "alice", Device: "web"}
	var acks []protocol.Ack
	for i := range 3 {
		id := []Identity{phone, web}[i%2]
		ack, err := e.c.Send(e.ctx, id, SendRequest{To: "bob", ClientMsgID: fmt.Sprint("m", i), Body: "hi"})
		if err != nil {
			t.Fatalf("send %d within the burst: %v", i, err)
		}
		acks = append(acks, ack)
	}
	conv := acks[0].Conv
	_, err := e.c.Send(e.ctx, web, SendRequest{Conv: conv, ClientMsgID: "over", Body: "hi"})
	if le := limitOf(t, err); le.Limit != ratelimit.LimitSend || le.RetryAfter != 500*time.Millisecond {
		t.Fatalf("send past the burst: %+v, want send, 500ms", le)
	}
	pe := ToProtocol(err)
	if pe.Code != protocol.CodeTooMany || pe.Reason != "rate_limited" || pe.RetryAfterMS != 500 {
		t.Fatalf("ToProtocol = %+v, want 429 rate_limited retry_after_ms 500", pe)
	}
	if _, err := e.c.Edit(e.ctx, phone, conv, 1, "edit-1", "changed"); limitOf(t, err).Limit != ratelimit.LimitSend {
		t.Fatalf("edit past the burst: %v", err)
	}
	if _, err := e.c.Delete(e.ctx, phone, conv, 1, "del-1"); limitOf(t, err).Limit != ratelimit.LimitSend {
		t.Fatalf("delete past the burst: %v", err)
	}
	if _, err := e.c.Send(e.ctx, Identity{User: "bob", Device: "phone"}, SendRequest{Conv: conv, ClientMsgID: "b1", Body: "hi"}); err != nil {
		t.Fatalf("another user: %v", err)
	}
	if got := rateLimited(t, e.c)[ratelimit.LimitSend]; got != 3 {
		t.Fatalf("parley_rate_limited_total{limit=send} = %v, want 3", got)
	}
	// The refused send was not stored: the retry with its id is new.
	e.advance(500 * time.Millisecond)
	ack, err := e.c.Send(e.ctx, web, SendRequest{Conv: conv, ClientMsgID: "over", Body: "hi"})
	if err != nil || ack.Duplicate || ack.Seq != 5 {
		t.Fatalf("retry after the wait: %+v %v, want a new message with seq 5", ack, err)
	}
}

// TestAttachLimits: connections per user (a takeover of a connected device
// does not count) and the flapping ban of a device, which ends.
func TestAttachLimits(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, withRateLimits(RateLimits{ConnectionsPerUser: 2, FlappingPerMinute: 3, FlappingBan: time.Minute}))
	attach := func(user, device string) (*Client, *fakeTransport, error) {
		tr := newFakeTransport()
		cl, err := e.c.Attach(Identity{User: user, Device: device}, tr)
		if cl != nil {
			t.Cleanup(func() { cl.Close(protocol.CloseShutdown, "test over") })
		}
		return cl, tr, err
	}
	_, phoneTr, err := attach("alice", "phone")
	if err != nil {
		t.Fatal(err)
	}
	web, _, err := attach("alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	_, tabletTr, err := attach("alice", "tablet")
	if le := limitOf(t, err); le.Limit != ratelimit.LimitConnUser {
		t.Fatalf("third device: %+v", le)
	}
	select {
	case code := <-tabletTr.closed:
		t.Fatalf("the core closed a refused transport (%d); that is the gateway's job", code)
	default:
	}
	if _, _, err := attach("bob", "phone"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	// The phone reconnects: it takes over its own slot (its second connect).
	if _, _, err := attach("alice", "phone"); err != nil {
		t.Fatalf("takeover at the limit: %v", err)
	}
	if code := <-phoneTr.closed; code != protocol.CloseTakeover {
		t.Fatalf("replaced phone closed with %d", code)
	}
	// A third connect within the minute is allowed, the fourth bans.
	if _, _, err := attach("alice", "phone"); err != nil {
		t.Fatal(err)
	}
	_, _, err = attach("alice", "phone")
	if le := limitOf(t, err); le.Limit != ratelimit.LimitFlapping || le.RetryAfter != time.Minute {
		t.Fatalf("fourth connect of the phone in a minute: %+v, want flapping, 1m", le)
	}
	// Closing a connection frees a slot for another device; the banned
	// phone stays banned until the ban ends.
	web.Close(1000, "")
	if _, _, err := attach("alice", "tablet"); err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	e.advance(59 * time.Second)
	if _, _, err := attach("alice", "phone"); limitOf(t, err).Limit != ratelimit.LimitFlapping {
		t.Fatalf("during the ban: %v", err)
	}
	e.advance(time.Second)
	if _, _, err := attach("alice", "phone"); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
	m := rateLimited(t, e.c)
	if u, f := m[ratelimit.LimitConnUser], m[ratelimit.LimitFlapping]; u != 1 || f != 2 {
		t.Fatalf("refusals counted: conn_user %v flapping %v, want 1 and 2", u, f)
	}
}

func TestCloseReason(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{
		1000: "client", 1001: "client", 1002: "protocol_error", 1003: "protocol_error", 1007: "protocol_error",
		1008: "policy", 1009: "too_big", 1011: "other",
		protocol.CloseShutdown: "shutdown", protocol.CloseSlowConsumer: "slow_consumer", protocol.ClosePingTimeout: "ping_timeout",
		protocol.CloseTooManyConnections: "conn_limit", protocol.CloseFlapping: "flapping",
		protocol.CloseAuthTimeout: "auth_timeout", protocol.CloseAuthFailed: "auth_failed", protocol.CloseRevoked: "revoked",
		protocol.CloseKicked: "kicked", protocol.CloseBadProtocol: "bad_protocol", protocol.CloseTakeover: "takeover",
		3999: "other",
	} {
		if got := closeReason(code); got != want {
			t.Errorf("closeReason(%d) = %q, want %q", code, got, want)
		}
	}
}

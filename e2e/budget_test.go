package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// drainBudget sends frames made by req over c until the first 429 and
// returns how many were accepted before it; it fails the test if none is
// refused within 500 frames or a reply is neither ok nor 429.
func drainBudget(t *testing.T, c *wsrConn, what string, req func(i int) protocol.Request) int {
	t.Helper()
	for i := 0; i < 500; i++ {
		f := c.call(req(i))
		switch {
		case f.Error == nil:
		case f.Error.Code == 429:
			if f.Error.Reason != "rate_limited" || f.Error.RetryAfterMS <= 0 {
				t.Fatalf("%s refusal %+v, want rate_limited with retry_after_ms", what, f.Error)
			}
			return i
		default:
			t.Fatalf("%s %d: %+v", what, i, f.Error)
		}
	}
	t.Fatalf("500 %s in a row accepted", what)
	return 0
}

// TestEveryOperationHasABudget: acks, reads and typing share one bucket per
// user, history, lists, presence and resumes another (DESIGN.md §2.15);
// past them a client gets 429 with retry_after_ms and the connection stays
// usable; HTTP spends from the same buckets.
func TestEveryOperationHasABudget(t *testing.T) {
	t.Parallel()
	const opsBurst, queryBurst = 20, 10
	s := startServer(t, func(c *config.Config) {
		c.RateLimits.OpsPerUserPerSecond, c.RateLimits.OpsBurst = 1, opsBurst
		c.RateLimits.QueriesPerUserPerSecond, c.RateLimits.QueryBurst = 1, queryBurst
		c.Limits.MaxConsecutiveErrors = 1 // a refusal is not a malformed frame
	})
	s.user("alice")
	s.user("bob")
	ack, err := s.login("alice", "laptop").Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	alice := wsrLogin(t, s, "alice", "phone")
	for _, tc := range []struct {
		name  string
		burst int
		req   func(i int) protocol.Request
	}{
		{"typing", opsBurst, func(i int) protocol.Request {
			return protocol.Request{ID: fmt.Sprint("t", i), Op: protocol.OpTyping, Conv: ack.Conv}
		}},
		{"history", queryBurst, func(i int) protocol.Request {
			return protocol.Request{ID: fmt.Sprint("h", i), Op: protocol.OpHistory, Conv: ack.Conv}
		}},
	} {
		start := time.Now()
		n := drainBudget(t, alice, tc.name, tc.req)
		if most := tc.burst + int(time.Since(start).Seconds()) + 1; n < tc.burst || n > most {
			t.Fatalf("%s: %d accepted before the first refusal, want %d to %d", tc.name, n, tc.burst, most)
		}
	}
	// The other operations of each class are refused too, over HTTP and
	// WebSocket, and the connection is still usable.
	for _, req := range []protocol.Request{
		{ID: "r", Op: protocol.OpRead, Conv: ack.Conv, Seq: 1},
		{ID: "a", Op: protocol.OpAck, Conv: ack.Conv, Seq: 1},
		{ID: "c", Op: protocol.OpConvs},
		{ID: "m", Op: protocol.OpMembers, Conv: ack.Conv},
		{ID: "p", Op: protocol.OpPresence, Users: []string{"bob"}},
		{ID: "res", Op: protocol.OpResume},
	} {
		if f := alice.call(req); f.Error == nil || f.Error.Code != 429 {
			t.Fatalf("%s with both budgets spent: %+v, want 429", req.Op, f)
		}
	}
	if f := alice.call(protocol.Request{ID: "ping", Op: protocol.OpPing}); f.Type != protocol.TypePong {
		t.Fatalf("ping after refusals: %+v", f)
	}
	web := s.login("alice", "web")
	r := rawDo(t, nil, newReq(t, "GET", s.URL+"/v1/conversations/"+ack.Conv+"/messages", nil, "Authorization", "Bearer "+web.Token))
	refused429(t, "HTTP history past the query budget", r, 1)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("HTTP history: %d", r.status)
	}
}

// TestTypingIsCoalesced: a flood of typing frames reaches the other member
// as at most one notice per typing_interval.
func TestTypingIsCoalesced(t *testing.T) {
	t.Parallel()
	const interval = 2 * time.Second
	s := startServer(t, func(c *config.Config) { c.RateLimits.TypingInterval = interval })
	s.user("alice")
	s.user("bob")
	ack, err := s.login("alice", "laptop").Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	bob := s.dial("bob", "phone")
	recv(t, bob, 1, 10*time.Second)
	alice := wsrLogin(t, s, "alice", "phone")
	start := time.Now()
	const flood = 500
	for range flood {
		alice.send(protocol.Request{Op: protocol.OpTyping, Conv: ack.Conv})
	}
	// A ping after the flood: its pong means every typing frame was handled.
	if f := alice.call(protocol.Request{ID: "p", Op: protocol.OpPing}); f.Type != protocol.TypePong {
		t.Fatalf("ping: %+v", f)
	}
	elapsed := time.Since(start)
	// The marker after the flood: once bob has it, every typing notice
	// relayed before it has arrived.
	if _, err := s.login("alice", "laptop2").Send(ctxT(t), ack.Conv, parley.SendOptions{Body: "marker"}); err != nil {
		t.Fatal(err)
	}
	typing := 0
	for done := false; !done; {
		select {
		case e := <-bob.Events():
			if e.Type == protocol.TypeTyping {
				typing++
			}
		case m := <-bob.Messages():
			done = m.Body == "marker"
		case <-time.After(10 * time.Second):
			t.Fatal("no marker")
		}
	}
	// The SDK hands over events in the order it reads them: what came
	// before the marker is in the channel already.
	for drained := false; !drained; {
		select {
		case e := <-bob.Events():
			if e.Type == protocol.TypeTyping {
				typing++
			}
		default:
			drained = true
		}
	}
	if most := int(elapsed/interval) + 2; typing < 1 || typing > most {
		t.Fatalf("bob got %d typing notices from a flood of %d in %v, want 1 to %d", typing, flood, elapsed, most)
	}
}

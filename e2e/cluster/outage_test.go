package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// The broker stops while two nodes serve their users: each node keeps
// accepting and storing sends, and when the broker is back the devices on
// the other node get everything committed meanwhile, in order, a
// conversation created during the outage included, without waiting for a
// next message or a reconnect. Not parallel: it stops the package's broker.
func TestBrokerOutageLosesNothing(t *testing.T) {
	a, b, u := twoNodes(t, "alice", "bob", "carol")
	alice, bob, carol := u[0], u[1], u[2]
	// The broker's restart and the nodes' reconnection take their time on
	// a loaded machine: the test's calls get more than ctxT's minute.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alicePhone := a.dial(alice, "phone")
	bobPhone := b.dial(bob, "phone")
	first, err := alicePhone.Send(ctx, parley.SendOptions{To: bob, Body: "before"})
	if err != nil {
		t.Fatal(err)
	}
	if m := nextBody(t, bobPhone, 10*time.Second); m.ID != first.ID {
		t.Fatalf("bob got %+v, want %+v", m, first)
	}

	if err := rmq.StopBroker(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			// The other tests need the broker.
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := rmq.StartBroker(sctx); err != nil {
				t.Errorf("start the broker again: %v", err)
			}
		}
	})
	var during []string
	for i := range 3 {
		body := fmt.Sprint("during ", i)
		if _, err := alicePhone.Send(ctx, parley.SendOptions{To: bob, Body: body}); err != nil {
			t.Fatalf("send %q without a broker: %v", body, err)
		}
		during = append(during, body)
	}
	newConv, err := a.login(carol, "web").Send(ctx, "", parley.SendOptions{To: bob, Body: "a new conversation"})
	if err != nil {
		t.Fatalf("first message of a new conversation without a broker: %v", err)
	}

	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	err = rmq.StartBroker(sctx)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	restarted = true

	got := map[string][]string{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got[first.Conv]) < len(during) || len(got[newConv.Conv]) < 1 {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("after the broker came back bob got %v, want %v in %s and one in %s", got, during, first.Conv, newConv.Conv)
		}
		m := nextBody(t, bobPhone, left)
		got[m.Conv] = append(got[m.Conv], m.Body)
	}
	for i, body := range got[first.Conv] {
		if body != during[i] {
			t.Fatalf("bob's messages from alice after the outage: %v, want %v in that order", got[first.Conv], during)
		}
	}
	if got[newConv.Conv][0] != "a new conversation" {
		t.Fatalf("bob's message from carol: %v", got[newConv.Conv])
	}

	// Live again.
	after, err := alicePhone.Send(ctx, parley.SendOptions{To: bob, Body: "after"})
	if err != nil {
		t.Fatal(err)
	}
	// (Node a may reconnect after node b: up to 10 s of backoff. When it
	// does, b's devices catch up what a committed meanwhile.)
	if m := nextBody(t, bobPhone, 30*time.Second); m.ID != after.ID {
		t.Fatalf("bob got %+v, want %+v", m, after)
	}
}

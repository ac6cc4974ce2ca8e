package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/testinfra/sdkwait"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// nextPresence waits for c's next presence event about user.
func nextPresence(t *testing.T, c *parley.Client, user string) protocol.Presence {
	t.Helper()
	e := nextEvent(t, c, "presence of "+user, func(e parley.Event) bool {
		return e.Type == protocol.TypePresence && e.Presence != nil && e.Presence.User == user
	})
	return *e.Presence
}

// onlineThrough reports whether api's node says user is online.
func onlineThrough(t *testing.T, api *parley.API, user string) bool {
	t.Helper()
	ps, err := api.Presence(ctxT(t), user)
	if err != nil || len(ps) != 1 {
		t.Fatalf("presence of %s: %+v, %v", user, ps, err)
	}
	return ps[0].Online
}

// A user is online while a device is connected to any node: a friend on
// another node is told when the first device connects and when the last
// one leaves, not when one of two leaves, and every node answers the
// same to a presence query.
func TestPresenceAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, u := twoNodes(t, "alice", "bob")
	alice, bob := u[0], u[1]
	c := a.app.Core()
	ctx := context.Background()
	if _, err := c.RequestFriend(ctx, core.Identity{User: bob, Device: "setup"}, alice, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AnswerFriend(ctx, core.Identity{User: alice, Device: "setup"}, bob, true); err != nil {
		t.Fatal(err)
	}
	bobPhone := b.dial(bob, "phone")
	bobOnA := a.login(bob, "web-a")
	bobOnB := b.login(bob, "web-b")

	alicePhone := a.dial(alice, "phone")
	if p := nextPresence(t, bobPhone, alice); !p.Online {
		t.Fatalf("bob on b was told %+v when alice connected to a", p)
	}
	sdkwait.Until(t, "node b to say alice is online", 15*time.Second, func() bool { return onlineThrough(t, bobOnB, alice) })

	// A second device on b, which node a hears of; then the one on a
	// leaves: node a, with no device of alice's, still says she is online.
	aliceTablet := b.dial(alice, "tablet")
	sdkwait.Until(t, "node a to hear of alice's tablet on b", 15*time.Second, func() bool {
		return a.app.Core().OnlineElsewhere(alice)
	})
	seen := func() int64 {
		u, err := a.app.Core().User(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		return u.LastSeen
	}
	before := seen()
	alicePhone.Close()
	// Node a's presence flush records alice's last seen as her device
	// there leaves; what it announces it publishes just after.
	sdkwait.Until(t, "node a to record alice's phone leaving", 15*time.Second, func() bool { return seen() > before })
	if !onlineThrough(t, bobOnA, alice) {
		t.Fatal("node a says alice is offline while her tablet is connected to b")
	}
	// A message through node a after that flush reaches bob after anything
	// node a published before it (one channel, one queue, one handler):
	// bob must have been told nothing of alice meanwhile.
	barrier, err := a.login(alice, "web").Send(ctx, "", parley.SendOptions{To: bob, Body: "barrier"})
	if err != nil {
		t.Fatal(err)
	}
	if m := nextBody(t, bobPhone, 15*time.Second); m.ID != barrier.ID {
		t.Fatalf("bob got %+v, want the barrier %+v", m, barrier)
	}
	for len(bobPhone.Events()) > 0 {
		if e := <-bobPhone.Events(); e.Type == protocol.TypePresence && e.Presence != nil && e.Presence.User == alice {
			t.Fatalf("bob was told %+v when alice's device on a left and the one on b stayed", *e.Presence)
		}
	}

	// The last device leaves: bob is told, and both nodes say so.
	aliceTablet.Close()
	if p := nextPresence(t, bobPhone, alice); p.Online {
		t.Fatalf("bob was told %+v after alice's last device left", p)
	}
	for name, api := range map[string]*parley.API{"a": bobOnA, "b": bobOnB} {
		sdkwait.Until(t, "node "+name+" to say alice is offline", 15*time.Second, func() bool { return !onlineThrough(t, api, alice) })
	}
}

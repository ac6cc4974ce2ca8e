package e2e

import (
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// A client that vanishes without closing (no FIN, no pongs: here a
// connection whose reader stopped) is noticed by the ping timeout and shown
// offline to its contacts (here a co-member of a small group).
func TestVanishedClientGoesOffline(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Timeouts.PingInterval = 200 * time.Millisecond
		c.Timeouts.PongTimeout = 200 * time.Millisecond
	})
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	alice := s.dial("alice", "phone")
	if _, err := s.login("alice", "web").CreateGroup(ctx, "pals", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	// Bob connects with a raw WebSocket and then never reads again, so the
	// server's pings go unanswered, as with a frozen or unplugged device.
	bob := s.login("bob", "phone")
	conn := rawDial(t, s, bob.Token)
	defer conn.CloseNow()
	on := event(t, alice, protocol.TypePresence, 5*time.Second, func(e parley.Event) bool { return e.Presence.User == "bob" })
	if !on.Presence.Online {
		t.Fatalf("bob should come online first: %+v", on.Presence)
	}
	off := event(t, alice, protocol.TypePresence, 5*time.Second, func(e parley.Event) bool { return e.Presence.User == "bob" })
	if off.Presence.Online || off.Presence.LastSeen == 0 {
		t.Fatalf("bob should be offline with last seen: %+v", off.Presence)
	}
}

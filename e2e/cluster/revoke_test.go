package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testinfra/sdkwait"
	parley "github.com/parley-im/parley/sdk/go"
)

// Revoking a device and kicking a user through one node close the
// connections on the other node.
func TestRevocationsCloseConnectionsOnEveryNode(t *testing.T) {
	t.Parallel()
	a, b, u := twoNodes(t, "alice")
	alice := u[0]
	b.dial(alice, "phone")
	b.dial(alice, "tablet")
	sdkwait.Until(t, "alice's two devices on node b", 15*time.Second, func() bool { return b.app.Core().Online() == 2 })

	if err := a.app.Core().RevokeDevice(context.Background(), alice, "phone"); err != nil {
		t.Fatal(err)
	}
	sdkwait.Until(t, "node b to close the revoked phone", 15*time.Second, func() bool { return b.app.Core().Online() == 1 })

	if n := a.app.Core().Kick(alice); n != 0 {
		t.Fatalf("node a closed %d connections of alice's, who has none there", n)
	}
	sdkwait.Until(t, "node b to close the kicked tablet", 15*time.Second, func() bool { return b.app.Core().Online() == 0 })
}

// A device that connects to another node takes over its connection on
// the first one, as it would on one node; the new connection stays.
func TestDeviceTakeoverAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, u := twoNodes(t, "alice", "bob")
	alice, bob := u[0], u[1]
	a.dial(alice, "phone")
	sdkwait.Until(t, "alice's phone on node a", 15*time.Second, func() bool { return a.app.Core().Online() == 1 })
	phone := b.dial(alice, "phone")
	sdkwait.Until(t, "node a to close the phone's older connection", 15*time.Second, func() bool { return a.app.Core().Online() == 0 })
	if n := b.app.Core().Online(); n != 1 {
		t.Fatalf("node b has %d connections, want the phone's new one", n)
	}
	if _, err := phone.Send(ctxT(t), parley.SendOptions{To: bob, Body: "still here"}); err != nil {
		t.Fatalf("send through the new connection: %v", err)
	}
}

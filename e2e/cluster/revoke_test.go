package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testinfra/sdkwait"
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

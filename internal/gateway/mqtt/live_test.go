package mqtt

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// gatedStore holds the first read of one device's positions (the core
// reads them when its writer starts a resume) until open is closed.
type gatedStore struct {
	store.Store
	user, device string
	once         sync.Once
	reached      chan struct{}
	open         chan struct{}
}

func (g *gatedStore) DevicePositions(ctx context.Context, user, device string) (map[string]uint64, error) {
	if user == g.user && device == g.device {
		first := false
		g.once.Do(func() { first = true })
		if first {
			close(g.reached)
			<-g.open
		}
	}
	return g.Store.DevicePositions(ctx, user, device)
}

// TestCleanSessionGetsWhatIsCommittedAfterItsSuback: a clean session gets
// what is committed after its first SUBACK, also when the core's writer
// starts the delivery only later (here: held until a message has been
// committed after the SUBACK). It used to start each conversation at its
// newest message as the writer found it then, skipping that message.
func TestCleanSessionGetsWhatIsCommittedAfterItsSuback(t *testing.T) {
	gate := &gatedStore{user: "alice", device: "clean", reached: make(chan struct{}), open: make(chan struct{})}
	s, c := newGateway(t, func(o *core.Options) {
		gate.Store = o.Store
		o.Store = gate
	})
	defer func() {
		select {
		case <-gate.open:
		default:
			close(gate.open)
		}
	}()
	ctx := context.Background()
	bob := core.Identity{User: "bob", Device: "web"}
	before, err := c.Send(ctx, bob, core.SendRequest{To: "alice", Body: "before the subscription"})
	if err != nil {
		t.Fatal(err)
	}

	client, server := net.Pipe()
	pc := dialPipe(t, s, client, server)
	connect := connectPacket(4) // clean session
	connect.Connect.ClientIdentifier = "clean"
	pc.connected(connect)
	pc.put(subscribePacket(4, 1, "IMS/alice/Inbox/Msg/+"))
	pc.expect(packets.Suback, 5*time.Second)
	select {
	case <-gate.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the core's writer never started the delivery")
	}
	after, err := c.Send(ctx, bob, core.SendRequest{To: "alice", Body: "after the SUBACK"})
	if err != nil {
		t.Fatal(err)
	}
	close(gate.open)

	deadline := time.After(10 * time.Second)
	for {
		select {
		case p, ok := <-pc.pkts:
			if !ok {
				t.Fatal("connection closed")
			}
			if p.typ() != packets.Publish {
				continue
			}
			_, payload := publishOf(t, p, false)
			var m protocol.Message
			if err := json.Unmarshal(payload, &m); err != nil {
				t.Fatalf("delivery %s: %v", payload, err)
			}
			if m.Seq <= before.Seq {
				t.Fatalf("a clean session got seq %d, committed before its subscription", m.Seq)
			}
			if m.Seq == after.Seq {
				return
			}
		case <-deadline:
			t.Fatalf("seq %d, committed after the SUBACK, was not delivered", after.Seq)
		}
	}
}

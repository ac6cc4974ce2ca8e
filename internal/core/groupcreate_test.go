package core

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/protocol"
)

// meshBus joins the in-process buses of several nodes: a publish reaches
// every node's bus, which passes on what its node subscribed to, as a
// broker between nodes would.
type meshBus struct {
	*local.Bus
	nodes []*local.Bus
}

func (b *meshBus) SingleNode() bool { return false }

func (b *meshBus) Publish(ctx context.Context, m bus.Message) error {
	for _, n := range b.nodes {
		if err := n.Publish(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// TestGroupCreationIsOneEventPerDevice: creating a group of 20 members,
// each online, half of them on another node, sends every member's device
// one event, the creation at seq 1, and no "added" event per member (n
// events each, n² in all, before). The devices on the other node learn of
// the group from the bus, and then receive what follows.
func TestGroupCreationIsOneEventPerDevice(t *testing.T) {
	t.Parallel()
	busA, busB := local.New(), local.New()
	nodes := []*local.Bus{busA, busB}
	var opts Options
	e := newCoreEnv(t, Retention{}, func(o *Options) {
		o.Bus, o.NodeID = &meshBus{Bus: busA, nodes: nodes}, "a"
		opts = *o
	})
	ctx := e.ctx
	opts.Bus, opts.NodeID = &meshBus{Bus: busB, nodes: nodes}, "b"
	nodeB, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nodeB.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node b: %v", err)
		}
	})

	const n = 20
	users := []string{"alice"} // the creator, on node a
	for i := 1; i < n; i++ {
		u := fmt.Sprintf("m%02d", i)
		if _, err := e.c.CreateUser(ctx, u, "", ""); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	trs := make([]*fakeTransport, n)
	for i, u := range users {
		node := e.c
		if i%2 == 1 {
			node = nodeB
		}
		trs[i] = newFakeTransport()
		cl, err := node.Attach(Identity{User: u, Device: "phone"}, trs[i])
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close(protocol.CloseShutdown, "test over")
		cl.Resume("r", nil)
		trs[i].next(t, protocol.TypeResumed)
	}

	alice := Identity{User: "alice", Device: "phone"}
	g, err := e.c.CreateGroup(ctx, alice, "twenty", append(users[1:], "m01")) // a repeat too
	if err != nil {
		t.Fatal(err)
	}
	if g.LastSeq != 1 || g.Role != protocol.RoleOwner {
		t.Fatalf("created %+v, want last seq 1 and role owner", g)
	}
	// Every device gets the creation event first: then each is subscribed
	// to the group wherever it is, and a marker reaches them all.
	events := make([][]*protocol.Message, n)
	readGroup := func(i int, until uint64) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-trs[i].events:
				if ev.Type != protocol.TypeMsg || ev.Conv != g.ID {
					continue // presence and the like
				}
				events[i] = append(events[i], ev.Msg)
				if ev.Msg.Seq >= until {
					return
				}
			case code := <-trs[i].closed:
				t.Fatalf("%s's connection closed with %d", users[i], code)
			case <-deadline:
				t.Fatalf("%s received %d events of the group and not seq %d", users[i], len(events[i]), until)
			}
		}
	}
	for i := range users {
		readGroup(i, 1)
	}
	marker, err := e.c.Send(ctx, alice, SendRequest{Conv: g.ID, Body: "marker"})
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		readGroup(i, marker.Seq)
		evs := events[i]
		if len(evs) != 2 {
			t.Fatalf("%s received %d events of the group up to the marker, want the creation and the marker", u, len(evs))
		}
		c := evs[0]
		if c.Seq != 1 || c.Kind != protocol.KindMember || c.From != "alice" || c.Member == nil ||
			*c.Member != (protocol.MemberChange{User: "alice", Action: protocol.MemberCreated, Name: "twenty"}) {
			t.Fatalf("%s's first event = %+v (member %+v), want alice's creation of twenty", u, c, c.Member)
		}
		if m := evs[1]; m.Seq != marker.Seq || m.Body != "marker" {
			t.Fatalf("%s's second event = %+v, want the marker", u, m)
		}
	}
	// The members come from the members operation, on either node.
	for _, node := range []*Core{e.c, nodeB} {
		ms, err := node.Members(ctx, "m01", g.ID)
		if err != nil || len(ms) != n {
			t.Fatalf("members = %+v, %v; want %d", ms, err, n)
		}
		for _, m := range ms {
			want := protocol.RoleMember
			if m.User == "alice" {
				want = protocol.RoleOwner
			}
			if m.Role != want || m.JoinedSeq != 0 {
				t.Fatalf("member %+v, want role %s joined at 0", m, want)
			}
		}
	}
}

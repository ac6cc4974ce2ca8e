package cluster

import (
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testinfra/sdkwait"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// nextBody waits for the next content message on c, skipping other
// entries (membership events), and returns it.
func nextBody(t *testing.T, c *parley.Client, timeout time.Duration) protocol.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatal("messages channel closed")
			}
			if m.Kind == protocol.KindMessage {
				return m
			}
		case <-deadline:
			t.Fatalf("no message within %v", timeout)
		}
	}
}

// nextEvent waits for an event of c that match accepts.
func nextEvent(t *testing.T, c *parley.Client, what string, match func(parley.Event) bool) parley.Event {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("events channel closed waiting for %s", what)
			}
			if match(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s within 15s", what)
		}
	}
}

// Two nodes on one database and one broker: users connected to different
// nodes talk live, a user's devices on both nodes see the same
// conversation, typing and read receipts cross, a group's messages reach
// members on the other node, and a block made on one node stops sends
// through the other.
func TestTwoNodesThroughRabbitMQ(t *testing.T) {
	t.Parallel()
	a, b, u := twoNodes(t, "alice", "bob", "carol")
	alice, bob, carol := u[0], u[1], u[2]
	ctx := ctxT(t)
	alicePhone := a.dial(alice, "phone")   // on node a
	aliceTablet := b.dial(alice, "tablet") // on node b
	bobPhone := b.dial(bob, "phone")

	ack, err := alicePhone.Send(ctx, parley.SendOptions{To: bob, Body: "hello from a"})
	if err != nil {
		t.Fatal(err)
	}
	// Every device of both users gets it, the sending one too.
	for name, c := range map[string]*parley.Client{"bob on b": bobPhone, "alice's tablet on b": aliceTablet, "alice's phone on a": alicePhone} {
		if m := nextBody(t, c, 10*time.Second); m.ID != ack.ID || m.Seq != ack.Seq || m.From != alice || m.Body != "hello from a" {
			t.Fatalf("%s got %+v, want %+v", name, m, ack)
		}
	}
	back, err := bobPhone.Send(ctx, parley.SendOptions{To: alice, Body: "hello from b"})
	if err != nil || back.Conv != ack.Conv || back.Seq != ack.Seq+1 {
		t.Fatalf("reply %+v, %v", back, err)
	}
	for name, c := range map[string]*parley.Client{"alice's phone on a": alicePhone, "alice's tablet on b": aliceTablet, "bob on b": bobPhone} {
		if m := nextBody(t, c, 10*time.Second); m.ID != back.ID || m.From != bob {
			t.Fatalf("%s got %+v, want %+v", name, m, back)
		}
	}

	// Typing and read receipts cross nodes too.
	if err := bobPhone.Typing(ctx, ack.Conv); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, alicePhone, "bob typing", func(e parley.Event) bool {
		return e.Type == protocol.TypeTyping && e.Typing != nil && e.Typing.User == bob && e.Typing.Conv == ack.Conv
	})
	if _, err := bobPhone.Read(ctx, ack.Conv, back.Seq); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, alicePhone, "bob's read receipt", func(e parley.Event) bool {
		return e.Type == protocol.TypeReceipt && e.Receipt != nil && e.Receipt.User == bob && e.Receipt.Read >= ack.Seq
	})

	// A group made and written to through node b reaches alice on node a.
	carolAPI := b.login(carol, "web")
	g, err := carolAPI.CreateGroup(ctx, "team", alice, bob)
	if err != nil {
		t.Fatal(err)
	}
	gack, err := carolAPI.Send(ctx, g.ID, parley.SendOptions{Body: "hi team"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*parley.Client{"alice's phone on a": alicePhone, "bob on b": bobPhone} {
		if m := nextBody(t, c, 10*time.Second); m.ID != gack.ID || m.Conv != g.ID || m.From != carol {
			t.Fatalf("%s got %+v, want %+v", name, m, gack)
		}
	}

	// Alice blocks bob through node a; bob's sends through node b, which
	// has his blocks cached since his reply, are refused soon after, and
	// go through again once she unblocks him.
	aliceAPI := a.login(alice, "web")
	bobAPI := b.login(bob, "web")
	if err := aliceAPI.Block(ctx, bob); err != nil {
		t.Fatal(err)
	}
	sdkwait.Until(t, "bob's send through b refused after alice's block through a", 10*time.Second, func() bool {
		_, err := bobAPI.Send(ctx, "", parley.SendOptions{To: alice, Body: "still there?"})
		return err != nil
	})
	if err := aliceAPI.Unblock(ctx, bob); err != nil {
		t.Fatal(err)
	}
	sdkwait.Until(t, "bob's send through b accepted after alice's unblock through a", 10*time.Second, func() bool {
		_, err := bobAPI.Send(ctx, "", parley.SendOptions{To: alice, Body: "back"})
		return err == nil
	})
}

package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// A member never receives what was said before they joined, whatever
// positions the client sends with resume, and a member removed and added
// back does not receive what was said while they were out.
func TestNoDeliveryOutsideMembership(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"ann", "ben", "eve"} {
		s.user(u)
	}
	ctx := ctxT(t)
	ann := s.login("ann", "web")
	g, err := ann.CreateGroup(ctx, "g", "ben")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Send(ctx, g.ID, parley.SendOptions{Body: "before eve"}); err != nil {
		t.Fatal(err)
	}
	added, err := ann.AddMember(ctx, g.ID, "eve")
	if err != nil {
		t.Fatal(err)
	}
	// Eve resumes claiming position 0: she still starts at her joining.
	eve := s.dial("eve", "phone", func(o *parley.Options) { o.Positions = map[string]uint64{g.ID: 0} })
	m := recv(t, eve, 1, 5*time.Second)[0]
	if m.Seq != added.Seq {
		t.Fatalf("eve's first message is seq %d (%q), want her joining at %d", m.Seq, m.Body, added.Seq)
	}
	// Eve is removed, the group talks, eve is added back: she gets her
	// removal, then her re-adding, and nothing said in between.
	if _, err := ann.RemoveMember(ctx, g.ID, "eve"); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, eve, 1, 5*time.Second)[0]; m.Member == nil || m.Member.Action != protocol.MemberRemoved {
		t.Fatalf("want eve's removal, got %+v", m)
	}
	if _, err := ann.Send(ctx, g.ID, parley.SendOptions{Body: "while eve is out"}); err != nil {
		t.Fatal(err)
	}
	back, err := ann.AddMember(ctx, g.ID, "eve")
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, eve, 1, 5*time.Second)[0]; m.Seq != back.Seq || m.Member == nil || m.Member.Action != protocol.MemberAdded {
		t.Fatalf("want eve's re-adding at %d, got %+v", back.Seq, m)
	}
	noMessage(t, eve, 200*time.Millisecond)
	// A new connection of the same device, resuming from the server's
	// positions, gets nothing from before the re-adding either.
	eve.Close()
	again := s.dial("eve", "phone")
	noMessage(t, again, 300*time.Millisecond)
}

// Acks are clamped to what exists; the delivered receipt of a direct
// conversation is pushed to the sender and never goes backwards.
func TestDeliveredReceipts(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	alice := s.dial("alice", "phone")
	var conv string
	for i := 0; i < 3; i++ {
		ack, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: "x"})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	bob := s.dial("bob", "phone", func(o *parley.Options) { o.ManualAck = true })
	recv(t, bob, 3, 5*time.Second)
	if err := bob.Ack(ctx, conv, 1000); err != nil {
		t.Fatal(err)
	}
	r := event(t, alice, protocol.TypeReceipt, 5*time.Second, func(e parley.Event) bool { return e.Receipt.Delivered > 0 })
	if r.Receipt.User != "bob" || r.Receipt.Delivered != 3 {
		t.Fatalf("receipt %+v, want bob delivered 3", r.Receipt)
	}
	// A second device acking less does not send a lower receipt.
	tablet := s.dial("bob", "tablet", func(o *parley.Options) { o.ManualAck = true })
	recv(t, tablet, 3, 5*time.Second)
	if err := tablet.Ack(ctx, conv, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, parley.SendOptions{Conv: conv, Body: "4"}); err != nil {
		t.Fatal(err)
	}
	if err := bob.Ack(ctx, conv, 4); err != nil {
		t.Fatal(err)
	}
	r = event(t, alice, protocol.TypeReceipt, 5*time.Second, func(e parley.Event) bool { return e.Receipt.Delivered > 0 })
	if r.Receipt.Delivered != 4 {
		t.Fatalf("next receipt %+v, want delivered 4 (no lower one in between)", r.Receipt)
	}
}

// Edit and delete need a client message id, so a retry is not stored twice.
func TestEditNeedsClientMsgID(t *testing.T) {
	t.Parallel()
	s := startServer(t, slowPings) // dialToken holds a raw connection
	s.user("alice")
	s.user("bob")
	api := s.login("alice", "web")
	ack, err := api.Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	conn := s.dialToken(api.Token)
	b, _ := json.Marshal(protocol.Request{ID: "e", Op: protocol.OpEdit, Conv: ack.Conv, Target: ack.Seq, Body: "y"})
	if err := conn.Write(ctxT(t), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := conn.Read(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		if f.ID != "e" {
			continue
		}
		if f.Error == nil || f.Error.Code != protocol.CodeBadRequest || f.Error.Field != "client_msg_id" {
			t.Fatalf("edit without client_msg_id: %s", data)
		}
		return
	}
}

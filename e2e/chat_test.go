package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// S2 and S12 (WebSocket and HTTP): one conversation for A→B and B→A, every
// device of both users gets every message, the sender's other devices too.
func TestDirectChatMultiDeviceAcrossWebSocketAndHTTP(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	phone := s.dial("alice", "phone")
	tablet := s.dial("alice", "tablet")
	bob := s.dial("bob", "laptop")
	bobAPI := s.login("bob", "web")
	ctx := ctxT(t)

	body := "hello bob 👋 مرحبا <script>alert(1)</script> \u202e\u200d\x00 end"
	ack, err := phone.Send(ctx, parley.SendOptions{To: "bob", Body: body})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if ack.Seq != 1 || ack.Conv == "" || ack.ID == "" || ack.Time == 0 {
		t.Fatalf("bad ack: %+v", ack)
	}
	for name, c := range map[string]*parley.Client{"bob": bob, "alice/phone": phone, "alice/tablet": tablet} {
		m := recv(t, c, 1, 5*time.Second)[0]
		if m.Body != body || m.From != "alice" || m.Seq != 1 || m.Conv != ack.Conv || m.ID != ack.ID {
			t.Fatalf("%s got %+v", name, m)
		}
	}

	// Bob answers over HTTP into the same conversation.
	back, err := bobAPI.Send(ctx, "", parley.SendOptions{To: "alice", Body: "hi alice", ClientMsgID: "b-1"})
	if err != nil {
		t.Fatalf("http send: %v", err)
	}
	if back.Conv != ack.Conv || back.Seq != 2 {
		t.Fatalf("B→A should be the same conversation at seq 2: %+v", back)
	}
	for _, c := range []*parley.Client{phone, tablet, bob} {
		if m := recv(t, c, 1, 5*time.Second)[0]; m.Body != "hi alice" || m.From != "bob" || m.Seq != 2 {
			t.Fatalf("got %+v", m)
		}
	}

	// History is the same over both protocols, byte for byte.
	hw, err := phone.History(ctx, ack.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hh, err := bobAPI.History(ctx, ack.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hw.Messages) != 2 || len(hh.Messages) != 2 || hw.Messages[0].Body != body || hh.Messages[0].Body != body || hh.Messages[1].Body != "hi alice" {
		t.Fatalf("history ws=%+v http=%+v", hw, hh)
	}
}

// S5 / J7: a retry with the same client message id returns the original
// acknowledgement and stores nothing new, over WebSocket and HTTP alike.
func TestRetryWithSameClientMsgIDStoresOnce(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	c := s.dial("alice", "phone")
	api := s.login("alice", "web")
	ctx := ctxT(t)
	first, err := c.Send(ctx, parley.SendOptions{To: "bob", Body: "once", ClientMsgID: "cm-1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Send(ctx, parley.SendOptions{To: "bob", Body: "once", ClientMsgID: "cm-1"})
	if err != nil {
		t.Fatal(err)
	}
	viaHTTP, err := api.Send(ctx, "", parley.SendOptions{To: "bob", Body: "once", ClientMsgID: "cm-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []protocol.Ack{again, viaHTTP} {
		if a.Seq != first.Seq || a.ID != first.ID || a.Time != first.Time || !a.Duplicate {
			t.Fatalf("retry ack %+v differs from %+v", a, first)
		}
	}
	h, err := api.History(ctx, first.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 {
		t.Fatalf("stored %d messages, want 1", len(h.Messages))
	}
}

// S3: a group of members who are not friends; what B says reaches A, C and
// B's other devices, attributed to B by the server (a "from" in the frame is
// ignored); a removed member stops receiving at once and cannot read or
// write; a member who joins later sees from their joining on.
func TestGroupLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"ann", "ben", "cat", "dan"} {
		s.user(u)
	}
	ctx := ctxT(t)
	annAPI := s.login("ann", "web")
	g, err := annAPI.CreateGroup(ctx, "trip", "ben", "cat")
	if err != nil {
		t.Fatal(err)
	}
	ann := s.dial("ann", "phone")
	ben := s.dial("ben", "phone")
	ben2 := s.dial("ben", "tablet")
	cat := s.dial("cat", "phone")
	// One membership event: ann created the group (seq 1).
	for _, c := range []*parley.Client{ann, ben, ben2, cat} {
		m := recv(t, c, 1, 5*time.Second)[0]
		if m.Seq != 1 || m.Kind != protocol.KindMember || m.From != "ann" || m.Member == nil ||
			m.Member.Action != protocol.MemberCreated || m.Member.User != "ann" || m.Member.Name != "trip" {
			t.Fatalf("creation event: %+v (member %+v)", m, m.Member)
		}
	}
	ack, err := ben.Send(ctx, parley.SendOptions{Conv: g.ID, Body: "hi all"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*parley.Client{ann, ben, ben2, cat} {
		if m := recv(t, c, 1, 5*time.Second)[0]; m.From != "ben" || m.Body != "hi all" || m.Seq != ack.Seq {
			t.Fatalf("got %+v", m)
		}
	}
	// Ann removes cat: cat learns of it and gets nothing more.
	if _, err := annAPI.RemoveMember(ctx, g.ID, "cat"); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, cat, 1, 5*time.Second)[0]; m.Member == nil || m.Member.User != "cat" || m.Member.Action != protocol.MemberRemoved {
		t.Fatalf("cat should see her removal: %+v", m)
	}
	recv(t, ann, 1, 5*time.Second)
	if _, err := ann.Send(ctx, parley.SendOptions{Conv: g.ID, Body: "without cat"}); err != nil {
		t.Fatal(err)
	}
	noMessage(t, cat, 300*time.Millisecond)
	if _, err := cat.Send(ctx, parley.SendOptions{Conv: g.ID, Body: "still here?"}); !isCode(err, protocol.CodeNotFound) {
		t.Fatalf("removed member's send: %v, want 404", err)
	}
	if _, err := cat.History(ctx, g.ID, parley.HistoryOptions{}); !isCode(err, protocol.CodeNotFound) {
		t.Fatalf("removed member's history: %v, want 404", err)
	}
	// Dan joins later and sees from his joining on.
	if _, err := annAPI.AddMember(ctx, g.ID, "dan"); err != nil {
		t.Fatal(err)
	}
	dan := s.dial("dan", "phone")
	m := recv(t, dan, 1, 5*time.Second)[0]
	if m.Member == nil || m.Member.User != "dan" || m.Member.Action != protocol.MemberAdded {
		t.Fatalf("dan's first message should be his joining: %+v", m)
	}
	h, err := dan.History(ctx, g.ID, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].Seq != m.Seq || h.StartSeq != m.Seq {
		t.Fatalf("dan's history should start at his joining (seq %d): %+v", m.Seq, h)
	}
	// Ben may not remove ann (owner) nor add members (plain member).
	benAPI := s.login("ben", "web")
	if _, err := benAPI.RemoveMember(ctx, g.ID, "ann"); !isCode(err, protocol.CodeForbidden) {
		t.Fatalf("member removing owner: %v, want 403", err)
	}
	if _, err := benAPI.AddMember(ctx, g.ID, "cat"); !isCode(err, protocol.CodeForbidden) {
		t.Fatalf("member adding: %v, want 403", err)
	}
}

func isCode(err error, code int) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == code
}

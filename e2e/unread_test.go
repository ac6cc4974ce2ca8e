package e2e

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

func unreadOf(t *testing.T, c *parley.Client, conv string) (int, int) {
	t.Helper()
	l, err := c.Conversations(ctxT(t), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, cv := range l.Conversations {
		if cv.ID == conv {
			return cv.Unread, l.TotalUnread
		}
	}
	t.Fatalf("conversation %s not listed", conv)
	return 0, 0
}

// S6: unread counts are derived from seq and the read position, equal on all
// devices, exclude the user's own messages and non-content events, and
// reading on one device updates the others at once.
func TestUnreadExactOnEveryDevice(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	s.user("carl")
	ctx := ctxT(t)
	alice := s.dial("alice", "phone")
	carl := s.dial("carl", "phone")
	var direct string
	for i := 0; i < 5; i++ {
		ack, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		direct = ack.Conv
	}
	// An edit and a delete are events, not unread content; the deleted
	// message no longer counts.
	if _, err := alice.Edit(ctx, direct, 1, "hi (edited)"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Delete(ctx, direct, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := carl.Send(ctx, parley.SendOptions{To: "bob", Body: "yo"}); err != nil {
		t.Fatal(err)
	}
	phone := s.dial("bob", "phone")
	laptop := s.dial("bob", "laptop")
	for _, c := range []*parley.Client{phone, laptop} {
		if u, total := unreadOf(t, c, direct); u != 4 || total != 5 {
			t.Fatalf("unread %d total %d, want 4 and 5", u, total)
		}
	}
	// Bob replies: his own message is not unread for him, and sending reads
	// everything before it.
	if _, err := laptop.Send(ctx, parley.SendOptions{Conv: direct, Body: "ok"}); err != nil {
		t.Fatal(err)
	}
	if u, total := unreadOf(t, phone, direct); u != 0 || total != 1 {
		t.Fatalf("after replying: unread %d total %d, want 0 and 1", u, total)
	}
	if u, _ := unreadOf(t, alice, direct); u != 1 {
		t.Fatalf("alice's unread %d, want 1 (bob's reply)", u)
	}
	// Alice reads on her phone; her other device learns the new counts.
	tablet := s.dial("alice", "tablet")
	st, err := alice.Read(ctx, direct, 8)
	if err != nil {
		t.Fatal(err)
	}
	if st.Unread != 0 || st.TotalUnread != 0 {
		t.Fatalf("read state %+v", st)
	}
	e := event(t, tablet, protocol.TypeRead, 5*time.Second, func(e parley.Event) bool { return e.Read.Conv == direct })
	if e.Read.Seq != 8 || e.Read.Unread != 0 {
		t.Fatalf("tablet read event %+v", e.Read)
	}
	// Bob gets a read receipt from alice in the direct conversation.
	r := event(t, laptop, protocol.TypeReceipt, 5*time.Second, func(e parley.Event) bool { return e.Receipt.Read > 0 })
	if r.Receipt.User != "alice" || r.Receipt.Read != 8 {
		t.Fatalf("read receipt %+v", r.Receipt)
	}
	// Read positions never move back.
	if st, err := alice.Read(ctx, direct, 3); err != nil || st.Seq != 8 {
		t.Fatalf("read back to 3: %+v %v", st, err)
	}
}

// Edit and delete are events with their own seq; history shows the current
// state; only the author may edit or delete.
func TestEditDeleteAuthorOnly(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	alice := s.dial("alice", "phone")
	bob := s.dial("bob", "phone")
	a1, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: "tpyo"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := alice.Edit(ctx, a1.Conv, a1.Seq, "typo")
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != a1.Seq+1 {
		t.Fatalf("edit seq %d, want %d", e.Seq, a1.Seq+1)
	}
	if _, err := bob.Edit(ctx, a1.Conv, a1.Seq, "hacked"); !isCode(err, protocol.CodeForbidden) {
		t.Fatalf("bob editing alice's message: %v, want 403", err)
	}
	if _, err := bob.Delete(ctx, a1.Conv, a1.Seq); !isCode(err, protocol.CodeForbidden) {
		t.Fatalf("bob deleting alice's message: %v, want 403", err)
	}
	ms := recv(t, bob, 2, 5*time.Second)
	if ms[1].Kind != protocol.KindEdit || ms[1].Target != a1.Seq || ms[1].Body != "typo" {
		t.Fatalf("edit event %+v", ms[1])
	}
	d, err := alice.Delete(ctx, a1.Conv, a1.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, bob, 1, 5*time.Second)[0]; m.Kind != protocol.KindDelete || m.Seq != d.Seq || m.Target != a1.Seq {
		t.Fatalf("delete event %+v", m)
	}
	h, err := bob.History(ctx, a1.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 3 || !h.Messages[0].Deleted || h.Messages[0].Body != "" || h.Messages[0].EditedAt == 0 {
		t.Fatalf("history should show the original as edited, then deleted: %+v", h.Messages)
	}
}

// Typing reaches the other members and is never stored; presence of a
// contact (here a co-member of a small group) is pushed, with last-seen
// when they go offline.
func TestTypingAndPresence(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	if _, err := s.login("alice", "web").CreateGroup(ctx, "pals", "bob"); err != nil {
		t.Fatal(err)
	}
	alice := s.dial("alice", "phone")
	ack, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: "there?"})
	if err != nil {
		t.Fatal(err)
	}
	bob := s.dial("bob", "phone")
	e := event(t, alice, protocol.TypePresence, 5*time.Second, func(e parley.Event) bool { return e.Presence.User == "bob" })
	if !e.Presence.Online {
		t.Fatalf("bob should be online: %+v", e.Presence)
	}
	if err := bob.Typing(ctx, ack.Conv); err != nil {
		t.Fatal(err)
	}
	ty := event(t, alice, protocol.TypeTyping, 5*time.Second, nil)
	if ty.Typing.User != "bob" || ty.Typing.Conv != ack.Conv {
		t.Fatalf("typing %+v", ty.Typing)
	}
	h, err := alice.History(ctx, ack.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 {
		t.Fatalf("typing must not be stored: %d messages", len(h.Messages))
	}
	ps, err := alice.Presence(ctx, "bob")
	if err != nil || len(ps) != 1 || !ps[0].Online {
		t.Fatalf("presence query: %+v %v", ps, err)
	}
	bob.Close()
	off := event(t, alice, protocol.TypePresence, 5*time.Second, func(e parley.Event) bool { return e.Presence.User == "bob" && !e.Presence.Online })
	if off.Presence.LastSeen == 0 {
		t.Fatalf("offline presence without last seen: %+v", off.Presence)
	}
}

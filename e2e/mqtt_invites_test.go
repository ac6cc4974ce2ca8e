package e2e

// Group invitations and join requests as MQTT clients see them
// (docs/mqtt.md 5.7), through the real server: a decline reaches the
// inviter's MQTT client on IMS/<inviter>/Inbox/Add/GInvResp/<invitee>,
// whether the invitee answered over MQTT or WebSocket, while an acceptance
// is the group's joined entry; a join request reaches each owner's and
// admin's MQTT client on IMS/<admin>/Inbox/Add/GJoinReq/<requester>, and
// the answer the requester's on IMS/<requester>/Inbox/Add/GJoinResp/<group>,
// after which an approved requester reads and speaks in the group over
// MQTT and a denied one cannot.

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// routed is a stored entry an MQTT client received, with its topic.
type routed struct {
	topic string
	m     protocol.Message
}

// entryWhere reads m's deliveries until a stored entry (on an Inbox/Msg,
// Inbox/Add or group topic) for which match is true arrives, and returns
// it with its topic; the transient deliveries (presence, receipts, ...)
// and the entries before it are skipped, and those are returned too.
func (m *mqtt3) entryWhere(what string, match func(protocol.Message) bool) (routed, []routed) {
	m.t.Helper()
	var skipped []routed
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-m.ch:
			lv := strings.Split(msg.Topic, "/")
			stored := len(lv) == 3 && strings.HasPrefix(lv[1], "g_") ||
				len(lv) >= 5 && lv[2] == "Inbox" && (lv[3] == "Msg" || lv[3] == "Add")
			if !stored {
				continue
			}
			r := routed{msg.Topic, msg.message(m.t)}
			if match(r.m) {
				return r, skipped
			}
			skipped = append(skipped, r)
		case <-deadline:
			m.t.Fatalf("no %s within 10s; got %+v", what, skipped)
		}
	}
}

// inviteOn waits for m's invite entry with the action by from, checks it
// (checkInvite) and that it arrived on topic, and returns the entries
// before it.
func (m *mqtt3) inviteOn(topic, from, action, user, group, name string) []routed {
	m.t.Helper()
	r, before := m.entryWhere(action+" by "+from, func(e protocol.Message) bool {
		return e.Kind == protocol.KindInvite && e.Social != nil && e.Social.Action == action && e.From == from
	})
	checkInvite(m.t, r.m, from, action, user, group, name)
	if r.topic != topic {
		m.t.Fatalf("%s by %s (%+v) arrived on %s, want %s", action, from, r.m.Social, r.topic, topic)
	}
	return before
}

// TestMQTTInviteAnswersReachInviter: alice creates a group over WebSocket
// inviting bob, carol and dave, and listens with a Paho 3.1.1 client on
// IMS/alice/Inbox/#. bob, over MQTT, gets the invitation on his GInv topic
// and declines by publishing there: alice's client gets the decline on
// IMS/alice/Inbox/Add/GInvResp/bob. carol declines over WebSocket: it
// arrives on IMS/alice/Inbox/Add/GInvResp/carol. dave, who accepted over
// HTTP first, is the group's joined entry on IMS/alice/Inbox/Msg/<group>,
// and nothing about him came on a GInvResp topic (his acceptance is
// committed before bob's decline, and entries keep their order).
func TestMQTTInviteAnswersReachInviter(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.user(u)
	}
	ctx := ctxT(t)
	alice := s.mqttConnect("alice", "alice-paho", true)
	alice.subscribe("IMS/alice/Inbox/#", 1)
	bob := s.mqttConnect("bob", "bob-paho", true)
	bob.subscribe("IMS/bob/Inbox/#", 1)
	aliceWS, carol := s.dial("alice", "phone"), s.dial("carol", "phone")

	g, err := aliceWS.NewGroup(ctx, parley.GroupOptions{Name: "Hike", Invite: []string{"bob", "carol", "dave"}})
	if err != nil {
		t.Fatal(err)
	}
	bob.inviteOn("IMS/bob/Inbox/Add/GInv/"+g.ID, "alice", protocol.InviteInvited, "alice", g.ID, "Hike")
	checkInvite(t, inviteEntry(t, carol, protocol.InviteInvited), "alice", protocol.InviteInvited, "alice", g.ID, "Hike")

	// dave accepts (HTTP): for alice, that is his joined entry in the group.
	if ack, err := s.login("dave", "web").AnswerInvite(ctx, g.ID, true); err != nil || ack.Conv != g.ID {
		t.Fatalf("dave accepts: %+v, %v", ack, err)
	}
	joined, seen := alice.entryWhere("dave's joined entry", func(e protocol.Message) bool {
		return e.Kind == protocol.KindMember && e.Member != nil && e.Member.User == "dave"
	})
	if joined.topic != "IMS/alice/Inbox/Msg/"+g.ID || joined.m.Member.Action != protocol.MemberJoined || joined.m.From != "dave" {
		t.Fatalf("dave's acceptance reached alice as %+v (member %+v) on %s", joined.m, joined.m.Member, joined.topic)
	}

	// bob declines over MQTT, on his own GInv topic.
	bob.publish("IMS/bob/Inbox/Add/GInv/"+g.ID, 1, `{"accept":false}`)
	seen = append(seen, alice.inviteOn("IMS/alice/Inbox/Add/GInvResp/bob", "bob", protocol.InviteDeclined, "bob", g.ID, "Hike")...)
	for _, r := range seen {
		if strings.Contains(r.topic, "/GInvResp/") || r.m.Kind == protocol.KindInvite && r.m.From == "dave" {
			t.Fatalf("alice got %+v (social %+v) on %s about dave's acceptance", r.m, r.m.Social, r.topic)
		}
	}

	// carol declines over WebSocket.
	if _, err := carol.AnswerInvite(ctx, g.ID, false); err != nil {
		t.Fatal(err)
	}
	alice.inviteOn("IMS/alice/Inbox/Add/GInvResp/carol", "carol", protocol.InviteDeclined, "carol", g.ID, "Hike")

	if l, err := aliceWS.Invites(ctx, g.ID, "", 0); err != nil || len(l.Invitations) != 0 {
		t.Fatalf("pending invitations after all answered: %+v, %v", l, err)
	}
	ms, err := aliceWS.Members(ctx, g.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("members after one acceptance: %+v, %v", ms, err)
	}
	if code := bob.subscribeCode("IMS/" + g.ID + "/#"); code != 0x80 {
		t.Fatalf("bob, who declined, subscribes to the group's topics: SUBACK 0x%02x, want 0x80", code)
	}
}

// TestMQTTJoinRequestsOverMQTT: the group "Club" of alice (owner) and erin
// (admin) needs approval to join. bob asks with a link over HTTP: alice's
// and erin's MQTT clients get his request on their
// IMS/<self>/Inbox/Add/GJoinReq/bob, and bob's own client his
// join_requested entry on his system conversation's inbox. alice approves
// over WebSocket: bob's client gets the answer on
// IMS/bob/Inbox/Add/GJoinResp/<group>, erin's the outcome on her system
// conversation's inbox; bob, now a member, subscribes to the group's
// topics, receives what alice says there, reads it over HTTP and speaks
// over MQTT. carol asks over WebSocket and erin denies over HTTP: carol's
// client gets the denial on IMS/carol/Inbox/Add/GJoinResp/<group>, and
// she can neither subscribe to the group nor read it.
func TestMQTTJoinRequestsOverMQTT(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol", "erin"} {
		s.user(u)
	}
	ctx := ctxT(t)
	aliceWS := s.dial("alice", "phone")
	g, err := aliceWS.NewGroup(ctx, parley.GroupOptions{Name: "Club", Members: []string{"erin"}})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := httpDo(t, "PATCH", s.URL+"/v1/conversations/"+g.ID+"/members/erin", s.login("alice", "web").Token, map[string]string{"role": "admin"}); status != 200 {
		t.Fatalf("erin made admin: %d %s", status, body)
	}
	if st, err := aliceWS.SetJoinApproval(ctx, g.ID, true); err != nil || !st.JoinApproval {
		t.Fatalf("join approval on: %+v, %v", st, err)
	}
	link, err := aliceWS.CreateLink(ctx, g.ID, parley.LinkOptions{ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*mqtt3{}
	for _, u := range []string{"alice", "bob", "carol", "erin"} {
		clients[u] = s.mqttConnect(u, u+"-paho", true)
		clients[u].subscribe("IMS/"+u+"/Inbox/#", 1)
	}
	alice, bob, carol, erin := clients["alice"], clients["bob"], clients["carol"], clients["erin"]

	// bob asks (HTTP).
	if r, err := s.login("bob", "web").Join(ctx, link.Token); err != nil || r.Status != protocol.JoinRequested || r.Conv != g.ID {
		t.Fatalf("bob asks to join: %+v, %v", r, err)
	}
	alice.inviteOn("IMS/alice/Inbox/Add/GJoinReq/bob", "bob", protocol.InviteJoinRequest, "bob", g.ID, "Club")
	erin.inviteOn("IMS/erin/Inbox/Add/GJoinReq/bob", "bob", protocol.InviteJoinRequest, "bob", g.ID, "Club")
	r, _ := bob.entryWhere("bob's join_requested", func(e protocol.Message) bool {
		return e.Kind == protocol.KindInvite && e.Social != nil && e.Social.Action == protocol.InviteJoinRequested
	})
	checkInvite(t, r.m, "bob", protocol.InviteJoinRequested, "", g.ID, "Club")
	if r.topic != "IMS/bob/Inbox/Msg/"+r.m.Conv {
		t.Fatalf("bob's own join_requested on %s, want his system conversation's inbox", r.topic)
	}
	if code := bob.subscribeCode("IMS/" + g.ID + "/#"); code != 0x80 {
		t.Fatalf("bob subscribes to the group's topics before the approval: SUBACK 0x%02x, want 0x80", code)
	}

	// alice approves (WebSocket).
	if _, err := aliceWS.AnswerJoinRequest(ctx, g.ID, "bob", true); err != nil {
		t.Fatal(err)
	}
	bob.inviteOn("IMS/bob/Inbox/Add/GJoinResp/"+g.ID, "alice", protocol.InviteJoinApproved, "alice", g.ID, "Club")
	r, _ = erin.entryWhere("the approval as erin sees it", func(e protocol.Message) bool {
		return e.Kind == protocol.KindInvite && e.Social != nil && e.Social.Action == protocol.InviteJoinApproved
	})
	checkInvite(t, r.m, "alice", protocol.InviteJoinApproved, "bob", g.ID, "Club")
	if r.topic != "IMS/erin/Inbox/Msg/"+r.m.Conv {
		t.Fatalf("the approval reached erin, another admin, on %s, want her system conversation's inbox", r.topic)
	}

	// bob is a member: he subscribes to the group, hears alice, reads the
	// group over HTTP and speaks in it over MQTT.
	if code := bob.subscribeCode("IMS/" + g.ID + "/#"); code != 1 {
		t.Fatalf("bob subscribes to the group's topics after the approval: SUBACK 0x%02x, want 1", code)
	}
	ack, err := aliceWS.Send(ctx, parley.SendOptions{Conv: g.ID, Body: "Welcome, bob"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ = bob.entryWhere("alice's welcome", func(e protocol.Message) bool { return e.ID == ack.ID })
	if r.topic != "IMS/"+g.ID+"/alice" || r.m.Body != "Welcome, bob" || r.m.From != "alice" {
		t.Fatalf("bob got %+v on %s, want alice's welcome on IMS/%s/alice", r.m, r.topic, g.ID)
	}
	p, err := s.login("bob", "web").History(ctx, g.ID, parley.HistoryOptions{})
	if err != nil || len(p.Messages) == 0 || p.Messages[len(p.Messages)-1].ID != ack.ID {
		t.Fatalf("bob reads the group: %+v, %v", p, err)
	}
	bob.publish("IMS/"+g.ID+"/bob", 1, "Thanks!")
	if m := nextWhere(t, aliceWS, "bob's message", func(m protocol.Message) bool {
		return m.Conv == g.ID && m.Kind == protocol.KindMessage && m.From == "bob"
	}); m.Body != "Thanks!" {
		t.Fatalf("alice got bob's message as %+v", m)
	}

	// carol asks (WebSocket); erin denies (HTTP).
	carolWS := s.dial("carol", "phone")
	if r, err := carolWS.Join(ctx, link.Token); err != nil || r.Status != protocol.JoinRequested {
		t.Fatalf("carol asks to join: %+v, %v", r, err)
	}
	alice.inviteOn("IMS/alice/Inbox/Add/GJoinReq/carol", "carol", protocol.InviteJoinRequest, "carol", g.ID, "Club")
	erin.inviteOn("IMS/erin/Inbox/Add/GJoinReq/carol", "carol", protocol.InviteJoinRequest, "carol", g.ID, "Club")
	if _, err := s.login("erin", "web").AnswerJoinRequest(ctx, g.ID, "carol", false); err != nil {
		t.Fatal(err)
	}
	carol.inviteOn("IMS/carol/Inbox/Add/GJoinResp/"+g.ID, "erin", protocol.InviteJoinDenied, "erin", g.ID, "Club")
	if code := carol.subscribeCode("IMS/" + g.ID + "/#"); code != 0x80 {
		t.Fatalf("carol, denied, subscribes to the group's topics: SUBACK 0x%02x, want 0x80", code)
	}
	if _, err := s.login("carol", "web").History(ctx, g.ID, parley.HistoryOptions{}); err == nil {
		t.Fatal("carol, denied, reads the group")
	}
	if l, err := aliceWS.JoinRequests(ctx, g.ID, "", 0); err != nil || len(l.Requests) != 0 {
		t.Fatalf("pending join requests after both answered: %+v, %v", l, err)
	}
}

package e2e

// Group invitations (SCENARIOS.md S3, seed 001 scene 3), invite links,
// join approval and the member limit, through the real server, over
// WebSocket, HTTP and MQTT and across them: an invitation reaches an
// offline invitee's MQTT client on IMS/<B>/Inbox/Add/GInv/<group> when it
// connects, the invitee accepts with mosquitto_pub on that topic and
// joins, a decline over HTTP reaches the inviter, and what the new member
// says over MQTT reaches the others and his own WebSocket device as his.

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// nextWhere returns the next message c receives for which match is true,
// skipping others.
func nextWhere(t *testing.T, c *parley.Client, what string, match func(protocol.Message) bool) protocol.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("messages channel closed waiting for %s", what)
			}
			if match(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within 10s", what)
		}
	}
}

// inviteEntry waits for the next invite entry of c with the action.
func inviteEntry(t *testing.T, c *parley.Client, action string) protocol.Message {
	t.Helper()
	return nextWhere(t, c, "an invite entry "+action, func(m protocol.Message) bool {
		return m.Kind == protocol.KindInvite && m.Social != nil && m.Social.Action == action
	})
}

// checkInvite fails unless m is an invite entry by from about group,
// naming user.
func checkInvite(t *testing.T, m protocol.Message, from, action, user, group, name string) {
	t.Helper()
	want := protocol.SocialEvent{Action: action, User: user, Group: group, Name: name}
	if m.Kind != protocol.KindInvite || m.From != from || m.Social == nil || *m.Social != want || !strings.HasPrefix(m.Conv, "s_") {
		t.Fatalf("entry %+v (social %+v), want %q by %s about %s in %s", m, m.Social, action, from, user, group)
	}
}

// joinedEntry waits for user's joined entry of group on c.
func joinedEntry(t *testing.T, c *parley.Client, group, user string) protocol.Message {
	t.Helper()
	m := nextWhere(t, c, user+" joined", func(m protocol.Message) bool {
		return m.Conv == group && m.Kind == protocol.KindMember && m.Member != nil && m.Member.Action == protocol.MemberJoined
	})
	if m.From != user || m.Member.User != user || m.Member.Role != protocol.RoleMember {
		t.Fatalf("joined entry %+v (member %+v), want %s's", m, m.Member, user)
	}
	return m
}

// wantProtoErr fails unless err is a protocol error with the code and
// reason.
func wantProtoErr(t *testing.T, what string, err error, code int, reason string) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code || pe.Reason != reason {
		t.Fatalf("%s: %v, want %d %s", what, err, code, reason)
	}
}

// TestGroupInvitationsAcrossProtocols is S3: alice (WebSocket) creates a
// group inviting bob, offline, and carol (WebSocket). bob's MQTT client
// (mosquitto_sub, a persistent session) connects and receives the
// invitation on IMS/bob/Inbox/Add/GInv/<group>, and bob accepts with
// mosquitto_pub on that topic: every member's devices get his joined
// entry. carol declines over HTTP and alice is told. bob's message over
// MQTT (Paho) reaches alice and bob's WebSocket tablet as bob's; he cannot
// speak as carol, and carol, who declined, is no member.
func TestGroupInvitationsAcrossProtocols(t *testing.T) {
	t.Parallel()
	sub := needTool(t, "mosquitto_sub", "the Debian package mosquitto-clients")
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	ctx := ctxT(t)
	alice, carol := s.dial("alice", "phone"), s.dial("carol", "phone")

	g, err := alice.NewGroup(ctx, parley.GroupOptions{Name: "Hike", Invite: []string{"bob", "carol"}})
	if err != nil || g.Role != protocol.RoleOwner || g.LastSeq != 1 {
		t.Fatalf("group_create: %+v, %v", g, err)
	}
	checkInvite(t, inviteEntry(t, carol, protocol.InviteInvited), "alice", protocol.InviteInvited, "alice", g.ID, "Hike")
	// Invitations do not pile up: inviting bob again stores nothing.
	if r, err := alice.Invite(ctx, g.ID, "bob"); err != nil || len(r.Invited) != 0 || len(r.Pending) != 1 {
		t.Fatalf("inviting bob again: %+v, %v", r, err)
	}

	// bob connects for the first time, over MQTT 3.1.1, a persistent
	// session: the invitation is his first delivery, on GInv.
	host, port := mqttHostPort(t, s)
	mctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(mctx, sub, "-h", host, "-p", port, "-V", "mqttv311", "-i", "GID_IMS@@@bob-phone", "-c",
		"-u", "bob", "-P", "password-bob", "-q", "1", "-t", "IMS/bob/Inbox/#", "-v", "-C", "1", "-W", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_sub: %v:\n%s", err, out)
	}
	topic, payload, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if topic != "IMS/bob/Inbox/Add/GInv/"+g.ID {
		t.Fatalf("bob's first delivery on %q, want IMS/bob/Inbox/Add/GInv/%s:\n%s", topic, g.ID, out)
	}
	var inv protocol.Message
	if err := json.Unmarshal([]byte(payload), &inv); err != nil {
		t.Fatalf("delivery payload %q: %v", payload, err)
	}
	checkInvite(t, inv, "alice", protocol.InviteInvited, "alice", g.ID, "Hike")
	if m, err := s.login("bob", "web").Members(ctx, g.ID); err == nil {
		t.Fatalf("an invitee sees the members before accepting: %+v", m)
	}

	// bob accepts over MQTT 5; the PUBACK says he is a member.
	pout, err := exec.CommandContext(mctx, pub, "-h", host, "-p", port, "-V", "mqttv5", "-i", "bob-cli", "-u", "bob", "-P", "password-bob",
		"-q", "1", "-d", "-t", "IMS/bob/Inbox/Add/GInv/"+g.ID, "-m", `{"accept":true}`).CombinedOutput()
	if err != nil || !strings.Contains(string(pout), "received PUBACK (Mid: 1, RC:0)") {
		t.Fatalf("mosquitto_pub of the acceptance: %v:\n%s", err, pout)
	}
	joined := joinedEntry(t, alice, g.ID, "bob")
	if joined.Seq != 2 {
		t.Fatalf("bob's joined entry at seq %d, want 2", joined.Seq)
	}

	// carol declines over HTTP; alice is told in her system conversation.
	if ack, err := s.login("carol", "web").AnswerInvite(ctx, g.ID, false); err != nil || ack.Seq != 0 {
		t.Fatalf("carol declines: %+v, %v", ack, err)
	}
	checkInvite(t, inviteEntry(t, alice, protocol.InviteDeclined), "carol", protocol.InviteDeclined, "carol", g.ID, "Hike")
	checkInvite(t, inviteEntry(t, carol, protocol.InviteDeclined), "carol", protocol.InviteDeclined, "alice", g.ID, "Hike")
	if l, err := alice.Invites(ctx, g.ID, "", 0); err != nil || len(l.Invitations) != 0 {
		t.Fatalf("pending invitations after both answered: %+v, %v", l, err)
	}

	// bob's tablet (WebSocket) starts at his joining; his phone (Paho, the
	// same persistent session) speaks in the group.
	tablet := s.dial("bob", "tablet")
	if m := joinedEntry(t, tablet, g.ID, "bob"); m.ID != joined.ID {
		t.Fatalf("bob's tablet got joined entry %+v, want %+v", m, joined)
	}
	phone := s.mqttConnect("bob", "GID_IMS@@@bob-phone", false)
	if !phone.present {
		t.Fatal("bob-phone's session was not kept")
	}
	phone.publish("IMS/"+g.ID+"/bob", 1, "Count me in")
	for _, c := range []*parley.Client{alice, tablet} {
		m := nextWhere(t, c, "bob's message", func(m protocol.Message) bool { return m.Conv == g.ID && m.Kind == protocol.KindMessage })
		if m.From != "bob" || m.Body != "Count me in" || m.Seq != 3 {
			t.Fatalf("bob's message arrived as %+v", m)
		}
	}
	// bob cannot speak as carol, who is no member either.
	iout, _ := exec.CommandContext(mctx, pub, "-h", host, "-p", port, "-V", "mqttv5", "-i", "bob-cli", "-u", "bob", "-P", "password-bob",
		"-q", "1", "-d", "-t", "IMS/"+g.ID+"/carol", "-m", "as carol").CombinedOutput()
	if !regexp.MustCompile(`received PUBACK \(Mid: 1, RC:135\)`).Match(iout) {
		t.Fatalf("bob publishing as carol:\n%s", iout)
	}
	if _, err := s.login("carol", "web").History(ctx, g.ID, parley.HistoryOptions{}); err == nil {
		t.Fatal("carol, who declined, reads the group")
	}
	p, err := s.login("alice", "web").History(ctx, g.ID, parley.HistoryOptions{})
	if err != nil || len(p.Messages) != 3 || p.Messages[2].From != "bob" {
		t.Fatalf("the group's history: %+v, %v", p, err)
	}
}

// TestGroupInvitationsBothAccept is S3 as the scene states it: alice
// invites bob and carol; bob accepts over MQTT (Paho, GInv), carol over
// WebSocket (invite_answer); each is told of the other's joining, and
// what bob then says over MQTT reaches carol's WebSocket device as his.
func TestGroupInvitationsBothAccept(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	ctx := ctxT(t)
	alice, carol := s.dial("alice", "phone"), s.dial("carol", "phone")
	g, err := alice.NewGroup(ctx, parley.GroupOptions{Name: "Hike", Invite: []string{"bob", "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	checkInvite(t, inviteEntry(t, carol, protocol.InviteInvited), "alice", protocol.InviteInvited, "alice", g.ID, "Hike")

	bob := s.mqttConnect("bob", "bob-paho", true)
	bob.publish("IMS/bob/Inbox/Add/GInv/"+g.ID, 1, `{"accept":true}`)
	joinedEntry(t, alice, g.ID, "bob")

	ack, err := carol.AnswerInvite(ctx, g.ID, true)
	if err != nil || ack.Conv != g.ID || ack.Seq != 3 {
		t.Fatalf("carol accepts over WebSocket: %+v, %v", ack, err)
	}
	if m := joinedEntry(t, alice, g.ID, "carol"); m.Seq != 3 {
		t.Fatalf("carol's joined entry at seq %d, want 3", m.Seq)
	}
	joinedEntry(t, carol, g.ID, "carol")
	if l, err := alice.Invites(ctx, g.ID, "", 0); err != nil || len(l.Invitations) != 0 {
		t.Fatalf("pending invitations after both accepted: %+v, %v", l, err)
	}
	ms, err := carol.Members(ctx, g.ID)
	if err != nil || len(ms) != 3 {
		t.Fatalf("members seen by carol: %+v, %v", ms, err)
	}

	bob.publish("IMS/"+g.ID+"/bob", 1, "Count me in")
	m := nextWhere(t, carol, "bob's message", func(m protocol.Message) bool { return m.Conv == g.ID && m.Kind == protocol.KindMessage })
	if m.From != "bob" || m.Body != "Count me in" || m.Seq != 4 {
		t.Fatalf("carol got bob's message as %+v", m)
	}
}

// TestInviteLinksApprovalAndMemberLimit: a link join with join approval
// on is a request the owner is told of and approves; with approval off a
// link joins at once; the member limit refuses the join beyond it; an
// expired link is refused with 410.
func TestInviteLinksApprovalAndMemberLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Limits.GroupMembers = 3 })
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.user(u)
	}
	ctx := ctxT(t)
	alice, bob := s.dial("alice", "phone"), s.dial("bob", "phone")
	g, err := alice.NewGroup(ctx, parley.GroupOptions{Name: "Club"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := alice.SetJoinApproval(ctx, g.ID, true); err != nil || !st.JoinApproval {
		t.Fatalf("join approval on: %+v, %v", st, err)
	}
	link, err := alice.CreateLink(ctx, g.ID, parley.LinkOptions{ExpiresIn: time.Hour, MaxUses: 10})
	if err != nil || len(link.Token) != 32 {
		t.Fatalf("link: %+v, %v", link, err)
	}

	// bob asks over HTTP; alice is told; she approves over WebSocket.
	r, err := s.login("bob", "web").Join(ctx, link.Token)
	if err != nil || r.Status != protocol.JoinRequested || r.Conv != g.ID {
		t.Fatalf("bob joins with approval on: %+v, %v", r, err)
	}
	checkInvite(t, inviteEntry(t, alice, protocol.InviteJoinRequest), "bob", protocol.InviteJoinRequest, "bob", g.ID, "Club")
	checkInvite(t, inviteEntry(t, bob, protocol.InviteJoinRequested), "bob", protocol.InviteJoinRequested, "", g.ID, "Club")
	if l, err := alice.JoinRequests(ctx, g.ID, "", 0); err != nil || len(l.Requests) != 1 || l.Requests[0].User != "bob" {
		t.Fatalf("join requests: %+v, %v", l, err)
	}
	ack, err := alice.AnswerJoinRequest(ctx, g.ID, "bob", true)
	if err != nil || ack.Seq != 2 {
		t.Fatalf("approve: %+v, %v", ack, err)
	}
	joinedEntry(t, bob, g.ID, "bob")
	checkInvite(t, inviteEntry(t, bob, protocol.InviteJoinApproved), "alice", protocol.InviteJoinApproved, "alice", g.ID, "Club")
	joinedEntry(t, alice, g.ID, "bob")

	// Approval off: carol joins at once and is the third member.
	if _, err := alice.SetJoinApproval(ctx, g.ID, false); err != nil {
		t.Fatal(err)
	}
	carolAPI := s.login("carol", "web")
	if r, err := carolAPI.Join(ctx, link.Token); err != nil || r.Status != protocol.JoinJoined || r.Seq != 3 {
		t.Fatalf("carol joins: %+v, %v", r, err)
	}
	joinedEntry(t, alice, g.ID, "carol")
	_, err = carolAPI.Join(ctx, link.Token)
	wantProtoErr(t, "a member joins again", err, 409, "exists")

	// The member limit (3) refuses dave, over HTTP and WebSocket alike.
	daveAPI, daveWS := s.login("dave", "web"), s.dial("dave", "phone")
	_, err = daveAPI.Join(ctx, link.Token)
	wantProtoErr(t, "joining a full group", err, 403, "group_full")
	_, err = daveWS.Join(ctx, link.Token)
	wantProtoErr(t, "joining a full group over WebSocket", err, 403, "group_full")
	if l, err := alice.Links(ctx, g.ID); err != nil || len(l.Links) != 1 || l.Links[0].Uses != 2 {
		t.Fatalf("links after two uses and refusals: %+v, %v", l, err)
	}
	ms, err := daveAPI.Members(ctx, g.ID)
	if err == nil {
		t.Fatalf("dave sees the members: %+v", ms)
	}

	// An expired link is refused with 410, whoever asks. It expires in a
	// second; the test polls until the server says so.
	short, err := alice.CreateLink(ctx, g.ID, parley.LinkOptions{ExpiresIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var last error
	waitFor(t, "the short link to expire", 10*time.Second, func() bool {
		_, last = daveAPI.Join(ctx, short.Token)
		var pe *protocol.Error
		return errors.As(last, &pe) && pe.Code == 410
	})
	wantProtoErr(t, "an expired link", last, 410, "link_expired")
	if _, err := daveAPI.Join(ctx, strings.Repeat("a", 32)); err == nil {
		t.Fatal("an unknown token joined")
	} else {
		wantProtoErr(t, "an unknown token", err, 404, "not_found")
	}
}

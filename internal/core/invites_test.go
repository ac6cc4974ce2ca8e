package core

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

func withInvitations(in Invitations) func(*Options) {
	return func(o *Options) { o.Invitations = in }
}

// nextKind returns the next message a connection receives of kind, in
// conv if conv is not empty.
func nextKind(t *testing.T, tr *fakeTransport, kind, conv string) *protocol.Message {
	t.Helper()
	for {
		ev := tr.next(t, protocol.TypeMsg)
		if ev.Msg != nil && ev.Msg.Kind == kind && (conv == "" || ev.Msg.Conv == conv) {
			return ev.Msg
		}
	}
}

// wantInvite checks an invite entry: owner's system conversation, from,
// the action, the user it names and the group.
func wantInvite(t *testing.T, m *protocol.Message, owner, from, action, user, group, name string) {
	t.Helper()
	if m.Conv != SystemID(owner) || m.From != from || m.Social == nil ||
		*m.Social != (protocol.SocialEvent{Action: action, User: user, Group: group, Name: name}) {
		t.Fatalf("entry %+v (social %+v), want %s's %q by %s about %s in %s", m, m.Social, owner, action, from, user, group)
	}
}

// nextJoined returns the next joined entry of conv a connection receives.
func nextJoined(t *testing.T, tr *fakeTransport, conv string) *protocol.Message {
	t.Helper()
	for {
		m := nextKind(t, tr, protocol.KindMember, conv)
		if m.Member != nil && m.Member.Action == protocol.MemberJoined {
			return m
		}
	}
}

// wantJoined checks a group's joined entry of user.
func wantJoined(t *testing.T, m *protocol.Message, conv, user string) {
	t.Helper()
	if m.Conv != conv || m.From != user || m.Kind != protocol.KindMember || m.Member == nil ||
		*m.Member != (protocol.MemberChange{User: user, Action: protocol.MemberJoined, Role: protocol.RoleMember}) {
		t.Fatalf("entry %+v (member %+v), want %s joined %s", m, m.Member, user, conv)
	}
}

// TestInvitationsEndToEndInTheCore is S3 in the core: alice creates a
// group inviting bob and carol; each gets the invitation on every device;
// bob accepts and joins (every member's devices and his own see the joined
// entry), carol declines and alice is told; bob's message reaches alice
// and his other device, attributed to him.
func TestInvitationsEndToEndInTheCore(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	alice, bob, carol := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}, Identity{User: "carol", Device: "d"}
	alice1 := e.attachResumed("alice", "laptop")
	bob1, bob2 := e.attachResumed("bob", "phone"), e.attachResumed("bob", "tablet")
	carol1 := e.attachResumed("carol", "phone")

	g, err := e.c.CreateGroup(e.ctx, alice, "hike", nil, "bob", "carol", "bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*fakeTransport{bob1, bob2} {
		wantInvite(t, nextKind(t, tr, protocol.KindInvite, ""), "bob", "alice", protocol.InviteInvited, "alice", g.ID, "hike")
	}
	wantInvite(t, nextKind(t, carol1, protocol.KindInvite, ""), "carol", "alice", protocol.InviteInvited, "alice", g.ID, "hike")
	if ok, _ := e.c.IsMember(e.ctx, "bob", g.ID); ok {
		t.Fatal("an invitee is a member before accepting")
	}
	if _, err := e.c.Send(e.ctx, bob, SendRequest{Conv: g.ID, ClientMsgID: "early", Body: "may I?"}); ToProtocol(err).Code != 404 {
		t.Fatalf("an invitee sends before accepting: %v", err)
	}
	l, err := e.c.UserInvites(e.ctx, "bob", "", 0)
	if err != nil || len(l.Invitations) != 1 || l.Invitations[0] != (protocol.Invitation{Conv: g.ID, Name: "hike", User: "bob", Inviter: "alice", Time: e.clock().UnixMilli()}) {
		t.Fatalf("bob's invitations %+v, %v", l, err)
	}
	if l, err := e.c.GroupInvites(e.ctx, "alice", g.ID, "", 1); err != nil || len(l.Invitations) != 1 || l.Next != "bob" {
		t.Fatalf("the group's invitations, a page of 1: %+v, %v", l, err)
	}
	// Invitations do not pile up.
	r, err := e.c.Invite(e.ctx, alice, g.ID, []string{"bob"})
	if err != nil || len(r.Invited) != 0 || len(r.Pending) != 1 {
		t.Fatalf("inviting bob again: %+v, %v", r, err)
	}
	if n := e.systemEntries("bob"); n != 1 {
		t.Fatalf("bob's system conversation has %d entries after a repeat, want 1", n)
	}

	ack, err := e.c.AnswerInvite(e.ctx, bob, g.ID, true)
	if err != nil || ack.Conv != g.ID || ack.Seq != 2 {
		t.Fatalf("accept = %+v, %v", ack, err)
	}
	wantJoined(t, nextJoined(t, alice1, g.ID), g.ID, "bob")
	for _, tr := range []*fakeTransport{bob1, bob2} {
		wantJoined(t, nextJoined(t, tr, g.ID), g.ID, "bob")
		wantInvite(t, nextKind(t, tr, protocol.KindInvite, ""), "bob", "bob", protocol.InviteAccepted, "alice", g.ID, "hike")
	}
	if _, err := e.c.AnswerInvite(e.ctx, carol, g.ID, false); err != nil {
		t.Fatal(err)
	}
	wantInvite(t, nextKind(t, alice1, protocol.KindInvite, ""), "alice", "carol", protocol.InviteDeclined, "carol", g.ID, "hike")
	wantInvite(t, nextKind(t, carol1, protocol.KindInvite, ""), "carol", "carol", protocol.InviteDeclined, "alice", g.ID, "hike")
	if ok, _ := e.c.IsMember(e.ctx, "carol", g.ID); ok {
		t.Fatal("carol declined and is a member")
	}

	if _, err := e.c.Send(e.ctx, Identity{User: "bob", Device: "phone"}, SendRequest{Conv: g.ID, ClientMsgID: "b1", Body: "hi all"}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*fakeTransport{alice1, bob2} {
		if m := nextKind(t, tr, protocol.KindMessage, g.ID); m.From != "bob" || m.Body != "hi all" {
			t.Fatalf("bob's message arrived as %+v", m)
		}
	}
}

// TestInvitationRefusals: who may invite and answer, and what a refusal
// looks like: a user who blocked the inviter is an unknown user.
func TestInvitationRefusals(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	alice, bob, carol := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}, Identity{User: "carol", Device: "d"}
	g, err := e.c.CreateGroup(e.ctx, alice, "g", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what   string
		id     Identity
		users  []string
		code   int
		field  string
		reason string
	}{
		{"a plain member invites", bob, []string{"carol"}, 403, "", "forbidden"},
		{"a non-member invites", carol, []string{"carol"}, 404, "", "not_found"},
		{"no users", alice, nil, 400, "users", ""},
		{"an invalid id", alice, []string{"a/b"}, 400, "users", ""},
		{"oneself", alice, []string{"alice"}, 400, "users", ""},
		{"an unknown user", alice, []string{"carol", "nobody"}, 404, "", "not_found"},
		{"a member", alice, []string{"bob"}, 409, "", "exists"},
	} {
		_, err := e.c.Invite(e.ctx, tc.id, g.ID, tc.users)
		pe := ToProtocol(err)
		if pe == nil || pe.Code != tc.code || (tc.field != "" && pe.Field != tc.field) || (tc.reason != "" && pe.Reason != tc.reason) {
			t.Errorf("%s: %+v, want %d %s%s", tc.what, pe, tc.code, tc.field, tc.reason)
		}
	}
	// A user who blocked the inviter is refused exactly as an unknown one,
	// at creation too.
	if err := e.c.Block(e.ctx, "carol", "alice"); err != nil {
		t.Fatal(err)
	}
	_, blocked := e.c.Invite(e.ctx, alice, g.ID, []string{"carol"})
	_, unknown := e.c.Invite(e.ctx, alice, g.ID, []string{"nobody"})
	samePErr(t, "inviting a blocker", ToProtocol(blocked), ToProtocol(unknown))
	if _, err := e.c.CreateGroup(e.ctx, alice, "g2", nil, "carol"); ToProtocol(err).Code != 404 {
		t.Fatalf("creating a group inviting a blocker: %v", err)
	}
	if l, _ := e.c.GroupInvites(e.ctx, "alice", g.ID, "", 0); len(l.Invitations) != 0 {
		t.Fatalf("refused invitations were stored: %+v", l)
	}
	if _, err := e.c.AnswerInvite(e.ctx, carol, g.ID, true); ToProtocol(err).Code != 404 {
		t.Fatalf("answering no invitation: %v", err)
	}
	if _, err := e.c.GroupInvites(e.ctx, "bob", g.ID, "", 0); ToProtocol(err).Code != 403 {
		t.Fatalf("a plain member lists invitations: %v", err)
	}
	d, err := e.c.Direct(e.ctx, "alice", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Invite(e.ctx, alice, d, []string{"carol"}); ToProtocol(err).Code != 422 {
		t.Fatalf("inviting to a direct conversation: %v", err)
	}

	// Revoking: the invitee is told; a second revoke finds nothing.
	if _, err := e.c.CreateUser(e.ctx, "dave", "password", ""); err != nil {
		t.Fatal(err)
	}
	dave1 := e.attachResumed("dave", "phone")
	if _, err := e.c.Invite(e.ctx, alice, g.ID, []string{"dave"}); err != nil {
		t.Fatal(err)
	}
	nextKind(t, dave1, protocol.KindInvite, "")
	if err := e.c.RevokeInvite(e.ctx, bob, g.ID, "dave"); ToProtocol(err).Code != 403 {
		t.Fatalf("a plain member revokes: %v", err)
	}
	if err := e.c.RevokeInvite(e.ctx, alice, g.ID, "dave"); err != nil {
		t.Fatal(err)
	}
	wantInvite(t, nextKind(t, dave1, protocol.KindInvite, ""), "dave", "alice", protocol.InviteRevoked, "alice", g.ID, "g")
	if err := e.c.RevokeInvite(e.ctx, alice, g.ID, "dave"); ToProtocol(err).Code != 404 {
		t.Fatalf("revoking twice: %v", err)
	}
}

// TestGroupAddSetting: a user who lets only friends add them is refused
// to others with 403 invite_required (and may be invited instead); the
// server's default applies to users who never chose; a user who blocked
// the adder looks unknown.
func TestGroupAddSetting(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, withInvitations(Invitations{GroupAddDefault: protocol.GroupAddFriends}))
	alice, bob := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}
	if s, err := e.c.Settings(e.ctx, "bob"); err != nil || s.GroupAdd != protocol.GroupAddFriends {
		t.Fatalf("bob's settings with the default friends: %+v, %v", s, err)
	}
	_, err := e.c.CreateGroup(e.ctx, alice, "g", []string{"bob"})
	if pe := ToProtocol(err); pe.Code != 403 || pe.Reason != "invite_required" {
		t.Fatalf("adding a stranger at creation: %+v", pe)
	}
	g, err := e.c.CreateGroup(e.ctx, alice, "g", nil, "bob")
	if err != nil {
		t.Fatalf("inviting a stranger at creation: %v", err)
	}
	if _, err := e.c.AddMember(e.ctx, alice, g.ID, "carol"); ToProtocol(err).Reason != "invite_required" {
		t.Fatalf("adding a stranger: %v", err)
	}
	anyone := protocol.GroupAddAnyone
	if s, err := e.c.UpdateSettings(e.ctx, Identity{User: "carol", Device: "d"}, SettingsUpdate{GroupAdd: &anyone}); err != nil || s.GroupAdd != anyone {
		t.Fatalf("carol lets anyone add her: %+v, %v", s, err)
	}
	if _, err := e.c.AddMember(e.ctx, alice, g.ID, "carol"); err != nil {
		t.Fatalf("adding carol, who lets anyone: %v", err)
	}
	bad := "everyone"
	if _, err := e.c.UpdateSettings(e.ctx, bob, SettingsUpdate{GroupAdd: &bad}); ToProtocol(err).Field != "group_add" {
		t.Fatalf("a bad group_add: %v", err)
	}
	// Friends may add.
	if _, err := e.c.RequestFriend(e.ctx, alice, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AnswerFriend(e.ctx, bob, "alice", true); err != nil {
		t.Fatal(err)
	}
	g2, err := e.c.CreateGroup(e.ctx, alice, "friends", []string{"bob"})
	if err != nil {
		t.Fatalf("adding a friend: %v", err)
	}
	// A blocker looks unknown, whatever the setting.
	if err := e.c.Block(e.ctx, "carol", "alice"); err != nil {
		t.Fatal(err)
	}
	_, blocked := e.c.AddMember(e.ctx, alice, g2.ID, "carol")
	_, unknown := e.c.AddMember(e.ctx, alice, g2.ID, "nobody")
	samePErr(t, "adding a blocker", ToProtocol(blocked), ToProtocol(unknown))
}

// TestMemberLimit: creating, adding, accepting and joining stop at the
// limit with 403 group_full; what was refused can succeed once there is
// room.
func TestMemberLimit(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, withInvitations(Invitations{MaxMembers: 2}))
	alice, bob, carol := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}, Identity{User: "carol", Device: "d"}
	full := func(what string, err error) {
		t.Helper()
		if pe := ToProtocol(err); pe.Code != 403 || pe.Reason != "group_full" {
			t.Fatalf("%s: %+v, want 403 group_full", what, pe)
		}
	}
	_, err := e.c.CreateGroup(e.ctx, alice, "g", []string{"bob", "carol"})
	full("creating a group of three", err)
	g, err := e.c.CreateGroup(e.ctx, alice, "g", []string{"bob"}, "carol")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.AddMember(e.ctx, alice, g.ID, "carol")
	full("adding a third", err)
	_, err = e.c.AnswerInvite(e.ctx, carol, g.ID, true)
	full("accepting as a third", err)
	link, err := e.c.CreateLink(e.ctx, alice, g.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Join(e.ctx, carol, link.Token)
	full("joining as a third", err)
	if _, err := e.c.Leave(e.ctx, bob, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AnswerInvite(e.ctx, carol, g.ID, true); err != nil {
		t.Fatalf("accepting once there is room (the invitation stayed): %v", err)
	}
}

// TestInvitationsAreRateLimited: each invitee spends one invitation of the
// inviter's hourly budget.
func TestInvitationsAreRateLimited(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, withInvitations(Invitations{InvitesPerHour: 3}))
	alice := Identity{User: "alice", Device: "d"}
	g, err := e.c.CreateGroup(e.ctx, alice, "g", nil, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Invite(e.ctx, alice, g.ID, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Invite(e.ctx, alice, g.ID, []string{"carol"})
	var le *ratelimit.Error
	if !errors.As(err, &le) || le.RetryAfter <= 0 || ToProtocol(err).Code != 429 {
		t.Fatalf("a fourth invitation within the hour: %v", err)
	}
	if _, err := e.c.Invite(e.ctx, alice, g.ID, []string{"bob", "carol", "alice", "x"}); ToProtocol(err).Code != 400 {
		t.Fatalf("more invitees than the hourly budget: %v", err)
	}
	e.advance(21 * time.Minute) // one token back
	if _, err := e.c.Invite(e.ctx, alice, g.ID, []string{"carol"}); err != nil {
		t.Fatalf("after the bucket refilled: %v", err)
	}
}

// TestJoinByLinkWithApproval: with the group's join approval on, a join
// with a link is a request the owner and admins are told of; approving
// makes the requester a member, denying tells them; expired and revoked
// links are refused.
func TestJoinByLinkWithApproval(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	alice, bob, carol := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}, Identity{User: "carol", Device: "d"}
	alice1 := e.attachResumed("alice", "laptop")
	bob1 := e.attachResumed("bob", "phone")
	g, err := e.c.CreateGroup(e.ctx, alice, "club", nil)
	if err != nil {
		t.Fatal(err)
	}
	on := true
	if s, err := e.c.UpdateGroupSettings(e.ctx, alice, g.ID, GroupSettingsUpdate{JoinApproval: &on}); err != nil || !s.JoinApproval {
		t.Fatalf("approval on: %+v, %v", s, err)
	}
	link, err := e.c.CreateLink(e.ctx, alice, g.ID, time.Hour, 0)
	if err != nil || len(link.Token) != 32 || link.ExpiresAt != e.clock().Add(time.Hour).UnixMilli() {
		t.Fatalf("link %+v, %v", link, err)
	}
	if l, err := e.c.Links(e.ctx, "alice", g.ID); err != nil || len(l.Links) != 1 || l.Links[0] != link {
		t.Fatalf("links %+v, %v", l, err)
	}
	r, err := e.c.Join(e.ctx, bob, link.Token)
	if err != nil || r != (protocol.JoinResult{Conv: g.ID, Name: "club", Status: protocol.JoinRequested}) {
		t.Fatalf("join with approval on: %+v, %v", r, err)
	}
	wantInvite(t, nextKind(t, alice1, protocol.KindInvite, ""), "alice", "bob", protocol.InviteJoinRequest, "bob", g.ID, "club")
	wantInvite(t, nextKind(t, bob1, protocol.KindInvite, ""), "bob", "bob", protocol.InviteJoinRequested, "", g.ID, "club")
	if l, err := e.c.JoinRequests(e.ctx, "alice", g.ID, "", 0); err != nil || len(l.Requests) != 1 || l.Requests[0].User != "bob" {
		t.Fatalf("join requests %+v, %v", l, err)
	}
	ack, err := e.c.AnswerJoinRequest(e.ctx, alice, g.ID, "bob", true)
	if err != nil || ack.Seq != 2 {
		t.Fatalf("approve: %+v, %v", ack, err)
	}
	wantJoined(t, nextJoined(t, bob1, g.ID), g.ID, "bob")
	wantInvite(t, nextKind(t, bob1, protocol.KindInvite, ""), "bob", "alice", protocol.InviteJoinApproved, "alice", g.ID, "club")

	// Denied: carol is told and stays out.
	carol1 := e.attachResumed("carol", "phone")
	if _, err := e.c.Join(e.ctx, carol, link.Token); err != nil {
		t.Fatal(err)
	}
	nextKind(t, carol1, protocol.KindInvite, "")
	if _, err := e.c.AnswerJoinRequest(e.ctx, alice, g.ID, "carol", false); err != nil {
		t.Fatal(err)
	}
	wantInvite(t, nextKind(t, carol1, protocol.KindInvite, ""), "carol", "alice", protocol.InviteJoinDenied, "alice", g.ID, "club")
	if ok, _ := e.c.IsMember(e.ctx, "carol", g.ID); ok {
		t.Fatal("a denied requester is a member")
	}

	// Without approval a link joins at once; expired and revoked links
	// are refused.
	off := false
	if _, err := e.c.UpdateGroupSettings(e.ctx, alice, g.ID, GroupSettingsUpdate{JoinApproval: &off}); err != nil {
		t.Fatal(err)
	}
	r, err = e.c.Join(e.ctx, carol, link.Token)
	if err != nil || r.Status != protocol.JoinJoined || r.Seq == 0 {
		t.Fatalf("join without approval: %+v, %v", r, err)
	}
	if _, err := e.c.Join(e.ctx, carol, link.Token); ToProtocol(err).Code != 409 {
		t.Fatalf("a member joins again: %v", err)
	}
	if _, err := e.c.CreateUser(e.ctx, "dave", "password", ""); err != nil {
		t.Fatal(err)
	}
	dave := Identity{User: "dave", Device: "d"}
	e.advance(time.Hour)
	if pe := ToProtocol(func() error { _, err := e.c.Join(e.ctx, dave, link.Token); return err }()); pe.Code != 410 || pe.Reason != "link_expired" {
		t.Fatalf("an expired link: %+v", pe)
	}
	l2, err := e.c.CreateLink(e.ctx, alice, g.ID, 0, 1)
	if err != nil || l2.ExpiresAt != e.clock().Add(LinkTTLDefault).UnixMilli() {
		t.Fatalf("a link with the default lifetime: %+v, %v", l2, err)
	}
	if err := e.c.RevokeLink(e.ctx, bob, g.ID, l2.Token); ToProtocol(err).Code != 403 {
		t.Fatalf("a plain member revokes: %v", err)
	}
	if err := e.c.RevokeLink(e.ctx, alice, g.ID, l2.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Join(e.ctx, dave, l2.Token); ToProtocol(err).Code != 404 {
		t.Fatalf("a revoked link: %v", err)
	}
	if _, err := e.c.Join(e.ctx, dave, "not a token"); ToProtocol(err).Field != "token" {
		t.Fatalf("a malformed token: %v", err)
	}
	if _, err := e.c.CreateLink(e.ctx, alice, g.ID, 2*LinkTTLMax, 0); ToProtocol(err).Field != "expires_in" {
		t.Fatalf("a link for too long: %v", err)
	}
}

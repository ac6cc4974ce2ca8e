package mqtt

import (
	"testing"

	"github.com/parley-im/parley/protocol"
)

// TestInviteRoutes: an invitation is answered on one's own GInv topic of
// a group; anything else like it is refused.
func TestInviteRoutes(t *testing.T) {
	t.Parallel()
	sc := scheme{root: "IMS"}
	checkRoutes(t, sc, "alice", []routeCase{
		{"IMS/alice/Inbox/Add/GInv/g_abc", routeInviteAnswer, "g_abc"},
		{"IMS/bob/Inbox/Add/GInv/g_abc", routeNone, ""}, // as someone else
		{"IMS/alice/Inbox/Add/GInv/d_abc", routeNone, ""},
		{"IMS/alice/Inbox/Add/GInv/alice", routeNone, ""},
		{"IMS/alice/Inbox/Add/GInv/", routeNone, ""},
		{"IMS/alice/Inbox/Add/GInv/g_abc/x", routeNone, ""},
		{"IMS/alice/Inbox/Add/GInvResp/g_abc", routeNone, ""},
		{"IMS/alice/Inbox/Add/GJoinReq/bob", routeNone, ""},
		{"IMS/alice/Outbox/Add/GInv/g_abc", routeNone, ""},
		{"IMS/alice/Inbox/Add/GInv/+", routeNone, ""},
	})
}

// TestInviteTopic: what others did about bob's invitations and join
// requests arrives on GInv, GInvResp, GJoinReq or GJoinResp; bob's own
// entries and the rest on the inbox.
func TestInviteTopic(t *testing.T) {
	t.Parallel()
	sc := scheme{root: "IMS"}
	entry := func(from, action, user string) *protocol.Message {
		return &protocol.Message{Kind: protocol.KindInvite, From: from,
			Social: &protocol.SocialEvent{Action: action, User: user, Group: "g_1", Name: "hike"}}
	}
	for _, c := range []struct {
		m    *protocol.Message
		want string
	}{
		{entry("alice", protocol.InviteInvited, "alice"), "IMS/bob/Inbox/Add/GInv/g_1"},
		{entry("alice", protocol.InviteRevoked, "alice"), "IMS/bob/Inbox/Add/GInv/g_1"},
		{entry("carol", protocol.InviteDeclined, "carol"), "IMS/bob/Inbox/Add/GInvResp/carol"},
		{entry("carol", protocol.InviteJoinRequest, "carol"), "IMS/bob/Inbox/Add/GJoinReq/carol"},
		{entry("alice", protocol.InviteJoinApproved, "alice"), "IMS/bob/Inbox/Add/GJoinResp/g_1"},
		{entry("alice", protocol.InviteJoinDenied, "alice"), "IMS/bob/Inbox/Add/GJoinResp/g_1"},
		{entry("alice", protocol.InviteJoinApproved, "carol"), ""}, // another admin's answer, as bob the admin sees it
		{entry("bob", protocol.InviteAccepted, "alice"), ""},       // bob's own, on his other devices
		{entry("bob", protocol.InviteDeclined, "alice"), ""},
		{entry("bob", protocol.InviteJoinRequested, ""), ""},
		{&protocol.Message{Kind: protocol.KindInvite, From: "alice", Social: &protocol.SocialEvent{Action: protocol.InviteInvited}}, ""},
		{&protocol.Message{Kind: protocol.KindFriend, From: "alice", Social: &protocol.SocialEvent{Action: protocol.FriendRequest, User: "alice"}}, ""},
	} {
		if got := sc.inviteTopic("bob", c.m); got != c.want {
			t.Errorf("inviteTopic(bob, %+v %+v) = %q, want %q", c.m, c.m.Social, got, c.want)
		}
	}
}

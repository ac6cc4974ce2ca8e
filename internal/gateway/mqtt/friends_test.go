package mqtt

import (
	"testing"

	"github.com/parley-im/parley/protocol"
)

// TestFriendRoutes: a request or answer names the authenticated user
// last, into another user's inbox; anything else is refused.
func TestFriendRoutes(t *testing.T) {
	t.Parallel()
	sc := scheme{root: "IMS"}
	checkRoutes(t, sc, "alice", []routeCase{
		{"IMS/bob/Inbox/Add/GFReq/alice", routeFriendReq, "bob"},
		{"IMS/bob/Inbox/Add/GFResp/alice", routeFriendResp, "bob"},
		{"IMS/bob/Inbox/Add/GFReq/carol", routeNone, ""}, // as someone else
		{"IMS/bob/Inbox/Add/GFResp/carol", routeNone, ""},
		{"IMS//Inbox/Add/GFReq/alice", routeNone, ""},
		{"IMS/bob/Inbox/Add/GFReq/", routeNone, ""},
		{"IMS/bob/Inbox/Add/GFReq/alice/x", routeNone, ""},
		{"IMS/bob/Inbox/Add/Other/alice", routeNone, ""},
		{"IMS/bob/Inbox/Update/bob/Unsub", routeNone, ""},
		{"IMS/bob/Outbox/Add/GFReq/alice", routeNone, ""},
		{"IMS/bob/Inbox/Add/GFReq/+", routeNone, ""},
		{"ims/bob/Inbox/Add/GFReq/alice", routeNone, ""},
	})
}

// TestFriendTopic: what the other user did arrives on GFReq or GFResp,
// named by them; the user's own actions and the rest on the inbox.
func TestFriendTopic(t *testing.T) {
	t.Parallel()
	sc := scheme{root: "IMS"}
	entry := func(from, action, user string) *protocol.Message {
		return &protocol.Message{Kind: protocol.KindFriend, From: from, Social: &protocol.SocialEvent{Action: action, User: user}}
	}
	for _, c := range []struct {
		m    *protocol.Message
		want string
	}{
		{entry("alice", protocol.FriendRequest, "alice"), "IMS/bob/Inbox/Add/GFReq/alice"},
		{entry("alice", protocol.FriendAccepted, "alice"), "IMS/bob/Inbox/Add/GFResp/alice"},
		{entry("alice", protocol.FriendDeclined, "alice"), "IMS/bob/Inbox/Add/GFResp/alice"},
		{entry("bob", protocol.FriendAccepted, "alice"), ""}, // bob's own answer, on his other devices
		{entry("bob", protocol.FriendRequested, "alice"), ""},
		{entry("alice", protocol.FriendWithdrawn, "alice"), ""},
		{entry("alice", protocol.FriendRemoved, "alice"), ""},
		{&protocol.Message{Kind: protocol.KindMessage, From: "alice"}, ""},
		{&protocol.Message{Kind: protocol.KindFriend, From: "alice"}, ""},
	} {
		if got := sc.friendTopic("bob", c.m); got != c.want {
			t.Errorf("friendTopic(bob, %+v %+v) = %q, want %q", c.m, c.m.Social, got, c.want)
		}
	}
}

func TestParseFriendPayloads(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, text string
		bad      bool
	}{
		{"", "", false},
		{"  \n", "", false},
		{"hi bob", "hi bob", false},
		{`{"text":"hi bob"}`, "hi bob", false},
		{` {"text":""} `, "", false},
		{`{"text":"hi","x":1}`, `{"text":"hi","x":1}`, false}, // not the envelope: the text
		{`{"text":5}`, `{"text":5}`, false},
		{"\xff", "", true},
	} {
		text, err := parseFriendText([]byte(c.in))
		if (err != nil) != c.bad || text != c.text {
			t.Errorf("parseFriendText(%q) = %q, %v; want %q, bad %v", c.in, text, err, c.text, c.bad)
		}
	}
	for _, c := range []struct {
		in             string
		accept, refuse bool
	}{
		{`{"accept":true}`, true, false},
		{` {"accept": false} `, false, false},
		{"true", true, false},
		{"false", false, false},
		{`{"accept":"yes"}`, false, true},
		{`{"accept":true,"x":1}`, false, true},
		{`{}`, false, true},
		{"", false, true},
		{"yes", false, true},
	} {
		accept, err := parseFriendAnswer([]byte(c.in))
		if (err != nil) != c.refuse || accept != c.accept {
			t.Errorf("parseFriendAnswer(%q) = %v, %v; want %v, refused %v", c.in, accept, err, c.accept, c.refuse)
		}
	}
}

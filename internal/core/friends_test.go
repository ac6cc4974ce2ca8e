package core

import (
	"testing"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

func withSocial(s Social) func(*Options) {
	return func(o *Options) { o.Social = s }
}

// attachResumed attaches a device of user and resumes it.
func (e *coreEnv) attachResumed(user, device string) *fakeTransport {
	e.t.Helper()
	tr := newFakeTransport()
	cl, err := e.c.Attach(Identity{User: user, Device: device}, tr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cl.Close(protocol.CloseShutdown, "test over") })
	cl.Resume("r", nil)
	tr.next(e.t, protocol.TypeResumed)
	return tr
}

// nextFriend returns the next friend entry a connection receives.
func nextFriend(t *testing.T, tr *fakeTransport) *protocol.Message {
	t.Helper()
	for {
		ev := tr.next(t, protocol.TypeMsg)
		if ev.Msg != nil && ev.Msg.Kind == protocol.KindFriend {
			return ev.Msg
		}
	}
}

// wantFriend checks a friend entry: owner's system conversation, from, the
// action and the other user.
func wantFriend(t *testing.T, m *protocol.Message, owner, from, action, user, text string) {
	t.Helper()
	if m.Conv != SystemID(owner) || m.From != from || m.Social == nil ||
		*m.Social != (protocol.SocialEvent{Action: action, User: user, Text: text}) {
		t.Fatalf("entry %+v (social %+v), want %s's %q by %s about %s", m, m.Social, owner, action, from, user)
	}
}

func (e *coreEnv) systemEntries(user string) int {
	e.t.Helper()
	p, err := e.c.History(e.ctx, user, HistoryRequest{Conv: SystemID(user)})
	if err != nil {
		e.t.Fatalf("history of %s's system conversation: %v", user, err)
	}
	return len(p.Messages)
}

// TestFriendRequestReachesBothUsersDevices: a request, its repeat, the
// answer, over the core: every device of both users gets its entry,
// which names the other user; friends lists follow.
func TestFriendRequestReachesBothUsersDevices(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	alice, bob := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}
	alice2 := e.attachResumed("alice", "laptop")
	bob1 := e.attachResumed("bob", "phone")

	st, err := e.c.RequestFriend(e.ctx, alice, "bob", "hi, I'm alice")
	if err != nil || st != (protocol.FriendStatus{User: "bob", Status: protocol.FriendPending}) {
		t.Fatalf("request = %+v, %v", st, err)
	}
	wantFriend(t, nextFriend(t, bob1), "bob", "alice", protocol.FriendRequest, "alice", "hi, I'm alice")
	wantFriend(t, nextFriend(t, alice2), "alice", "alice", protocol.FriendRequested, "bob", "hi, I'm alice")

	// A repeat changes nothing.
	if st, err := e.c.RequestFriend(e.ctx, alice, "bob", "hello?"); err != nil || st.Status != protocol.FriendPending {
		t.Fatalf("repeat = %+v, %v", st, err)
	}
	if n := e.systemEntries("bob"); n != 1 {
		t.Fatalf("bob's system conversation has %d entries after a repeat, want 1", n)
	}
	in, err := e.c.FriendRequests(e.ctx, "bob", true, "", 0)
	if err != nil || len(in.Requests) != 1 || in.Requests[0].From != "alice" || in.Requests[0].Text != "hi, I'm alice" {
		t.Fatalf("bob's incoming requests %+v, %v", in, err)
	}

	st, err = e.c.AnswerFriend(e.ctx, bob, "alice", true)
	if err != nil || st != (protocol.FriendStatus{User: "alice", Status: protocol.FriendFriends}) {
		t.Fatalf("accept = %+v, %v", st, err)
	}
	wantFriend(t, nextFriend(t, alice2), "alice", "bob", protocol.FriendAccepted, "bob", "")
	wantFriend(t, nextFriend(t, bob1), "bob", "bob", protocol.FriendAccepted, "alice", "")
	for _, u := range [][2]string{{"alice", "bob"}, {"bob", "alice"}} {
		l, err := e.c.Friends(e.ctx, u[0], "", 0)
		if err != nil || len(l.Friends) != 1 || l.Friends[0].User != u[1] || l.Friends[0].Since != e.clock().UnixMilli() {
			t.Fatalf("%s's friends %+v, %v", u[0], l, err)
		}
	}
	_, err = e.c.RequestFriend(e.ctx, alice, "bob", "")
	if pe := ToProtocol(err); pe == nil || pe.Code != 409 || pe.Reason != "already_friends" {
		t.Fatalf("request between friends: %+v", pe)
	}
	// Friend entries are never unread.
	cv, err := e.c.Conversation(e.ctx, "bob", SystemID("bob"))
	if err != nil || cv.Unread != 0 || cv.Kind != protocol.ConvSystem {
		t.Fatalf("bob's system conversation %+v, %v", cv, err)
	}

	if err := e.c.Unfriend(e.ctx, bob, "alice"); err != nil {
		t.Fatal(err)
	}
	wantFriend(t, nextFriend(t, alice2), "alice", "bob", protocol.FriendRemoved, "bob", "")
	if err := e.c.Unfriend(e.ctx, bob, "alice"); ToProtocol(err).Code != 404 {
		t.Fatalf("unfriending twice: %v", err)
	}
	if _, err := e.c.RequestFriend(e.ctx, alice, "alice", ""); ToProtocol(err).Field != "user" {
		t.Fatalf("request to oneself: %v", err)
	}
	if _, err := e.c.RequestFriend(e.ctx, alice, "bob", string(make([]byte, protocol.FriendTextMax+1))); ToProtocol(err).Field != "text" {
		t.Fatalf("request with a long text: %v", err)
	}
}

// TestFriendRequestToBlockerIsUnknown: a request to a user who blocked
// the requester is answered exactly as one to a user who does not exist.
func TestFriendRequestToBlockerIsUnknown(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	alice := Identity{User: "alice", Device: "d"}
	if err := e.c.Block(e.ctx, "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.RequestFriend(e.ctx, alice, "bob", "")
	_, unknown := e.c.RequestFriend(e.ctx, alice, "nobody", "")
	samePErr(t, "request to a blocker", ToProtocol(err), ToProtocol(unknown))
	if ToProtocol(err).Code != 404 {
		t.Fatalf("request to a blocker: %+v, want 404", ToProtocol(err))
	}
}

// TestFriendRequestRateLimit: requests per user per hour, repeats and
// requests to unknown users included; refused with the rate-limit shape.
func TestFriendRequestRateLimit(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, withSocial(Social{FriendRequestsPerHour: 2}))
	alice := Identity{User: "alice", Device: "d"}
	if _, err := e.c.RequestFriend(e.ctx, alice, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.RequestFriend(e.ctx, alice, "nobody", ""); ToProtocol(err).Code != 404 {
		t.Fatalf("request to nobody: %v", err)
	}
	_, err := e.c.RequestFriend(e.ctx, alice, "carol", "")
	le := limitOf(t, err)
	if le.Limit != ratelimit.LimitFriendRequests || le.RetryAfter <= 0 || le.RetryAfter > 30*time.Minute+time.Second {
		t.Fatalf("refusal %+v", le)
	}
	if pe := ToProtocol(err); pe.Code != 429 || pe.Reason != "rate_limited" || pe.RetryAfterMS <= 0 {
		t.Fatalf("refusal as the client sees it: %+v", pe)
	}
	if n := rateLimited(t, e.c)[ratelimit.LimitFriendRequests]; n != 1 {
		t.Fatalf("friend_requests refusals counted %v, want 1", n)
	}
	// Others are not affected; the bucket refills.
	if _, err := e.c.RequestFriend(e.ctx, Identity{User: "carol", Device: "d"}, "bob", ""); err != nil {
		t.Fatalf("carol's request: %v", err)
	}
	e.advance(31 * time.Minute)
	if _, err := e.c.RequestFriend(e.ctx, alice, "carol", ""); err != nil {
		t.Fatalf("request after the refill: %v", err)
	}
}

// TestInboundFriendsOnly: a friends-only user refuses strangers' direct
// messages, and opening a conversation with them, and accepts friends and
// group co-members; friendships and memberships that end are noticed at
// once; a block still answers 404.
func TestInboundFriendsOnly(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	alice, bob, carol := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}, Identity{User: "carol", Device: "d"}
	old := e.send("alice", "", "bob").Conv // before bob's choice
	friendsOnly := protocol.InboundFriends
	s, err := e.c.UpdateSettings(e.ctx, bob, SettingsUpdate{Inbound: &friendsOnly})
	if err != nil || s.Inbound != protocol.InboundFriends {
		t.Fatalf("settings %+v, %v", s, err)
	}
	notAccepted := func(what string, pe *protocol.Error) {
		t.Helper()
		if pe == nil || pe.Code != 403 || pe.Reason != "not_accepted" {
			t.Fatalf("%s: %+v, want 403 not_accepted", what, pe)
		}
	}
	notAccepted("alice to bob by user", e.sendErr("alice", "", "bob"))
	notAccepted("alice to bob by conversation", e.sendErr("alice", old, ""))
	_, err = e.c.Direct(e.ctx, "carol", "bob")
	notAccepted("carol opens a conversation with bob", ToProtocol(err))
	if _, err := e.c.Conversation(e.ctx, "bob", DirectID("bob", "carol")); err == nil {
		t.Fatal("a refused first message created the conversation")
	}
	// bob himself writes to whom he likes.
	if pe := e.sendErr("bob", old, ""); pe != nil {
		t.Fatalf("bob to alice: %+v", pe)
	}

	// A group co-member may, until the group is no longer shared.
	g, err := e.c.CreateGroup(e.ctx, bob, "g", []string{"carol"})
	if err != nil {
		t.Fatal(err)
	}
	if pe := e.sendErr("carol", "", "bob"); pe != nil {
		t.Fatalf("carol, in a group with bob: %+v", pe)
	}
	if _, err := e.c.Leave(e.ctx, carol, g.ID); err != nil {
		t.Fatal(err)
	}
	notAccepted("carol after leaving the group", e.sendErr("carol", "", "bob"))

	// A friend may, until unfriended.
	if _, err := e.c.RequestFriend(e.ctx, alice, "bob", ""); err != nil {
		t.Fatal(err)
	}
	notAccepted("alice with a pending request", e.sendErr("alice", old, ""))
	if _, err := e.c.AnswerFriend(e.ctx, bob, "alice", true); err != nil {
		t.Fatal(err)
	}
	if pe := e.sendErr("alice", old, ""); pe != nil {
		t.Fatalf("alice, bob's friend: %+v", pe)
	}
	if err := e.c.Unfriend(e.ctx, alice, "bob"); err != nil {
		t.Fatal(err)
	}
	notAccepted("alice unfriended", e.sendErr("alice", old, ""))

	// A block answers as before: 404, whatever the setting.
	if err := e.c.Block(e.ctx, "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	if pe := e.sendErr("alice", "", "bob"); pe == nil || pe.Code != 404 {
		t.Fatalf("alice blocked by a friends-only bob: %+v, want 404", pe)
	}

	// Back to anyone.
	anyone := protocol.InboundAnyone
	if _, err := e.c.UpdateSettings(e.ctx, bob, SettingsUpdate{Inbound: &anyone}); err != nil {
		t.Fatal(err)
	}
	if pe := e.sendErr("carol", "", "bob"); pe != nil {
		t.Fatalf("carol to bob, who accepts anyone again: %+v", pe)
	}
	bad := "nobody"
	if _, err := e.c.UpdateSettings(e.ctx, bob, SettingsUpdate{Inbound: &bad}); ToProtocol(err).Field != "inbound" {
		t.Fatalf("inbound %q: %v", bad, err)
	}
}

// TestInboundDefault: the server's default applies to users who never
// chose; a user's own choice wins.
func TestInboundDefault(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, withSocial(Social{InboundDefault: protocol.InboundFriends}))
	s, err := e.c.Settings(e.ctx, "bob")
	if err != nil || s != (protocol.Settings{Inbound: protocol.InboundFriends, GroupAdd: protocol.GroupAddAnyone}) {
		t.Fatalf("bob's settings %+v, %v", s, err)
	}
	if pe := e.sendErr("alice", "", "bob"); pe == nil || pe.Reason != "not_accepted" {
		t.Fatalf("alice to bob under a friends-only default: %+v", pe)
	}
	anyone, hidden := protocol.InboundAnyone, true
	s, err = e.c.UpdateSettings(e.ctx, Identity{User: "bob", Device: "d"}, SettingsUpdate{Inbound: &anyone, PresenceHidden: &hidden})
	if err != nil || s != (protocol.Settings{Inbound: protocol.InboundAnyone, PresenceHidden: true, GroupAdd: protocol.GroupAddAnyone}) {
		t.Fatalf("bob's settings after the change %+v, %v", s, err)
	}
	if pe := e.sendErr("alice", "", "bob"); pe != nil {
		t.Fatalf("alice to bob, who accepts anyone: %+v", pe)
	}
}

// TestNoFriendshipAcrossABlock: a blocker cannot ask the user they block
// (403 blocked), and a request made before a block cannot be accepted
// across it: the blocker is told to unblock, the blocked user sees what
// answering a request that does not exist gives.
func TestNoFriendshipAcrossABlock(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	alice, bob := Identity{User: "alice", Device: "d"}, Identity{User: "bob", Device: "d"}
	if _, err := e.c.RequestFriend(e.ctx, alice, "bob", "before"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Block(e.ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.RequestFriend(e.ctx, alice, "bob", "")
	if pe := ToProtocol(err); pe.Code != 403 || pe.Reason != "blocked" {
		t.Fatalf("blocker's request to the blocked: %+v, want 403 blocked", pe)
	}
	_, err = e.c.AnswerFriend(e.ctx, bob, "alice", true)
	_, none := e.c.AnswerFriend(e.ctx, bob, "carol", true)
	samePErr(t, "accepting the blocker's old request", ToProtocol(err), ToProtocol(none))
	if ok, err := e.c.st.AreFriends(e.ctx, "alice", "bob"); err != nil || ok {
		t.Fatalf("friends across a block: %v, %v", ok, err)
	}
	// Declining stays possible, and unblocking restores the request path.
	if err := e.c.Unblock(e.ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AnswerFriend(e.ctx, bob, "alice", true); err != nil {
		t.Fatalf("accepting after the unblock: %v", err)
	}
}

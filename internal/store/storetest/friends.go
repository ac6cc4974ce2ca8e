package storetest

import (
	"reflect"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// friendTests check store.Friends and store.Settings.
var friendTests = []test{
	{"friends/request, repeat, accept", func(f *fx) {
		f.user("alice")
		f.user("bob")
		at := f.tick()
		ch, err := f.s.RequestFriend(f.ctx, "alice", "bob", "hi, it's <alice>", at)
		f.must(err, "request")
		if ch.Status != protocol.FriendPending || len(ch.Events) != 2 {
			f.Fatalf("request: %+v, want pending with two entries", ch)
		}
		f.friendEntry(ch.Events[0], "bob", "alice", protocol.FriendRequest, "alice", "hi, it's <alice>")
		f.friendEntry(ch.Events[1], "alice", "alice", protocol.FriendRequested, "bob", "hi, it's <alice>")
		f.sameMessage(f.at(store.SystemConvID("bob"), ch.Events[0].Seq), ch.Events[0], "bob's request read back")
		want := []store.FriendRequest{{From: "alice", To: "bob", Text: "hi, it's <alice>", CreatedAt: at}}
		f.requests("bob", true, want)
		f.requests("alice", false, want)
		f.requests("bob", false, nil)
		f.requests("alice", true, nil)

		// A repeat changes nothing: no entry, the first text kept.
		ch, err = f.s.RequestFriend(f.ctx, "alice", "bob", "again", f.tick())
		f.must(err, "repeat")
		if ch.Status != protocol.FriendPending || len(ch.Events) != 0 {
			f.Fatalf("repeated request: %+v, want pending and no entries", ch)
		}
		if c := f.conv(store.SystemConvID("bob")); c.LastSeq != 1 {
			f.Fatalf("bob's system conversation at seq %d after a repeat, want 1", c.LastSeq)
		}
		f.requests("bob", true, want)

		since := f.tick()
		ch, err = f.s.AnswerFriend(f.ctx, "bob", "alice", true, since)
		f.must(err, "accept")
		if ch.Status != protocol.FriendFriends || len(ch.Events) != 2 {
			f.Fatalf("accept: %+v", ch)
		}
		f.friendEntry(ch.Events[0], "alice", "bob", protocol.FriendAccepted, "bob", "")
		f.friendEntry(ch.Events[1], "bob", "bob", protocol.FriendAccepted, "alice", "")
		f.friends("alice", []store.Friend{{User: "bob", Since: since}})
		f.friends("bob", []store.Friend{{User: "alice", Since: since}})
		f.areFriends("alice", "bob", true)
		f.requests("bob", true, nil)
		f.requests("alice", false, nil)
		ids, err := f.s.FriendIDs(f.ctx, "bob")
		f.must(err, "friend ids")
		if !reflect.DeepEqual(ids, []string{"alice"}) {
			f.Fatalf("bob's friend ids %v", ids)
		}
		// Entries of the social graph are never unread.
		for _, u := range []string{"alice", "bob"} {
			if n, err := f.s.Unread(f.ctx, store.SystemConvID(u), u, 0); err != nil || n != 0 {
				f.Fatalf("unread in %s's system conversation = %d, %v; want 0", u, n, err)
			}
		}
		_, err = f.s.RequestFriend(f.ctx, "alice", "bob", "", f.tick())
		f.wantErr(err, store.ErrExists, "request between friends")
		_, err = f.s.RequestFriend(f.ctx, "bob", "alice", "", f.tick())
		f.wantErr(err, store.ErrExists, "request between friends, other way")
		_, err = f.s.AnswerFriend(f.ctx, "bob", "alice", true, f.tick())
		f.wantErr(err, store.ErrNotFound, "answering an answered request")
	}},
	{"friends/decline, withdraw, remove", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.user("carol")
		_, err := f.s.RequestFriend(f.ctx, "carol", "bob", "", f.tick())
		f.must(err, "carol asks bob")
		ch, err := f.s.AnswerFriend(f.ctx, "bob", "carol", false, f.tick())
		f.must(err, "decline")
		if ch.Status != protocol.FriendNone || len(ch.Events) != 2 {
			f.Fatalf("decline: %+v", ch)
		}
		f.friendEntry(ch.Events[0], "carol", "bob", protocol.FriendDeclined, "bob", "")
		f.friendEntry(ch.Events[1], "bob", "bob", protocol.FriendDeclined, "carol", "")
		f.areFriends("bob", "carol", false)
		f.requests("bob", true, nil)
		_, err = f.s.AnswerFriend(f.ctx, "bob", "carol", true, f.tick())
		f.wantErr(err, store.ErrNotFound, "accepting a declined request")

		// Declined, carol may ask again; then she withdraws.
		_, err = f.s.RequestFriend(f.ctx, "carol", "bob", "please", f.tick())
		f.must(err, "carol asks again")
		ch, err = f.s.WithdrawFriend(f.ctx, "carol", "bob", f.tick())
		f.must(err, "withdraw")
		if ch.Status != protocol.FriendNone || len(ch.Events) != 2 {
			f.Fatalf("withdraw: %+v", ch)
		}
		f.friendEntry(ch.Events[0], "bob", "carol", protocol.FriendWithdrawn, "carol", "")
		f.friendEntry(ch.Events[1], "carol", "carol", protocol.FriendWithdrawn, "bob", "")
		f.requests("bob", true, nil)
		_, err = f.s.WithdrawFriend(f.ctx, "carol", "bob", f.tick())
		f.wantErr(err, store.ErrNotFound, "withdrawing twice")
		_, err = f.s.WithdrawFriend(f.ctx, "bob", "carol", f.tick())
		f.wantErr(err, store.ErrNotFound, "withdrawing a request one never made")

		f.befriend("alice", "bob")
		f.befriend("alice", "carol")
		ch, err = f.s.RemoveFriend(f.ctx, "bob", "alice", f.tick())
		f.must(err, "unfriend")
		if ch.Status != protocol.FriendNone || len(ch.Events) != 2 {
			f.Fatalf("unfriend: %+v", ch)
		}
		f.friendEntry(ch.Events[0], "alice", "bob", protocol.FriendRemoved, "bob", "")
		f.friendEntry(ch.Events[1], "bob", "bob", protocol.FriendRemoved, "alice", "")
		f.areFriends("alice", "bob", false)
		f.areFriends("alice", "carol", true)
		f.friends("bob", nil)
		if fs := f.friendsOf("alice"); len(fs) != 1 || fs[0].User != "carol" {
			f.Fatalf("alice's friends %+v, want carol", fs)
		}
		_, err = f.s.RemoveFriend(f.ctx, "alice", "bob", f.tick())
		f.wantErr(err, store.ErrNotFound, "unfriending twice")
	}},
	{"friends/a request crossing the other's accepts it", func(f *fx) {
		f.user("alice")
		f.user("bob")
		_, err := f.s.RequestFriend(f.ctx, "alice", "bob", "hi", f.tick())
		f.must(err, "alice asks")
		ch, err := f.s.RequestFriend(f.ctx, "bob", "alice", "hello", f.tick())
		f.must(err, "bob asks")
		if ch.Status != protocol.FriendFriends || len(ch.Events) != 2 {
			f.Fatalf("crossing request: %+v, want friends", ch)
		}
		f.friendEntry(ch.Events[0], "alice", "bob", protocol.FriendAccepted, "bob", "")
		f.friendEntry(ch.Events[1], "bob", "bob", protocol.FriendAccepted, "alice", "")
		f.areFriends("bob", "alice", true)
		f.requests("alice", false, nil)
		f.requests("bob", false, nil)
	}},
	{"friends/unknown, deleted and oneself", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.user("carol")
		_, err := f.s.RequestFriend(f.ctx, "alice", "ghost", "", f.tick())
		f.wantErr(err, store.ErrNotFound, "request to an unknown user")
		_, err = f.s.RequestFriend(f.ctx, "alice", "alice", "", f.tick())
		f.wantErr(err, store.ErrInvalid, "request to oneself")
		if n := f.systemEntries("alice"); n != 0 {
			f.Fatalf("a refused request wrote %d entries into the requester's system conversation", n)
		}
		f.befriend("alice", "bob")
		_, err = f.s.RequestFriend(f.ctx, "carol", "alice", "", f.tick())
		f.must(err, "carol asks alice")
		_, err = f.s.DeleteUser(f.ctx, "bob", f.tick())
		f.must(err, "delete bob")
		_, err = f.s.DeleteUser(f.ctx, "carol", f.tick())
		f.must(err, "delete carol")
		f.friends("alice", nil)
		f.areFriends("alice", "bob", false) // erasure ends friendships
		f.requests("alice", true, nil)
		ids, err := f.s.FriendIDs(f.ctx, "alice")
		f.must(err, "friend ids")
		if len(ids) != 0 {
			f.Fatalf("alice's friend ids after bob's erasure: %v", ids)
		}
		_, err = f.s.RequestFriend(f.ctx, "alice", "bob", "", f.tick())
		f.wantErr(err, store.ErrNotFound, "request to a deleted user")
	}},
	{"friends/a block answers as an unknown user", func(f *fx) {
		f.user("alice")
		f.user("bob")
		_, err := f.s.Block(f.ctx, "bob", "alice", 0, f.tick())
		f.must(err, "bob blocks alice")
		_, err = f.s.RequestFriend(f.ctx, "alice", "bob", "", f.tick())
		f.wantErr(err, store.ErrNotFound, "request to a user who blocked the requester")
		f.requests("bob", true, nil)
		if n := f.systemEntries("bob"); n != 0 {
			f.Fatalf("a blocked request wrote %d entries into the blocker's system conversation", n)
		}
		// The blocker may still ask (and so unblock later by their own choice).
		_, err = f.s.RequestFriend(f.ctx, "bob", "alice", "", f.tick())
		f.must(err, "the blocker asks")
		_, err = f.s.Unblock(f.ctx, "bob", "alice")
		f.must(err, "unblock")
		ch, err := f.s.RequestFriend(f.ctx, "alice", "bob", "", f.tick())
		f.must(err, "request after unblock")
		if ch.Status != protocol.FriendFriends {
			f.Fatalf("request crossing bob's after the unblock: %+v", ch)
		}
	}},
	{"friends/pages", func(f *fx) {
		for _, u := range []string{"alice", "b1", "b2", "b3", "c1", "c2", "c3"} {
			f.user(u)
		}
		for _, u := range []string{"b3", "b1", "b2"} {
			f.befriend("alice", u)
		}
		for _, u := range []string{"c2", "c3", "c1"} {
			_, err := f.s.RequestFriend(f.ctx, u, "alice", "", f.tick())
			f.must(err, "request")
		}
		page, err := f.s.Friends(f.ctx, "alice", "", 2)
		f.must(err, "friends")
		if len(page) != 2 || page[0].User != "b1" || page[1].User != "b2" {
			f.Fatalf("first page %+v", page)
		}
		page, err = f.s.Friends(f.ctx, "alice", "b2", 2)
		f.must(err, "friends")
		if len(page) != 1 || page[0].User != "b3" {
			f.Fatalf("second page %+v", page)
		}
		reqs, err := f.s.FriendRequests(f.ctx, "alice", true, "c1", 10)
		f.must(err, "requests")
		if len(reqs) != 2 || reqs[0].From != "c2" || reqs[1].From != "c3" {
			f.Fatalf("requests after c1 %+v", reqs)
		}
	}},
	{"friends/share group", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.direct("alice", "carol")
		f.group("g_x", "alice", "bob")
		for _, tc := range []struct {
			a, b string
			want bool
		}{{"alice", "bob", true}, {"bob", "alice", true}, {"alice", "carol", false}, {"bob", "carol", false}} {
			got, err := f.s.ShareGroup(f.ctx, tc.a, tc.b)
			f.must(err, "share group")
			if got != tc.want {
				f.Fatalf("ShareGroup(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		}
		f.ok(store.Append{Conv: "g_x", Sender: "bob", Kind: protocol.KindMember,
			Member: &protocol.MemberChange{User: "bob", Action: protocol.MemberLeft}, Authorize: true})
		if got, err := f.s.ShareGroup(f.ctx, "alice", "bob"); err != nil || got {
			f.Fatalf("ShareGroup after bob left = %v, %v", got, err)
		}
	}},
	{"settings/update and read", func(f *fx) {
		f.user("alice")
		s, err := f.s.UserSettings(f.ctx, "alice")
		f.must(err, "settings")
		if s != (store.UserSettings{}) {
			f.Fatalf("settings never set = %+v, want zero", s)
		}
		if s, err := f.s.UserSettings(f.ctx, "ghost"); err != nil || s != (store.UserSettings{}) {
			f.Fatalf("settings of an unknown user = %+v, %v", s, err)
		}
		friends, hidden := protocol.InboundFriends, true
		s, err = f.s.UpdateUserSettings(f.ctx, "alice", store.SettingsUpdate{Inbound: &friends})
		f.must(err, "set inbound")
		if s != (store.UserSettings{Inbound: friends}) {
			f.Fatalf("after setting inbound: %+v", s)
		}
		s, err = f.s.UpdateUserSettings(f.ctx, "alice", store.SettingsUpdate{PresenceHidden: &hidden})
		f.must(err, "hide presence")
		want := store.UserSettings{Inbound: friends, PresenceHidden: true}
		if s != want {
			f.Fatalf("after hiding presence: %+v, want %+v", s, want)
		}
		if s, err := f.s.UserSettings(f.ctx, "alice"); err != nil || s != want {
			f.Fatalf("read back %+v, %v; want %+v", s, err, want)
		}
		_, err = f.s.UpdateUserSettings(f.ctx, "ghost", store.SettingsUpdate{Inbound: &friends})
		f.wantErr(err, store.ErrNotFound, "settings of an unknown user")
	}},
}

// friendEntry checks one entry of a FriendChange: in owner's system
// conversation, by from, with the action, the other user and the text.
func (f *fx) friendEntry(m protocol.Message, owner, from, action, user, text string) {
	f.Helper()
	want := protocol.SocialEvent{Action: action, User: user, Text: text}
	if m.Conv != store.SystemConvID(owner) || m.From != from || m.Kind != protocol.KindFriend || m.Social == nil || *m.Social != want ||
		m.Seq == 0 || m.ID == "" || m.Time != ms(f.now) {
		f.Fatalf("entry %+v (social %+v), want %s's %s by %s about %s, text %q", m, m.Social, owner, action, from, user, text)
	}
}

// requests checks user's pending requests in one direction.
func (f *fx) requests(user string, incoming bool, want []store.FriendRequest) {
	f.Helper()
	got, err := f.s.FriendRequests(f.ctx, user, incoming, "", 100)
	f.must(err, "friend requests")
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		f.Fatalf("requests of %s (incoming %v) = %+v, want %+v", user, incoming, got, want)
	}
}

// friendsOf returns user's friends.
func (f *fx) friendsOf(user string) []store.Friend {
	f.Helper()
	got, err := f.s.Friends(f.ctx, user, "", 100)
	f.must(err, "friends")
	return got
}

// friends checks user's friends.
func (f *fx) friends(user string, want []store.Friend) {
	f.Helper()
	got := f.friendsOf(user)
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		f.Fatalf("friends of %s = %+v, want %+v", user, got, want)
	}
}

// areFriends checks AreFriends both ways.
func (f *fx) areFriends(a, b string, want bool) {
	f.Helper()
	for _, p := range [][2]string{{a, b}, {b, a}} {
		got, err := f.s.AreFriends(f.ctx, p[0], p[1])
		f.must(err, "are friends")
		if got != want {
			f.Fatalf("AreFriends(%s, %s) = %v, want %v", p[0], p[1], got, want)
		}
	}
}

// befriend makes a and b friends: a asks, b accepts.
func (f *fx) befriend(a, b string) {
	f.Helper()
	_, err := f.s.RequestFriend(f.ctx, a, b, "", f.tick())
	f.must(err, "request")
	_, err = f.s.AnswerFriend(f.ctx, b, a, true, f.tick())
	f.must(err, "accept")
}

package storetest

import (
	"slices"
	"sort"
	"strconv"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// broadcastTests check store.BroadcastLists.
var broadcastTests = []test{
	{"broadcast/lists: create, list, rename, delete", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		created := f.tick()
		l, err := f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "family", Name: "Family", CreatedAt: created},
			[]string{"carol", "bob", "carol", ""}, 0, 0)
		f.must(err, "create family")
		want := store.BroadcastList{Owner: "alice", ID: "family", Name: "Family", Members: 2, CreatedAt: created, UpdatedAt: created}
		if !sameList(l, want) {
			f.Fatalf("created %+v, want %+v (repeats and empty ids stored once or not at all)", l, want)
		}
		_, err = f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "family", CreatedAt: f.tick()}, nil, 0, 0)
		f.wantErr(err, store.ErrExists, "a second list family of alice")
		// Ids are the owner's: bob may have a family list of his own.
		f.mustBroadcast(f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "bob", ID: "family", CreatedAt: f.tick()}, []string{"alice"}, 0, 0))("bob's family")
		f.mustBroadcast(f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "work", Name: "Work", CreatedAt: f.tick()}, nil, 0, 0))("alice's work")

		got, err := f.s.BroadcastList(f.ctx, "alice", "family")
		if f.must(err, "read family"); !sameList(got, want) {
			f.Fatalf("read %+v, want %+v", got, want)
		}
		_, err = f.s.BroadcastList(f.ctx, "carol", "family")
		f.wantErr(err, store.ErrNotFound, "carol reads a list she does not have")

		ls, err := f.s.BroadcastLists(f.ctx, "alice", "", 10)
		f.must(err, "alice's lists")
		if len(ls) != 2 || ls[0].ID != "family" || ls[1].ID != "work" || ls[0].Members != 2 || ls[1].Members != 0 {
			f.Fatalf("alice's lists = %+v, want family (2), work (0)", ls)
		}
		if ls, _ := f.s.BroadcastLists(f.ctx, "alice", "family", 10); len(ls) != 1 || ls[0].ID != "work" {
			f.Fatalf("lists after family = %+v", ls)
		}
		if ls, _ := f.s.BroadcastLists(f.ctx, "alice", "", 1); len(ls) != 1 || ls[0].ID != "family" {
			f.Fatalf("first page of 1 = %+v", ls)
		}
		if ls, _ := f.s.BroadcastLists(f.ctx, "dave", "", 10); len(ls) != 0 {
			f.Fatalf("dave has no list, listed %+v", ls)
		}

		renamed := f.tick()
		l, err = f.s.RenameBroadcastList(f.ctx, "alice", "family", "The family", renamed)
		if f.must(err, "rename"); l.Name != "The family" || !l.UpdatedAt.Equal(renamed) || !l.CreatedAt.Equal(created) || l.Members != 2 {
			f.Fatalf("renamed = %+v", l)
		}
		_, err = f.s.RenameBroadcastList(f.ctx, "carol", "family", "x", f.tick())
		f.wantErr(err, store.ErrNotFound, "rename another's list")

		f.wantErr(f.s.DeleteBroadcastList(f.ctx, "carol", "family"), store.ErrNotFound, "delete another's list")
		f.must(f.s.DeleteBroadcastList(f.ctx, "alice", "family"), "delete family")
		f.wantErr(f.s.DeleteBroadcastList(f.ctx, "alice", "family"), store.ErrNotFound, "delete family again")
		_, err = f.s.BroadcastMembers(f.ctx, "alice", "family", "", 10)
		f.wantErr(err, store.ErrNotFound, "members of a deleted list")
		if m, _ := f.s.BroadcastMembers(f.ctx, "bob", "family", "", 10); !slices.Equal(m, []string{"alice"}) {
			f.Fatalf("bob's family = %v: deleting alice's list touched it", m)
		}
		// A list created again under the same id starts empty.
		l, err = f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "family", CreatedAt: f.tick()}, nil, 0, 0)
		if f.must(err, "create family again"); l.Members != 0 {
			f.Fatalf("family created again holds %d members", l.Members)
		}
	}},

	{"broadcast/lists: members and limits", func(f *fx) {
		f.user("alice")
		created := f.tick()
		f.mustBroadcast(f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "l1", CreatedAt: created}, []string{"u1", "u2"}, 2, 3))("l1")
		f.mustBroadcast(f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "l2", CreatedAt: f.tick()}, nil, 2, 3))("l2")
		_, err := f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "l3", CreatedAt: f.tick()}, nil, 2, 3)
		f.wantErr(err, store.ErrLimit, "a third list beyond 2")
		_, err = f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "l1", CreatedAt: f.tick()}, nil, 2, 3)
		f.wantErr(err, store.ErrExists, "l1 again, at the limit")
		_, err = f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "l3", CreatedAt: f.tick()}, []string{"a", "b", "c", "d"}, 0, 3)
		f.wantErr(err, store.ErrLimit, "a list of 4 beyond 3")
		if _, err := f.s.BroadcastList(f.ctx, "alice", "l3"); err == nil {
			f.Fatal("a refused list was stored")
		}

		// Add, remove, both at once; repeats and absent users change nothing.
		changed := f.tick()
		l, err := f.s.ChangeBroadcastMembers(f.ctx, "alice", "l1", []string{"u3", "u1"}, []string{"u2", "nobody"}, 3, changed)
		if f.must(err, "change"); l.Members != 2 || !l.UpdatedAt.Equal(changed) {
			f.Fatalf("after +u3 +u1 -u2 = %+v, want 2 members updated at %v", l, changed)
		}
		f.sameMembers("alice", "l1", "u1", "u3")
		l, err = f.s.ChangeBroadcastMembers(f.ctx, "alice", "l1", []string{"u1"}, []string{"u9"}, 3, f.tick())
		if f.must(err, "no change"); !l.UpdatedAt.Equal(changed) {
			f.Fatalf("a change that changed nothing moved UpdatedAt: %+v", l)
		}
		_, err = f.s.ChangeBroadcastMembers(f.ctx, "alice", "l1", []string{"u4", "u5"}, nil, 3, f.tick())
		f.wantErr(err, store.ErrLimit, "a fourth and fifth member beyond 3")
		f.sameMembers("alice", "l1", "u1", "u3")
		// Adding one and removing one at the limit is fine.
		f.mustBroadcast(f.s.ChangeBroadcastMembers(f.ctx, "alice", "l1", []string{"u4"}, nil, 3, f.tick()))("to the limit")
		l, err = f.s.ChangeBroadcastMembers(f.ctx, "alice", "l1", []string{"u5"}, []string{"u1"}, 3, f.tick())
		if f.must(err, "swap at the limit"); l.Members != 3 {
			f.Fatalf("after swapping u1 for u5: %+v", l)
		}
		f.sameMembers("alice", "l1", "u3", "u4", "u5")
		_, err = f.s.ChangeBroadcastMembers(f.ctx, "alice", "nope", []string{"u1"}, nil, 3, f.tick())
		f.wantErr(err, store.ErrNotFound, "change a list that does not exist")
		_, err = f.s.ChangeBroadcastMembers(f.ctx, "bob", "l1", []string{"u1"}, nil, 3, f.tick())
		f.wantErr(err, store.ErrNotFound, "change another's list")

		// Paging members by id.
		if m, _ := f.s.BroadcastMembers(f.ctx, "alice", "l1", "u3", 10); !slices.Equal(m, []string{"u4", "u5"}) {
			f.Fatalf("members after u3 = %v", m)
		}
		if m, _ := f.s.BroadcastMembers(f.ctx, "alice", "l1", "", 2); !slices.Equal(m, []string{"u3", "u4"}) {
			f.Fatalf("first 2 members = %v", m)
		}
		if m, err := f.s.BroadcastMembers(f.ctx, "alice", "l2", "", 10); err != nil || len(m) != 0 {
			f.Fatalf("members of an empty list = %v, %v", m, err)
		}

		// A thousand members in one change.
		many := make([]string, 1000)
		for i := range many {
			many[i] = "m" + string(rune('a'+i%26)) + strconv.Itoa(i)
		}
		l, err = f.s.ChangeBroadcastMembers(f.ctx, "alice", "l2", many, nil, 1000, f.tick())
		if f.must(err, "add 1000"); l.Members != 1000 {
			f.Fatalf("after adding 1000: %+v", l)
		}
		all, _ := f.s.BroadcastMembers(f.ctx, "alice", "l2", "", 2000)
		sorted := slices.Clone(many)
		sort.Strings(sorted)
		if !slices.Equal(all, sorted) {
			f.Fatalf("members of l2: %d, want the 1000 added, sorted", len(all))
		}
	}},

	{"broadcast/erasure removes a user's lists and the user from others'", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.mustBroadcast(f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "alice", ID: "l", CreatedAt: f.tick()}, []string{"bob", "carol"}, 0, 0))("alice's")
		f.mustBroadcast(f.s.CreateBroadcastList(f.ctx, store.BroadcastList{Owner: "bob", ID: "l", CreatedAt: f.tick()}, []string{"alice", "carol"}, 0, 0))("bob's")
		_, err := f.s.DeleteUser(f.ctx, "bob", f.tick())
		f.must(err, "delete bob")
		f.sameMembers("alice", "l", "carol")
		_, err = f.s.BroadcastList(f.ctx, "bob", "l")
		f.wantErr(err, store.ErrNotFound, "a deleted user's list")
	}},

	{"broadcast/copies found by client message id", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		ab, ac := f.direct("alice", "bob"), f.direct("alice", "carol")
		m1 := f.ok(store.Append{Conv: ab.ID, Sender: "alice", ClientMsgID: "x/bob", Kind: protocol.KindMessage, Body: "hi"})
		m2 := f.ok(store.Append{Conv: ac.ID, Sender: "alice", ClientMsgID: "x/carol", Kind: protocol.KindMessage, Body: "hi"})
		f.ok(store.Append{Conv: ab.ID, Sender: "bob", ClientMsgID: "x/alice", Kind: protocol.KindMessage, Body: "other sender"})
		got, err := f.s.MessagesByClientID(f.ctx, "alice", []string{"x/carol", "x/bob", "x/dave", "x/bob", "x/alice", ""})
		f.must(err, "messages by client id")
		sort.Slice(got, func(i, j int) bool { return got[i].ClientMsgID < got[j].ClientMsgID })
		if len(got) != 2 {
			f.Fatalf("found %d messages, want alice's x/bob and x/carol: %+v", len(got), got)
		}
		f.sameMessage(got[0], m1, "x/bob")
		f.sameMessage(got[1], m2, "x/carol")
		if got, _ := f.s.MessagesByClientID(f.ctx, "alice", nil); len(got) != 0 {
			f.Fatalf("no ids found %+v", got)
		}
		// More ids than one statement carries.
		ids := make([]string, 300)
		for i := range ids {
			ids[i] = "y" + strconv.Itoa(i)
		}
		ids[299] = "x/bob"
		if got, _ := f.s.MessagesByClientID(f.ctx, "alice", ids); len(got) != 1 || got[0].ID != m1.ID {
			f.Fatalf("found %+v among 300 ids, want x/bob", got)
		}
	}},

	{"broadcast/direct conversations opened in one call", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
			f.user(u)
		}
		old := f.direct("alice", "bob")
		_, err := f.s.DeleteUser(f.ctx, "erin", f.tick())
		f.must(err, "delete erin")
		now := f.tick()
		got, err := f.s.EnsureDirects(f.ctx, "alice", []store.DirectPeer{
			{Peer: "bob", NewID: "d_new_bob"}, {Peer: "carol", NewID: "d_ac"}, {Peer: "nobody", NewID: "d_an"},
			{Peer: "erin", NewID: "d_ae"}, {Peer: "alice", NewID: "d_aa"}, {Peer: "dave", NewID: "d_ad"}, {Peer: "carol", NewID: "d_ac2"},
		}, now)
		f.must(err, "ensure directs")
		if want := []string{old.ID, "d_ac", "", "", "", "d_ad", "d_ac"}; !slices.Equal(got, want) {
			f.Fatalf("ensure directs = %q, want %q", got, want)
		}
		c := f.conv("d_ac")
		if c.Kind != protocol.ConvDirect || c.CreatedBy != "alice" || !c.CreatedAt.Equal(now) {
			f.Fatalf("created %+v", c)
		}
		for _, u := range []string{"alice", "carol"} {
			if m := f.member("d_ac", u); m.Role != protocol.RoleMember {
				f.Fatalf("%s in d_ac: %+v", u, m)
			}
		}
		// EnsureDirect finds them both ways.
		if c, err := f.s.EnsureDirect(f.ctx, "d_other", "dave", "alice", f.tick()); err != nil || c.ID != "d_ad" {
			f.Fatalf("EnsureDirect(dave, alice) = %+v, %v; want d_ad", c, err)
		}
		// Sending works in what was opened.
		f.send("d_ad", "alice", "hello dave")
		// All there: nothing new, the same ids.
		again, err := f.s.EnsureDirects(f.ctx, "alice", []store.DirectPeer{{Peer: "carol", NewID: "d_x"}, {Peer: "dave", NewID: "d_y"}}, f.tick())
		if f.must(err, "again"); !slices.Equal(again, []string{"d_ac", "d_ad"}) {
			f.Fatalf("again = %q", again)
		}
		if _, err := f.s.Conversation(f.ctx, "d_x"); err == nil {
			f.Fatal("a conversation was created for a pair that has one")
		}
		// A deleted user opens nothing.
		gone, err := f.s.EnsureDirects(f.ctx, "erin", []store.DirectPeer{{Peer: "bob", NewID: "d_eb"}}, f.tick())
		if f.must(err, "erin's"); !slices.Equal(gone, []string{""}) {
			f.Fatalf("a deleted user's = %q", gone)
		}
	}},
}

// sameList compares lists, times to the millisecond.
func sameList(a, b store.BroadcastList) bool {
	return a.Owner == b.Owner && a.ID == b.ID && a.Name == b.Name && a.Members == b.Members &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

// sameMembers fails unless owner's list id holds exactly users.
func (f *fx) sameMembers(owner, id string, users ...string) {
	f.Helper()
	got, err := f.s.BroadcastMembers(f.ctx, owner, id, "", 10_000)
	f.must(err, "members of "+id)
	if !slices.Equal(got, users) {
		f.Fatalf("members of %s's %s = %v, want %v", owner, id, got, users)
	}
}

// mustBroadcast is must for a call that also returns a value.
func (f *fx) mustBroadcast(_ any, err error) func(what string) {
	return func(what string) {
		f.Helper()
		f.must(err, what)
	}
}

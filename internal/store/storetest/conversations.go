package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var conversationTests = []test{
	{"conversations/ensure direct is symmetric and idempotent", func(f *fx) {
		f.user("alice")
		f.user("bob")
		created := f.tick()
		c, err := f.s.EnsureDirect(f.ctx, "d1", "alice", "bob", created)
		f.must(err, "ensure direct")
		if c.ID != "d1" || c.Kind != protocol.ConvDirect || c.LastSeq != 0 || !c.CreatedAt.Equal(created) {
			f.Fatalf("created direct = %+v", c)
		}
		again, err := f.s.EnsureDirect(f.ctx, "d2", "bob", "alice", f.tick())
		f.must(err, "ensure direct reversed")
		if again.ID != "d1" {
			f.Fatalf("EnsureDirect(bob, alice) = %q, want d1", again.ID)
		}
		same, err := f.s.EnsureDirect(f.ctx, "d3", "alice", "bob", f.tick())
		f.must(err, "ensure direct again")
		if same.ID != "d1" || !same.CreatedAt.Equal(created) {
			f.Fatalf("EnsureDirect again = %+v", same)
		}
		if _, err := f.s.Conversation(f.ctx, "d2"); err == nil {
			f.Fatal("a second conversation d2 was created")
		}
		got := f.conv("d1")
		if got.Kind != protocol.ConvDirect || !got.CreatedAt.Equal(created) {
			f.Fatalf("Conversation(d1) = %+v", got)
		}
		ids, err := f.s.MemberIDs(f.ctx, "d1")
		f.must(err, "member ids")
		slices.Sort(ids)
		if !reflect.DeepEqual(ids, []string{"alice", "bob"}) {
			f.Fatalf("members of a direct conversation = %v", ids)
		}
		if _, err := f.s.EnsureDirect(f.ctx, "d4", "alice", "alice", f.tick()); err == nil {
			f.Fatal("EnsureDirect(alice, alice) succeeded")
		}
		// Another pair is another conversation.
		f.user("carol")
		other, err := f.s.EnsureDirect(f.ctx, "d5", "carol", "alice", f.tick())
		f.must(err, "ensure other direct")
		if other.ID != "d5" {
			f.Fatalf("EnsureDirect(carol, alice) = %q, want d5", other.ID)
		}
	}},
	{"conversations/ensure direct concurrently creates one", func(f *fx) {
		f.user("alice")
		f.user("bob")
		const n = 16
		got := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				a, b := "alice", "bob"
				if i%2 == 1 {
					a, b = b, a
				}
				c, err := f.s.EnsureDirect(f.ctx, fmt.Sprintf("d%02d", i), a, b, f.now)
				got[i], errs[i] = c.ID, err
			})
		}
		wg.Wait()
		for i := range n {
			f.must(errs[i], "concurrent ensure direct")
			if got[i] != got[0] {
				f.Fatalf("concurrent EnsureDirect returned %q and %q", got[0], got[i])
			}
		}
		convs, err := f.s.UserConversations(f.ctx, "alice")
		f.must(err, "user conversations")
		if len(convs) != 1 || convs[0] != got[0] {
			f.Fatalf("alice's conversations = %v, want [%s]", convs, got[0])
		}
	}},
	{"conversations/create group with member events", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		created := f.tick()
		c := store.Conversation{ID: "g_1", Kind: protocol.ConvGroup, Name: "Friends", CreatedBy: "alice", CreatedAt: created}
		evs, err := f.s.CreateGroup(f.ctx, c, []store.Member{
			{User: "alice", Role: protocol.RoleOwner},
			{User: "bob", Role: protocol.RoleMember},
			{User: "carol", Role: protocol.RoleAdmin},
		})
		f.must(err, "create group")
		if len(evs) != 2 {
			f.Fatalf("%d events, want 2 (bob, carol)", len(evs))
		}
		for i, want := range []string{"bob", "carol"} {
			e := evs[i]
			if e.Seq != uint64(i+1) || e.Kind != protocol.KindMember || e.From != "alice" || e.Conv != "g_1" ||
				e.ID == "" || e.Member == nil || e.Member.User != want || e.Member.Action != protocol.MemberAdded {
				f.Fatalf("event %d = %+v (member %+v)", i, e, e.Member)
			}
		}
		if evs[0].ID == evs[1].ID {
			f.Fatal("events share an id")
		}
		stored := f.all("g_1")
		if len(stored) != 2 {
			f.Fatalf("stored %d events, want 2", len(stored))
		}
		for i := range stored {
			f.sameMessage(stored[i], evs[i], fmt.Sprintf("stored event %d", i))
		}
		got := f.conv("g_1")
		if got.Kind != protocol.ConvGroup || got.Name != "Friends" || got.CreatedBy != "alice" ||
			got.LastSeq != 2 || !got.CreatedAt.Equal(created) {
			f.Fatalf("group = %+v", got)
		}
		members, err := f.s.Members(f.ctx, "g_1")
		f.must(err, "members")
		roles := map[string]string{}
		var order []string
		for _, m := range members {
			roles[m.User] = m.Role
			order = append(order, m.User)
		}
		if !reflect.DeepEqual(order, []string{"alice", "bob", "carol"}) {
			f.Fatalf("members in order %v, want alice, bob, carol", order)
		}
		if roles["alice"] != protocol.RoleOwner || roles["bob"] != protocol.RoleMember || roles["carol"] != protocol.RoleAdmin {
			f.Fatalf("roles = %v", roles)
		}
		// Every member sees the event of its own addition.
		for i, u := range []string{"bob", "carol"} {
			if m := f.member("g_1", u); m.JoinedSeq >= evs[i].Seq {
				f.Fatalf("%s joined at %d and cannot see its event %d", u, m.JoinedSeq, evs[i].Seq)
			}
		}
		_, err = f.s.Member(f.ctx, "g_1", "dave")
		f.wantErr(err, store.ErrNotFound, "Member of a non-member")
		ids, err := f.s.MemberIDs(f.ctx, "g_1")
		f.must(err, "member ids")
		slices.Sort(ids)
		if !reflect.DeepEqual(ids, []string{"alice", "bob", "carol"}) {
			f.Fatalf("member ids = %v", ids)
		}
		convs, _ := f.s.UserConversations(f.ctx, "carol")
		if !reflect.DeepEqual(convs, []string{"g_1"}) {
			f.Fatalf("carol's conversations = %v", convs)
		}
		if convs, _ := f.s.UserConversations(f.ctx, "dave"); len(convs) != 0 {
			f.Fatalf("dave's conversations = %v", convs)
		}

		_, err = f.s.CreateGroup(f.ctx, store.Conversation{ID: "g_1", Kind: protocol.ConvGroup, CreatedBy: "dave", CreatedAt: f.tick()},
			[]store.Member{{User: "dave", Role: protocol.RoleOwner}})
		f.wantErr(err, store.ErrExists, "group id taken")
		if got := f.conv("g_1"); got.CreatedBy != "alice" || got.LastSeq != 2 {
			f.Fatalf("a failed CreateGroup changed the group: %+v", got)
		}
		if _, err := f.s.Member(f.ctx, "g_1", "dave"); err == nil {
			f.Fatal("a failed CreateGroup added a member")
		}
	}},
	{"conversations/group with only its creator", func(f *fx) {
		f.user("alice")
		evs := f.group("g_solo", "alice")
		if len(evs) != 0 {
			f.Fatalf("%d events for a group of one", len(evs))
		}
		if c := f.conv("g_solo"); c.LastSeq != 0 {
			f.Fatalf("LastSeq = %d, want 0", c.LastSeq)
		}
		if m := f.member("g_solo", "alice"); m.Role != protocol.RoleOwner {
			f.Fatalf("creator role = %q", m.Role)
		}
	}},
	{"conversations/absent conversation", func(f *fx) {
		_, err := f.s.Conversation(f.ctx, "nope")
		f.wantErr(err, store.ErrNotFound, "Conversation")
		_, err = f.s.Member(f.ctx, "nope", "alice")
		f.wantErr(err, store.ErrNotFound, "Member")
		members, err := f.s.Members(f.ctx, "nope")
		f.must(err, "Members")
		if len(members) != 0 {
			f.Fatalf("members of an absent conversation = %v", members)
		}
	}},
}

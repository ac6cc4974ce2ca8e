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
		convs := f.userConvs("alice")
		if len(convs) != 1 || convs[0] != got[0] {
			f.Fatalf("alice's conversations = %v, want [%s]", convs, got[0])
		}
	}},
	{"conversations/create group with one creation event", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		created := f.tick()
		c := store.Conversation{ID: "g_1", Kind: protocol.ConvGroup, Name: "Friends", CreatedBy: "alice", CreatedAt: created}
		ev, err := f.s.CreateGroup(f.ctx, c, []store.Member{
			{User: "alice", Role: protocol.RoleOwner},
			{User: "bob", Role: protocol.RoleMember},
			{User: "carol", Role: protocol.RoleAdmin},
			{User: "bob", Role: protocol.RoleAdmin}, // a repeat: ignored
		})
		f.must(err, "create group")
		if ev.Seq != 1 || ev.Kind != protocol.KindMember || ev.From != "alice" || ev.Conv != "g_1" || ev.ID == "" ||
			ev.ClientMsgID != "" || ev.Body != "" || ev.Time != ms(created) || ev.Member == nil ||
			*ev.Member != (protocol.MemberChange{User: "alice", Action: protocol.MemberCreated, Name: "Friends"}) {
			f.Fatalf("creation event = %+v (member %+v)", ev, ev.Member)
		}
		stored := f.all("g_1")
		if len(stored) != 1 {
			f.Fatalf("stored %d events, want 1", len(stored))
		}
		f.sameMessage(stored[0], ev, "stored creation event")
		got := f.conv("g_1")
		if got.Kind != protocol.ConvGroup || got.Name != "Friends" || got.CreatedBy != "alice" ||
			got.LastSeq != 1 || !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(created) {
			f.Fatalf("group = %+v", got)
		}
		members, err := f.s.Members(f.ctx, "g_1")
		f.must(err, "members")
		roles := map[string]string{}
		var order []string
		for _, m := range members {
			roles[m.User] = m.Role
			order = append(order, m.User)
			// Every initial member, the creator included, sees the
			// creation event and has nothing read or delivered.
			if m.JoinedSeq != 0 || m.ReadSeq != 0 || m.DeliveredSeq != 0 {
				f.Fatalf("member %+v, want joined, read and delivered at 0", m)
			}
		}
		if !reflect.DeepEqual(order, []string{"alice", "bob", "carol"}) {
			f.Fatalf("members in order %v, want alice, bob, carol", order)
		}
		if roles["alice"] != protocol.RoleOwner || roles["bob"] != protocol.RoleMember || roles["carol"] != protocol.RoleAdmin {
			f.Fatalf("roles = %v", roles)
		}
		for _, u := range []string{"alice", "bob", "carol"} {
			n, err := f.s.Unread(f.ctx, "g_1", u, 0)
			f.must(err, "unread")
			if n != 0 {
				f.Fatalf("%s has %d unread: the creation event is not content", u, n)
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
		convs := f.userConvs("carol")
		if !reflect.DeepEqual(convs, []string{"g_1"}) {
			f.Fatalf("carol's conversations = %v", convs)
		}
		if convs := f.userConvs("dave"); len(convs) != 0 {
			f.Fatalf("dave's conversations = %v", convs)
		}
		// The next entry follows the creation event; adding a member later
		// stores its own "added" event, which it sees.
		if m := f.send("g_1", "bob", "hi"); m.Seq != 2 {
			f.Fatalf("first message at seq %d, want 2", m.Seq)
		}
		added := f.ok(memberEvent("g_1", "alice", "dave", protocol.MemberAdded, ""))
		if added.Seq != 3 || f.member("g_1", "dave").JoinedSeq != 2 {
			f.Fatalf("dave added at %d, joined at %d; want 3, 2", added.Seq, f.member("g_1", "dave").JoinedSeq)
		}

		_, err = f.s.CreateGroup(f.ctx, store.Conversation{ID: "g_1", Kind: protocol.ConvGroup, CreatedBy: "dave", CreatedAt: f.tick()},
			[]store.Member{{User: "dave", Role: protocol.RoleOwner}})
		f.wantErr(err, store.ErrExists, "group id taken")
		if got := f.conv("g_1"); got.CreatedBy != "alice" || got.LastSeq != 3 || got.Name != "Friends" {
			f.Fatalf("a failed CreateGroup changed the group: %+v", got)
		}
		if m := f.member("g_1", "dave"); m.Role != protocol.RoleMember {
			f.Fatalf("a failed CreateGroup changed dave's membership: %+v", m)
		}
	}},
	{"conversations/a group of many members is created with one event", func(f *fx) {
		creator := "u00"
		f.user(creator)
		var others []string
		for i := 1; i < 40; i++ {
			u := fmt.Sprintf("u%02d", i)
			f.user(u)
			others = append(others, u)
		}
		ev := f.group("g_big", creator, others...)
		stored := f.all("g_big")
		if len(stored) != 1 || ev.Seq != 1 {
			f.Fatalf("a group of 40 stored %d events (seqs %v), want the one creation event at seq 1", len(stored), seqs(stored))
		}
		f.sameMessage(stored[0], ev, "creation event")
		if ev.Member == nil || ev.Member.Action != protocol.MemberCreated || ev.Member.User != creator {
			f.Fatalf("creation event member = %+v", ev.Member)
		}
		if c := f.conv("g_big"); c.LastSeq != 1 {
			f.Fatalf("LastSeq = %d, want 1", c.LastSeq)
		}
		members, err := f.s.Members(f.ctx, "g_big")
		f.must(err, "members")
		if len(members) != 40 {
			f.Fatalf("%d members, want 40", len(members))
		}
		for _, m := range members {
			if m.JoinedSeq != 0 {
				f.Fatalf("%s joined at %d, after the creation event", m.User, m.JoinedSeq)
			}
		}
	}},
	{"conversations/group with only its creator", func(f *fx) {
		f.user("alice")
		ev := f.group("g_solo", "alice")
		if ev.Seq != 1 || ev.Member == nil || ev.Member.Action != protocol.MemberCreated || len(f.all("g_solo")) != 1 {
			f.Fatalf("creation event of a group of one = %+v, stored %d", ev, len(f.all("g_solo")))
		}
		if c := f.conv("g_solo"); c.LastSeq != 1 {
			f.Fatalf("LastSeq = %d, want 1", c.LastSeq)
		}
		if m := f.member("g_solo", "alice"); m.Role != protocol.RoleOwner || m.JoinedSeq != 0 {
			f.Fatalf("creator = %+v", m)
		}
	}},
	{"conversations/a creation event cannot be appended", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.group("g_1", "alice", "bob")
		for _, auth := range []bool{false, true} {
			e := memberEvent("g_1", "alice", "alice", protocol.MemberCreated, "")
			e.Authorize = auth
			r := f.appendAll(e)[0]
			f.wantErr(r.Err, store.ErrInvalid, fmt.Sprintf("appending a creation event (authorize %v)", auth))
		}
		if c := f.conv("g_1"); c.LastSeq != 1 {
			f.Fatalf("LastSeq = %d after refused appends, want 1", c.LastSeq)
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

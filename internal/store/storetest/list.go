package storetest

import (
	"fmt"
	"reflect"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// listAll pages through the user's conversations with the given page size.
func (f *fx) listAll(user string, limit int) (ids []string, pages int, byID map[string]store.Summary, total int) {
	f.Helper()
	byID = map[string]store.Summary{}
	cursor := ""
	for {
		page, next, t, err := f.s.ListConversations(f.ctx, user, cursor, limit)
		f.must(err, "list conversations")
		if len(page) > limit {
			f.Fatalf("page of %d with limit %d", len(page), limit)
		}
		if pages == 0 {
			total = t
		} else if t != total {
			f.Fatalf("total unread changed between pages: %d, %d", total, t)
		}
		pages++
		for _, s := range page {
			if _, ok := byID[s.ID]; ok {
				f.Fatalf("conversation %s listed twice", s.ID)
			}
			byID[s.ID] = s
			ids = append(ids, s.ID)
		}
		if next == "" {
			return ids, pages, byID, total
		}
		if len(page) == 0 || pages > 100 {
			f.Fatalf("cursor %q after page %d of %d conversations", next, pages, len(page))
		}
		cursor = next
	}
}

var listTests = []test{
	{"list/order, pages, unread, last and peer", func(f *fx) {
		for _, u := range []string{"me", "p1", "p2", "x", "y"} {
			f.user(u)
		}
		d1 := f.direct("me", "p1")
		f.group("g_a", "x", "me", "y")
		d2 := f.direct("p2", "me")
		f.group("g_b", "me", "x")
		f.group("g_other", "x", "y") // not mine

		// Activity, oldest to newest: g_b (created), d1, g_a, d2.
		f.send(d1.ID, "p1", "d1 from p1")
		f.send(d1.ID, "me", "d1 from me")
		f.send(d1.ID, "p1", "d1 from p1 again")
		f.send("g_a", "x", "ga 1")
		f.send("g_a", "y", "ga 2")
		f.send("g_other", "x", "not for me")
		last := f.send(d2.ID, "p2", "d2 newest")

		ids, pages, byID, total := f.listAll("me", 2)
		if want := []string{d2.ID, "g_a", d1.ID, "g_b"}; !reflect.DeepEqual(ids, want) {
			f.Fatalf("order = %v, want %v", ids, want)
		}
		if pages != 2 {
			f.Fatalf("%d pages of 2 for 4 conversations, want 2", pages)
		}
		// Unread: d1 has one from p1 after my own message; g_a two; d2 one.
		wantUnread := map[string]int{d1.ID: 1, "g_a": 2, d2.ID: 1, "g_b": 0}
		for id, want := range wantUnread {
			if got := byID[id].Unread; got != want {
				f.Fatalf("unread of %s = %d, want %d", id, got, want)
			}
		}
		if total != 4 {
			f.Fatalf("total unread = %d, want 4", total)
		}
		s := byID[d2.ID]
		if s.Kind != protocol.ConvDirect || s.Peer != "p2" || s.LastSeq != last.Seq || s.Last == nil {
			f.Fatalf("d2 summary = %+v", s)
		}
		f.sameMessage(*s.Last, last, "last message of d2")
		if !s.UpdatedAt.Equal(time.UnixMilli(last.Time).UTC()) {
			f.Fatalf("d2 UpdatedAt = %v, want the last message's time", s.UpdatedAt)
		}
		if p := byID[d1.ID].Peer; p != "p1" {
			f.Fatalf("peer of d1 = %q, want p1", p)
		}
		ga := byID["g_a"]
		if ga.Kind != protocol.ConvGroup || ga.Peer != "" || ga.Name != "Group g_a" || ga.Role != protocol.RoleMember ||
			ga.Last == nil || ga.Last.Body != "ga 2" {
			f.Fatalf("g_a summary = %+v", ga)
		}
		if gb := byID["g_b"]; gb.Role != protocol.RoleOwner || gb.Last == nil || gb.Last.Kind != protocol.KindMember {
			f.Fatalf("g_b summary = %+v (last %+v)", gb, gb.Last)
		}
		if m := byID[d1.ID]; m.ReadSeq != 2 || m.Last == nil || m.Last.Body != "d1 from p1 again" {
			f.Fatalf("d1 summary = %+v", m)
		}

		// Reading moves the counts; the other user's list is separate.
		_, err := f.s.SetRead(f.ctx, "g_a", "me", 100)
		f.must(err, "set read")
		_, _, byID, total = f.listAll("me", 10)
		if byID["g_a"].Unread != 0 || total != 2 {
			f.Fatalf("after reading g_a: unread %d, total %d, want 0 and 2", byID["g_a"].Unread, total)
		}
		xIDs, _, _, _ := f.listAll("x", 10)
		if want := []string{"g_other", "g_a", "g_b"}; !reflect.DeepEqual(xIDs, want) {
			f.Fatalf("x's conversations = %v, want %v", xIDs, want)
		}
		// One page of everything has no next cursor.
		page, next, _, err := f.s.ListConversations(f.ctx, "me", "", 4)
		f.must(err, "list")
		if len(page) != 4 || next != "" {
			f.Fatalf("a page of all 4 conversations: %d and next %q", len(page), next)
		}
		page, next, total, err = f.s.ListConversations(f.ctx, "nobody", "", 10)
		f.must(err, "list of a user without conversations")
		if len(page) != 0 || next != "" || total != 0 {
			f.Fatalf("list of nobody = %v, %q, %d", page, next, total)
		}
	}},
	{"list/ties on the time order by id, total spans all pages", func(f *fx) {
		for _, u := range []string{"me", "x"} {
			f.user(u)
		}
		same := f.tick()
		for i := range 7 {
			id := fmt.Sprintf("g_%d", i)
			c := store.Conversation{ID: id, Kind: protocol.ConvGroup, CreatedBy: "x", CreatedAt: same}
			_, err := f.s.CreateGroup(f.ctx, c, []store.Member{{User: "x", Role: protocol.RoleOwner}, {User: "me"}})
			f.must(err, "create group")
			// Every group gets i+1 unread messages, all at the same time.
			var entries []store.Append
			for range i + 1 {
				entries = append(entries, msg(id, "x", "hi"))
			}
			_, err = f.s.Append(f.ctx, entries, same)
			f.must(err, "append")
		}
		ids, pages, byID, total := f.listAll("me", 3)
		want := []string{"g_6", "g_5", "g_4", "g_3", "g_2", "g_1", "g_0"}
		if !reflect.DeepEqual(ids, want) {
			f.Fatalf("order of equal times = %v, want %v", ids, want)
		}
		if pages != 3 {
			f.Fatalf("%d pages, want 3", pages)
		}
		if total != 28 {
			f.Fatalf("total unread = %d, want 28", total)
		}
		for i := range 7 {
			if got := byID[fmt.Sprintf("g_%d", i)].Unread; got != i+1 {
				f.Fatalf("unread of g_%d = %d, want %d", i, got, i+1)
			}
		}
	}},
	{"list/late joiner sees only what follows its joining", func(f *fx) {
		for _, u := range []string{"alice", "carol"} {
			f.user(u)
		}
		f.group("g_1", "alice")
		for range 3 {
			f.send("g_1", "alice", "before carol")
		}
		joined := f.ok(memberEvent("g_1", "alice", "carol", protocol.MemberAdded, ""))
		page, _, total, err := f.s.ListConversations(f.ctx, "carol", "", 10)
		f.must(err, "list")
		if len(page) != 1 || page[0].Last == nil || page[0].Last.ID != joined.ID || page[0].Unread != 0 || total != 0 {
			f.Fatalf("carol's list right after joining = %+v, total %d", page, total)
		}
		if page[0].JoinedSeq != joined.Seq-1 {
			f.Fatalf("JoinedSeq = %d, want %d", page[0].JoinedSeq, joined.Seq-1)
		}
		after := f.send("g_1", "alice", "after carol")
		page, _, total, err = f.s.ListConversations(f.ctx, "carol", "", 10)
		f.must(err, "list")
		if page[0].Unread != 1 || total != 1 || page[0].Last.ID != after.ID {
			f.Fatalf("carol's list after one more message = %+v, total %d", page[0], total)
		}
	}},
	{"list/empty direct conversation has no last message", func(f *fx) {
		f.user("a")
		f.user("b")
		c := f.direct("a", "b")
		page, next, total, err := f.s.ListConversations(f.ctx, "b", "", 10)
		f.must(err, "list")
		if len(page) != 1 || page[0].ID != c.ID || page[0].Last != nil || page[0].Unread != 0 || next != "" || total != 0 {
			f.Fatalf("list with one empty conversation = %+v, next %q, total %d", page, next, total)
		}
		if page[0].Peer != "a" || page[0].LastSeq != 0 {
			f.Fatalf("summary = %+v", page[0])
		}
	}},
}

package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// momentTests check store.Moments: posting, the feed's merge order and
// paging, visibility by list, comments, likes, deletion and erasure.
var momentTests = []test{
	{"moments/post and read", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		at := f.tick()
		m, dup, err := f.s.PostMoment(f.ctx, store.MomentPost{Author: "alice", ClientID: "c1", Text: "hello",
			Payload: []byte(`{"images":["https://example.com/a.jpg"]}`), Visibility: protocol.VisibilityFollowers, CreatedAt: at})
		f.must(err, "post")
		if dup || m.ID <= 0 || m.Author != "alice" || m.ClientID != "c1" || m.Text != "hello" ||
			string(m.Payload) != `{"images":["https://example.com/a.jpg"]}` || m.Visibility != protocol.VisibilityFollowers ||
			!m.CreatedAt.Equal(at) || m.Likes != 0 || m.Comments != 0 || m.Liked || m.Audience != nil {
			f.Fatalf("posted %+v (dup %v)", m, dup)
		}
		// The same client id again: the first moment, nothing new.
		again, dup, err := f.s.PostMoment(f.ctx, store.MomentPost{Author: "alice", ClientID: "c1", Text: "other",
			Visibility: protocol.VisibilityFriends, CreatedAt: f.tick()})
		f.must(err, "post again")
		if !dup || again.ID != m.ID || again.Text != "hello" {
			f.Fatalf("repeat = %+v (dup %v), want the first, dup", again, dup)
		}
		// Another author may use the same client id; ids grow.
		b, dup, err := f.s.PostMoment(f.ctx, store.MomentPost{Author: "bob", ClientID: "c1", Text: "bob's",
			Visibility: protocol.VisibilityList, Audience: []string{"carol", "alice"}, CreatedAt: f.tick()})
		f.must(err, "bob posts")
		if dup || b.ID <= m.ID || !slices.Equal(b.Audience, []string{"alice", "carol"}) {
			f.Fatalf("bob's = %+v (dup %v), want a new id above %d and his list", b, dup, m.ID)
		}
		noPayload := f.post("bob", protocol.VisibilityFollowers)
		if got := f.moment(noPayload.ID, "bob"); got.Payload != nil {
			f.Fatalf("payload of a moment without one = %q", got.Payload)
		}
		// Read as the author, a listed user, another.
		if got := f.moment(b.ID, "bob"); !slices.Equal(got.Audience, []string{"alice", "carol"}) || got.Listed {
			f.Fatalf("bob reads his = %+v", got)
		}
		if got := f.moment(b.ID, "carol"); got.Audience != nil || !got.Listed || got.Text != "bob's" {
			f.Fatalf("carol reads bob's = %+v", got)
		}
		if got := f.moment(m.ID, "carol"); got.Listed || got.Text != "hello" {
			f.Fatalf("carol reads alice's = %+v", got)
		}
		_, err = f.s.Moment(f.ctx, 999_999, "alice")
		f.wantErr(err, store.ErrNotFound, "an unknown moment")
	}},
	{"moments/feed merges followed authors newest first", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
			f.user(u)
		}
		f.follow("alice", "bob")
		f.follow("alice", "carol")
		f.follow("alice", "erin")
		var want, daves []int64
		for i := range 12 {
			switch i % 4 {
			case 0:
				want = append(want, f.post("bob", protocol.VisibilityFollowers).ID)
			case 1:
				want = append(want, f.post("carol", protocol.VisibilityFriends).ID) // for the caller to filter
			case 2:
				daves = append(daves, f.post("dave", protocol.VisibilityFollowers).ID) // not followed by alice
			case 3:
				want = append(want, f.post("alice", protocol.VisibilityList).ID) // her own
			}
		}
		// List moments: in the feed of those they list only.
		want = append(want, f.post("bob", protocol.VisibilityList, "alice").ID)
		f.post("bob", protocol.VisibilityList, "dave")
		slices.Reverse(want)
		for _, size := range []int{1, 2, 5, 100} {
			f.sameFeed("alice", size, want)
		}
		// dave follows nobody: his feed is his own, and not bob's list
		// moment, which lists him.
		slices.Reverse(daves)
		f.sameFeed("dave", 10, daves)
		// An unfollow takes the author's moments out of the feed.
		_, err := f.s.Unfollow(f.ctx, "alice", "carol")
		f.must(err, "unfollow")
		want = slices.DeleteFunc(want, func(id int64) bool { return f.moment(id, "alice").Author == "carol" })
		f.sameFeed("alice", 3, want)
	}},
	{"moments/feed of many followed authors", func(f *fx) {
		// Authors post different numbers of moments in random order;
		// every page must be the newest moments below its cursor.
		r := rand.New(rand.NewPCG(1, 2))
		f.user("reader")
		const authors = 40
		var names []string
		for i := range authors {
			name := fmt.Sprintf("a%02d", i)
			names = append(names, name)
			f.user(name)
			if i%5 != 0 { // every fifth is not followed
				f.follow("reader", name)
			}
		}
		var want []int64
		for range 300 {
			i := r.IntN(authors)
			if r.IntN(3) == 0 {
				i = r.IntN(3) // a few prolific authors
			}
			vis := protocol.VisibilityFollowers
			var audience []string
			if r.IntN(6) == 0 {
				vis = protocol.VisibilityList
				if r.IntN(2) == 0 {
					audience = []string{"reader"}
				} else {
					audience = []string{"a01"}
				}
			}
			m := f.post(names[i], vis, audience...)
			if i%5 != 0 && (vis != protocol.VisibilityList || audience[0] == "reader") {
				want = append(want, m.ID)
			}
		}
		slices.Reverse(want)
		for _, size := range []int{1, 7, 20, 50} {
			f.sameFeed("reader", size, want)
		}
	}},
	{"moments/an author's moments by access", func(f *fx) {
		for _, u := range []string{"alice", "bob"} {
			f.user(u)
		}
		fol := f.post("alice", protocol.VisibilityFollowers).ID
		fri := f.post("alice", protocol.VisibilityFriends).ID
		lst := f.post("alice", protocol.VisibilityList, "bob").ID
		f.post("alice", protocol.VisibilityList, "carol")
		hidden := f.post("alice", protocol.VisibilityList).ID
		for _, tc := range []struct {
			reader string
			access store.MomentAccess
			want   []int64
		}{
			{"bob", store.MomentAccess{}, []int64{lst}},
			{"bob", store.MomentAccess{Followers: true}, []int64{lst, fol}},
			{"bob", store.MomentAccess{Friends: true}, []int64{lst, fri}},
			{"bob", store.MomentAccess{Followers: true, Friends: true}, []int64{lst, fri, fol}},
		} {
			got, err := f.s.AuthorMoments(f.ctx, "alice", tc.reader, tc.access, 0, 100)
			f.must(err, "author moments")
			if ids := momentIDs(got); !slices.Equal(ids, tc.want) {
				f.Fatalf("alice's moments for %s with %+v = %v, want %v", tc.reader, tc.access, ids, tc.want)
			}
		}
		// The author sees all of hers, paged.
		got, err := f.s.AuthorMoments(f.ctx, "alice", "alice", store.MomentAccess{}, 0, 2)
		f.must(err, "own moments")
		if ids := momentIDs(got); len(ids) != 2 || ids[0] != hidden {
			f.Fatalf("alice's first page = %v, want %d first", ids, hidden)
		}
		got, err = f.s.AuthorMoments(f.ctx, "alice", "alice", store.MomentAccess{}, got[1].ID, 10)
		f.must(err, "own moments, page 2")
		if ids := momentIDs(got); len(ids) != 3 || ids[2] != fol {
			f.Fatalf("alice's second page = %v", ids)
		}
	}},
	{"moments/comments and likes", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		m := f.post("alice", protocol.VisibilityFollowers)
		var cs []store.MomentComment
		for i, who := range []string{"bob", "carol", "bob", "alice"} {
			at := f.tick()
			c, err := f.s.AddComment(f.ctx, store.MomentComment{Moment: m.ID, Author: who, Text: fmt.Sprint("c", i), CreatedAt: at})
			f.must(err, "comment")
			if c.ID <= 0 || (i > 0 && c.ID <= cs[i-1].ID) || c.Moment != m.ID || c.Author != who || !c.CreatedAt.Equal(at) {
				f.Fatalf("comment %d = %+v", i, c)
			}
			cs = append(cs, c)
		}
		page, err := f.s.Comments(f.ctx, m.ID, 0, 3)
		f.must(err, "comments")
		if len(page) != 3 || page[0] != cs[0] || page[2] != cs[2] {
			f.Fatalf("first page of comments = %+v", page)
		}
		page, err = f.s.Comments(f.ctx, m.ID, page[2].ID, 3)
		f.must(err, "comments, page 2")
		if len(page) != 1 || page[0] != cs[3] {
			f.Fatalf("second page of comments = %+v", page)
		}
		_, err = f.s.AddComment(f.ctx, store.MomentComment{Moment: 999_999, Author: "bob", Text: "x", CreatedAt: f.tick()})
		f.wantErr(err, store.ErrNotFound, "comment on an unknown moment")
		// Who may delete: the commenter, the moment's author; nobody else.
		f.wantErr(f.s.DeleteComment(f.ctx, m.ID, cs[0].ID, "carol"), store.ErrNotFound, "carol deletes bob's comment")
		f.must(f.s.DeleteComment(f.ctx, m.ID, cs[0].ID, "bob"), "bob deletes his comment")
		f.must(f.s.DeleteComment(f.ctx, m.ID, cs[1].ID, "alice"), "alice deletes carol's comment on her moment")
		f.wantErr(f.s.DeleteComment(f.ctx, m.ID, cs[1].ID, "alice"), store.ErrNotFound, "delete again")
		if got := f.moment(m.ID, "bob"); got.Comments != 2 {
			f.Fatalf("comments count = %d, want 2", got.Comments)
		}
		// Likes: idempotent, counted, Liked for the reader.
		for _, tc := range []struct {
			user    string
			like    bool
			changed bool
		}{
			{"bob", true, true}, {"bob", true, false}, {"carol", true, true}, {"alice", true, true},
			{"alice", false, true}, {"alice", false, false},
		} {
			changed, err := f.s.Like(f.ctx, m.ID, tc.user, tc.like, f.tick())
			f.must(err, "like")
			if changed != tc.changed {
				f.Fatalf("%s like=%v changed = %v, want %v", tc.user, tc.like, changed, tc.changed)
			}
		}
		if got := f.moment(m.ID, "bob"); got.Likes != 2 || !got.Liked {
			f.Fatalf("bob reads likes %d liked %v, want 2, true", got.Likes, got.Liked)
		}
		if got := f.moment(m.ID, "alice"); got.Liked {
			f.Fatal("alice took her like back, still liked")
		}
		likes, err := f.s.Likes(f.ctx, m.ID, "", 1)
		f.must(err, "likes")
		if len(likes) != 1 || likes[0].User != "bob" || likes[0].CreatedAt.IsZero() {
			f.Fatalf("first like = %+v", likes)
		}
		if likes, _ = f.s.Likes(f.ctx, m.ID, "bob", 10); len(likes) != 1 || likes[0].User != "carol" {
			f.Fatalf("likes after bob = %+v", likes)
		}
		_, err = f.s.Like(f.ctx, 999_999, "bob", true, f.tick())
		f.wantErr(err, store.ErrNotFound, "like an unknown moment")
	}},
	{"moments/delete", func(f *fx) {
		for _, u := range []string{"alice", "bob"} {
			f.user(u)
		}
		f.follow("bob", "alice")
		m := f.post("alice", protocol.VisibilityList, "bob")
		keep := f.post("alice", protocol.VisibilityFollowers)
		_, err := f.s.AddComment(f.ctx, store.MomentComment{Moment: m.ID, Author: "bob", Text: "x", CreatedAt: f.tick()})
		f.must(err, "comment")
		_, err = f.s.Like(f.ctx, m.ID, "bob", true, f.tick())
		f.must(err, "like")
		f.wantErr(f.s.DeleteMoment(f.ctx, "bob", m.ID), store.ErrNotFound, "bob deletes alice's moment")
		f.must(f.s.DeleteMoment(f.ctx, "alice", m.ID), "alice deletes her moment")
		f.wantErr(f.s.DeleteMoment(f.ctx, "alice", m.ID), store.ErrNotFound, "delete again")
		_, err = f.s.Moment(f.ctx, m.ID, "alice")
		f.wantErr(err, store.ErrNotFound, "read a deleted moment")
		if cs, _ := f.s.Comments(f.ctx, m.ID, 0, 10); len(cs) != 0 {
			f.Fatalf("comments of a deleted moment: %+v", cs)
		}
		if ls, _ := f.s.Likes(f.ctx, m.ID, "", 10); len(ls) != 0 {
			f.Fatalf("likes of a deleted moment: %+v", ls)
		}
		f.sameFeed("bob", 10, []int64{keep.ID})
		// A new moment never takes the id of a deleted one.
		if n := f.post("alice", protocol.VisibilityFollowers); n.ID <= m.ID {
			f.Fatalf("new moment id %d after deleting %d", n.ID, m.ID)
		}
	}},
	{"moments/erasure", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.follow("carol", "alice")
		f.follow("carol", "bob")
		mine := f.post("alice", protocol.VisibilityFollowers)
		theirs := f.post("bob", protocol.VisibilityList, "alice", "carol")
		_, err := f.s.AddComment(f.ctx, store.MomentComment{Moment: theirs.ID, Author: "alice", Text: "x", CreatedAt: f.tick()})
		f.must(err, "alice comments")
		_, err = f.s.AddComment(f.ctx, store.MomentComment{Moment: theirs.ID, Author: "carol", Text: "y", CreatedAt: f.tick()})
		f.must(err, "carol comments")
		_, err = f.s.Like(f.ctx, theirs.ID, "alice", true, f.tick())
		f.must(err, "alice likes")
		_, err = f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete alice")
		_, err = f.s.Moment(f.ctx, mine.ID, "carol")
		f.wantErr(err, store.ErrNotFound, "alice's moment after her erasure")
		got := f.moment(theirs.ID, "bob")
		if got.Comments != 1 || got.Likes != 0 || !slices.Equal(got.Audience, []string{"carol"}) {
			f.Fatalf("bob's moment after alice's erasure: %d comments, %d likes, audience %v", got.Comments, got.Likes, got.Audience)
		}
		if cs, _ := f.s.Comments(f.ctx, theirs.ID, 0, 10); len(cs) != 1 || cs[0].Author != "carol" {
			f.Fatalf("comments after alice's erasure: %+v", cs)
		}
		f.sameFeed("carol", 10, []int64{theirs.ID})
	}},
}

// post stores a moment of author with visibility (and, for a list, the
// users it lists) at a new tick.
func (f *fx) post(author, visibility string, audience ...string) store.Moment {
	f.Helper()
	m, _, err := f.s.PostMoment(f.ctx, store.MomentPost{Author: author, Text: "moment of " + author,
		Visibility: visibility, Audience: audience, CreatedAt: f.tick()})
	f.must(err, "post moment")
	return m
}

// moment reads a moment as reader.
func (f *fx) moment(id int64, reader string) store.Moment {
	f.Helper()
	m, err := f.s.Moment(f.ctx, id, reader)
	f.must(err, fmt.Sprint("moment ", id))
	return m
}

// sameFeed pages reader's whole feed size moments at a time and checks
// that it is want, newest first, each moment once.
func (f *fx) sameFeed(reader string, size int, want []int64) {
	f.Helper()
	var got []int64
	before := int64(0)
	for pages := 0; ; pages++ {
		if pages > len(want)+1 {
			f.Fatalf("feed of %s: more pages than moments", reader)
		}
		page, err := f.s.Feed(f.ctx, reader, before, size)
		f.must(err, "feed")
		if len(page) > size {
			f.Fatalf("feed of %s: a page of %d, asked for %d", reader, len(page), size)
		}
		got = append(got, momentIDs(page)...)
		if len(page) < size {
			break
		}
		before = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
		f.Fatalf("feed of %s by pages of %d:\n got  %v\n want %v", reader, size, got, want)
	}
}

func momentIDs(ms []store.Moment) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

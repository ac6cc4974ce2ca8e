package core

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

func withMoments(m MomentOptions) func(*Options) {
	return func(o *Options) { o.Moments = m }
}

func who(user string) Identity { return Identity{User: user, Device: "d"} }

// momentsEnv is a core with alice, bob, carol, dave and erin: alice and
// bob are friends (so they follow each other), carol follows alice, dave
// follows nobody, erin posts.
func momentsEnv(t *testing.T, opts ...func(*Options)) *coreEnv {
	t.Helper()
	e := newCoreEnv(t, Retention{}, opts...)
	for _, u := range []string{"dave", "erin"} {
		if _, err := e.c.CreateUser(e.ctx, u, "password", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.RequestFriend(e.ctx, who("alice"), "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AnswerFriend(e.ctx, who("bob"), "alice", true); err != nil {
		t.Fatal(err)
	}
	e.follow("carol", "alice")
	return e
}

func (e *coreEnv) follow(a, b string) {
	e.t.Helper()
	if err := e.c.Follow(e.ctx, who(a), b); err != nil {
		e.t.Fatalf("%s follows %s: %v", a, b, err)
	}
}

func (e *coreEnv) post(author, text, visibility string, users ...string) protocol.Moment {
	e.t.Helper()
	m, err := e.c.PostMoment(e.ctx, who(author), protocol.MomentPost{Text: text, Visibility: visibility, Users: users})
	if err != nil {
		e.t.Fatalf("%s posts %q: %v", author, text, err)
	}
	return m
}

// pushedMoments returns the texts of the next n moment pushes a
// connection receives; a push to anyone but the author never lists the
// users of a list moment.
func pushedMoments(t *testing.T, tr *fakeTransport, n int, author bool) []string {
	t.Helper()
	var out []string
	for range n {
		m := tr.next(t, protocol.TypeMoment).Data.(*protocol.Moment)
		if listed := author && m.Visibility == protocol.VisibilityList; listed != (len(m.Users) > 0) {
			t.Fatalf("push of %q lists %v", m.Text, m.Users)
		}
		out = append(out, m.Text)
	}
	return out
}

// TestMomentPushReachesWhoMaySeeIt: a post is pushed to the connected
// followers who may see it, by its visibility, and to its author's
// devices; an unfollow and a block stop the pushes at once. Each
// connection's pushes are checked up to a marker moment that it must get,
// so what it did not get is known without waiting.
func TestMomentPushReachesWhoMaySeeIt(t *testing.T) {
	t.Parallel()
	e := momentsEnv(t)
	e.follow("bob", "erin")
	e.follow("carol", "erin")
	e.follow("dave", "erin")
	own := e.attachResumed("alice", "tablet")
	bob, carol, dave := e.attachResumed("bob", "d"), e.attachResumed("carol", "d"), e.attachResumed("dave", "d")

	e.post("alice", "for followers", "")
	e.post("alice", "for friends", protocol.VisibilityFriends)
	list := e.post("alice", "for carol and dave", protocol.VisibilityList, "dave", "carol")
	if !slices.Equal(list.Users, []string{"carol", "dave"}) {
		t.Fatalf("the author's copy lists %v", list.Users)
	}
	e.post("erin", "marker 1", "")
	// The author's devices get the list with a list moment; others never.
	ownList := own.next(t, protocol.TypeMoment).Data.(*protocol.Moment)
	if ownList.Text != "for followers" {
		t.Fatalf("alice's tablet got %q first", ownList.Text)
	}
	for _, tc := range []struct {
		name string
		tr   *fakeTransport
		want []string
	}{
		{"alice's other device", own, []string{"for friends", "for carol and dave"}},
		{"bob (friend)", bob, []string{"for followers", "for friends", "marker 1"}},
		{"carol (follower, listed)", carol, []string{"for followers", "for carol and dave", "marker 1"}},
		{"dave (listed, not a follower)", dave, []string{"marker 1"}},
	} {
		if got := pushedMoments(t, tc.tr, len(tc.want), tc.tr == own); !slices.Equal(got, tc.want) {
			t.Fatalf("%s got %q, want %q", tc.name, got, tc.want)
		}
	}

	// carol unfollows; alice blocks bob (his follow of her ends with it).
	if err := e.c.Unfollow(e.ctx, who("carol"), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Block(e.ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	e.post("alice", "after", "")
	e.post("alice", "after, for carol", protocol.VisibilityList, "carol")
	e.post("erin", "marker 2", "")
	for name, tr := range map[string]*fakeTransport{"bob": bob, "carol": carol} {
		if got := pushedMoments(t, tr, 1, false); got[0] != "marker 2" {
			t.Fatalf("%s got %q after the unfollow or block, want marker 2 next", name, got)
		}
	}
	if ok, _ := e.c.IsFollowing(e.ctx, "bob", "alice"); ok {
		t.Fatal("bob still follows alice after her block")
	}
	if ok, _ := e.c.IsFollowing(e.ctx, "alice", "bob"); ok {
		t.Fatal("IsFollowing(alice, bob) while alice blocks bob")
	}
}

// TestMomentReadsFollowVisibility: the feed, an author's moments, one
// moment, comments and likes, for readers of each kind.
func TestMomentReadsFollowVisibility(t *testing.T) {
	t.Parallel()
	e := momentsEnv(t)
	fol := e.post("alice", "followers", "")
	fri := e.post("alice", "friends", protocol.VisibilityFriends)
	lst := e.post("alice", "list", protocol.VisibilityList, "dave")
	mine := e.post("carol", "carol's own", "")

	texts := func(p protocol.MomentPage) []string {
		var out []string
		for _, m := range p.Moments {
			out = append(out, m.Text)
		}
		return out
	}
	for _, tc := range []struct {
		reader string
		feed   []string
		page   []string // alice's moments
	}{
		{"alice", []string{"list", "friends", "followers"}, []string{"list", "friends", "followers"}},
		{"bob", []string{"friends", "followers"}, []string{"friends", "followers"}},
		{"carol", []string{"carol's own", "followers"}, []string{"followers"}},
		{"dave", nil, []string{"list"}},
	} {
		feed, err := e.c.Feed(e.ctx, tc.reader, "", 0)
		if err != nil || !slices.Equal(texts(feed), tc.feed) {
			t.Fatalf("feed of %s = %q, %v; want %q", tc.reader, texts(feed), err, tc.feed)
		}
		page, err := e.c.UserMoments(e.ctx, tc.reader, "alice", "", 0)
		if err != nil || !slices.Equal(texts(page), tc.page) {
			t.Fatalf("alice's moments for %s = %q, %v; want %q", tc.reader, texts(page), err, tc.page)
		}
	}
	// One moment, and its comments and likes, only for those who see it.
	for _, tc := range []struct {
		reader string
		id     int64
		ok     bool
	}{
		{"bob", fri.ID, true}, {"carol", fri.ID, false}, {"carol", fol.ID, true}, {"dave", fol.ID, false},
		{"dave", lst.ID, true}, {"bob", lst.ID, false}, {"alice", mine.ID, false}, {"carol", mine.ID, true},
	} {
		_, err := e.c.Moment(e.ctx, tc.reader, tc.id)
		_, cerr := e.c.Comments(e.ctx, tc.reader, tc.id, 0, 0)
		_, lerr := e.c.Likes(e.ctx, tc.reader, tc.id, "", 0)
		_, werr := e.c.Comment(e.ctx, who(tc.reader), tc.id, "hi")
		lkerr := e.c.Like(e.ctx, who(tc.reader), tc.id, true)
		for _, err := range []error{err, cerr, lerr, werr, lkerr} {
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s and moment %d: %v, want ok=%v (or not found)", tc.reader, tc.id, err, tc.ok)
			}
		}
	}
	cs, err := e.c.Comments(e.ctx, "alice", fri.ID, 0, 0)
	if err != nil || len(cs.Comments) != 1 || cs.Comments[0].Author != "bob" {
		t.Fatalf("comments on the friends moment = %+v, %v", cs, err)
	}
	m, _ := e.c.Moment(e.ctx, "bob", fri.ID)
	if m.Likes != 1 || !m.Liked || m.Comments != 1 {
		t.Fatalf("friends moment for bob = %+v, want 1 like (his), 1 comment", m)
	}
	// Deleting comments: the commenter and the moment's author may.
	if err := e.c.DeleteComment(e.ctx, who("carol"), fri.ID, cs.Comments[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("carol deletes bob's comment: %v", err)
	}
	if err := e.c.DeleteComment(e.ctx, who("alice"), fri.ID, cs.Comments[0].ID); err != nil {
		t.Fatalf("alice deletes bob's comment on her moment: %v", err)
	}
	// A block hides the blocker's moments from the blocked, and the other
	// way round.
	if err := e.c.Block(e.ctx, "alice", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UserMoments(e.ctx, "carol", "alice", "", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("carol reads alice's moments after alice blocked her: %v", err)
	}
	if _, err := e.c.Moment(e.ctx, "carol", fol.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("carol reads alice's moment after alice blocked her: %v", err)
	}
	if _, err := e.c.Moment(e.ctx, "alice", mine.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alice reads carol's moment while she blocks carol: %v", err)
	}
	if err := e.c.Follow(e.ctx, who("carol"), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("carol follows alice, who blocks her: %v, want not found", err)
	}
	if err := e.c.Follow(e.ctx, who("alice"), "carol"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("alice follows carol, whom she blocks: %v, want ErrBlocked", err)
	}
	if feed, _ := e.c.Feed(e.ctx, "carol", "", 0); !slices.Equal(texts(feed), []string{"carol's own"}) {
		t.Fatalf("carol's feed after the block = %q", texts(feed))
	}
}

// TestFeedPagesWithoutDuplicates: friends-only moments a reader may not
// see are left out after reading, so pages may be short; paging by the
// cursor still gives every visible moment once, newest first.
func TestFeedPagesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	e := momentsEnv(t)
	e.follow("carol", "erin")
	var want []string
	for i := range 30 {
		vis := ""
		switch {
		case i%3 == 0:
			vis = protocol.VisibilityFriends // carol is not alice's friend
		case i%5 == 0:
			e.post("erin", fmt.Sprint("e", i), "")
			want = append(want, fmt.Sprint("e", i))
			continue
		}
		m := e.post("alice", fmt.Sprint("a", i), vis)
		if vis == "" {
			want = append(want, m.Text)
		}
	}
	slices.Reverse(want)
	for _, size := range []int{1, 2, 4, 100} {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 40 {
				t.Fatalf("pages of %d: no end", size)
			}
			p, err := e.c.Feed(e.ctx, "carol", cursor, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Moments) > size {
				t.Fatalf("a page of %d, asked for %d", len(p.Moments), size)
			}
			for _, m := range p.Moments {
				got = append(got, m.Text)
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("carol's feed by pages of %d:\n got  %q\n want %q", size, got, want)
		}
	}
}

// TestRemoveFollowerNotifies: a removal with notice is an "unsub" entry in
// the removed follower's system conversation, delivered live.
func TestRemoveFollowerNotifies(t *testing.T) {
	t.Parallel()
	e := momentsEnv(t)
	e.follow("dave", "alice")
	carol := e.attachResumed("carol", "d")
	if err := e.c.RemoveFollower(e.ctx, who("alice"), "carol", true); err != nil {
		t.Fatal(err)
	}
	var got *protocol.Message
	for got == nil {
		if m := carol.next(t, protocol.TypeMsg).Msg; m != nil && m.Kind == protocol.KindFollow {
			got = m
		}
	}
	if got.Conv != SystemID("carol") || got.From != "alice" || got.Social == nil ||
		*got.Social != (protocol.SocialEvent{Action: protocol.FollowUnsub, User: "alice"}) {
		t.Fatalf("entry %+v (social %+v), want alice's unsub in carol's system conversation", got, got.Social)
	}
	if err := e.c.RemoveFollower(e.ctx, who("alice"), "dave", false); err != nil {
		t.Fatal(err)
	}
	l, err := e.c.Followers(e.ctx, "alice", "", 0)
	if err != nil || len(l.Follows) != 1 || l.Follows[0].User != "bob" {
		t.Fatalf("alice's followers = %+v, %v; want bob (her friend) only", l, err)
	}
	if h, err := e.c.History(e.ctx, "dave", HistoryRequest{Conv: SystemID("dave")}); err != nil || len(h.Messages) != 0 {
		t.Fatalf("dave's system conversation after a removal without notice: %+v, %v; want it empty", h, err)
	}
}

// TestMomentLimits: the configured limits refuse with the documented
// errors.
func TestMomentLimits(t *testing.T) {
	t.Parallel()
	e := momentsEnv(t, withMoments(MomentOptions{FollowsPerUser: 2, MaxMomentBytes: 100, AudienceMax: 2, PostsPerHour: 3, CommentsPerHour: 1}))
	e.follow("dave", "alice")
	e.follow("dave", "bob")
	if err := e.c.Follow(e.ctx, who("dave"), "carol"); ToProtocol(err).Reason != "too_many_follows" {
		t.Fatalf("a third follow with a limit of 2: %v", err)
	}
	if err := e.c.Follow(e.ctx, who("dave"), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("follow an unknown user: %v", err)
	}
	for _, tc := range []struct {
		p    protocol.MomentPost
		code int
	}{
		{protocol.MomentPost{}, 400},
		{protocol.MomentPost{Text: string(make([]byte, 101))}, 413},
		{protocol.MomentPost{Text: "x", Payload: []byte(`{"a":`)}, 400},
		{protocol.MomentPost{Text: "x", Visibility: "public"}, 400},
		{protocol.MomentPost{Text: "x", Visibility: protocol.VisibilityList}, 400},
		{protocol.MomentPost{Text: "x", Visibility: protocol.VisibilityList, Users: []string{"a", "b", "c"}}, 400},
		{protocol.MomentPost{Text: "x", Users: []string{"bob"}}, 400},
		{protocol.MomentPost{Text: "x", ClientMsgID: "no spaces"}, 400},
	} {
		if _, err := e.c.PostMoment(e.ctx, who("alice"), tc.p); ToProtocol(err).Code != tc.code {
			t.Fatalf("post %+v: %v, want %d", tc.p, err, tc.code)
		}
	}
	first, err := e.c.PostMoment(e.ctx, who("alice"), protocol.MomentPost{ClientMsgID: "m-1", Payload: []byte(`{"images":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.c.PostMoment(e.ctx, who("alice"), protocol.MomentPost{ClientMsgID: "m-1", Text: "changed"})
	if err != nil || !again.Duplicate || again.ID != first.ID || again.Text != "" {
		t.Fatalf("repeat = %+v, %v; want the first with duplicate", again, err)
	}
	e.post("alice", "three", "")
	_, err = e.c.PostMoment(e.ctx, who("alice"), protocol.MomentPost{Text: "four"})
	var le *ratelimit.Error
	if !errors.As(err, &le) || le.Limit != ratelimit.LimitMoments || ToProtocol(err).Code != 429 {
		t.Fatalf("a fourth post with a limit of 3 an hour: %v", err)
	}
	if _, err := e.c.Comment(e.ctx, who("bob"), first.ID, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Comment(e.ctx, who("bob"), first.ID, "two"); !errors.As(err, &le) || le.Limit != ratelimit.LimitMomentComments {
		t.Fatalf("a second comment with a limit of 1 an hour: %v", err)
	}
}

// TestCommentsAndLikesOfBlockedUsersAreHidden: on a moment both may see,
// the comments and likes of a user the reader blocks, or who blocks the
// reader, are left out of the reader's lists; others still see them, and
// unblocking shows them again.
func TestCommentsAndLikesOfBlockedUsersAreHidden(t *testing.T) {
	t.Parallel()
	e := momentsEnv(t)
	e.follow("dave", "erin")
	e.follow("carol", "erin")
	m := e.post("erin", "open to followers", "")
	for _, u := range []string{"dave", "carol"} {
		if _, err := e.c.Comment(e.ctx, who(u), m.ID, "from "+u); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Like(e.ctx, who(u), m.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	lists := func(reader string) (commenters, likers []string) {
		t.Helper()
		cs, err := e.c.Comments(e.ctx, reader, m.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs.Comments {
			commenters = append(commenters, c.Author)
		}
		ls, err := e.c.Likes(e.ctx, reader, m.ID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls.Likes {
			likers = append(likers, l.User)
		}
		slices.Sort(likers)
		return commenters, likers
	}
	if c, l := lists("erin"); !slices.Equal(c, []string{"dave", "carol"}) || !slices.Equal(l, []string{"carol", "dave"}) {
		t.Fatalf("before any block erin sees comments %v, likes %v", c, l)
	}
	if err := e.c.Block(e.ctx, "carol", "dave"); err != nil {
		t.Fatal(err)
	}
	if c, l := lists("carol"); !slices.Equal(c, []string{"carol"}) || !slices.Equal(l, []string{"carol"}) {
		t.Errorf("carol, who blocks dave, sees comments %v, likes %v", c, l)
	}
	if c, l := lists("dave"); !slices.Equal(c, []string{"dave"}) || !slices.Equal(l, []string{"dave"}) {
		t.Errorf("dave, blocked by carol, sees comments %v, likes %v", c, l)
	}
	if c, l := lists("erin"); len(c) != 2 || len(l) != 2 {
		t.Errorf("erin, who blocks nobody, sees comments %v, likes %v", c, l)
	}
	if err := e.c.Unblock(e.ctx, "carol", "dave"); err != nil {
		t.Fatal(err)
	}
	if c, l := lists("carol"); len(c) != 2 || len(l) != 2 {
		t.Errorf("after the unblock carol sees comments %v, likes %v", c, l)
	}
}

package storetest

import (
	"fmt"
	"slices"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// followTests check store.Follows, and the rules the schema keeps for it
// in other roles' writes (friendships, blocks, erasure).
var followTests = []test{
	{"follows/follow, list, unfollow", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		first := f.tick()
		if created, err := f.s.Follow(f.ctx, "alice", "carol", 0, first); err != nil || !created {
			f.Fatalf("follow carol = %v, %v; want created", created, err)
		}
		// Following again changes nothing and keeps the first time.
		if created, err := f.s.Follow(f.ctx, "alice", "carol", 0, f.tick()); err != nil || created {
			f.Fatalf("follow carol again = %v, %v; want not created, no error", created, err)
		}
		f.follow("alice", "bob")
		f.follow("dave", "carol")
		f.following("alice", "bob", "carol")
		f.followers("carol", "alice", "dave")
		f.followers("alice")
		got, err := f.s.Following(f.ctx, "alice", "", 10)
		f.must(err, "following")
		if len(got) != 2 || !got[1].Since.Equal(first) {
			f.Fatalf("alice follows %+v, want carol since %v", got, first)
		}
		// Paging by id.
		if page, _ := f.s.Following(f.ctx, "alice", "", 1); len(page) != 1 || page[0].User != "bob" {
			f.Fatalf("first page of 1 = %+v", page)
		}
		if page, _ := f.s.Following(f.ctx, "alice", "bob", 10); len(page) != 1 || page[0].User != "carol" {
			f.Fatalf("page after bob = %+v", page)
		}
		if page, _ := f.s.Followers(f.ctx, "carol", "alice", 10); len(page) != 1 || page[0].User != "dave" {
			f.Fatalf("followers after alice = %+v", page)
		}
		f.isFollowing("alice", "carol", true)
		f.isFollowing("carol", "alice", false)
		// Unfollow.
		if was, err := f.s.Unfollow(f.ctx, "alice", "carol"); err != nil || !was {
			f.Fatalf("unfollow carol = %v, %v; want true", was, err)
		}
		if was, err := f.s.Unfollow(f.ctx, "alice", "carol"); err != nil || was {
			f.Fatalf("unfollow carol again = %v, %v; want false", was, err)
		}
		f.isFollowing("alice", "carol", false)
		f.followers("carol", "dave")
		// Refusals.
		_, err = f.s.Follow(f.ctx, "alice", "alice", 0, f.tick())
		f.wantErr(err, store.ErrInvalid, "follow oneself")
		_, err = f.s.Follow(f.ctx, "alice", "ghost", 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "follow an unknown user")
	}},
	{"follows/limit", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		for _, u := range []string{"bob", "carol"} {
			if _, err := f.s.Follow(f.ctx, "alice", u, 2, f.tick()); err != nil {
				f.Fatalf("follow %s within the limit: %v", u, err)
			}
		}
		_, err := f.s.Follow(f.ctx, "alice", "dave", 2, f.tick())
		f.wantErr(err, store.ErrLimit, "a third follow with a limit of 2")
		// Following again at the limit is no new follow.
		if created, err := f.s.Follow(f.ctx, "alice", "bob", 2, f.tick()); err != nil || created {
			f.Fatalf("follow bob again at the limit = %v, %v", created, err)
		}
		_, err = f.s.Unfollow(f.ctx, "alice", "bob")
		f.must(err, "unfollow")
		if _, err := f.s.Follow(f.ctx, "alice", "dave", 2, f.tick()); err != nil {
			f.Fatalf("follow after an unfollow freed a slot: %v", err)
		}
		f.following("alice", "carol", "dave")
	}},
	{"follows/remove a follower, with and without notice", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.follow("alice", "bob")
		f.follow("carol", "bob")
		at := f.tick()
		was, entry, err := f.s.RemoveFollower(f.ctx, "bob", "alice", true, at)
		f.must(err, "remove alice with notice")
		want := protocol.SocialEvent{Action: protocol.FollowUnsub, User: "bob"}
		if !was || entry == nil || entry.Conv != store.SystemConvID("alice") || entry.From != "bob" ||
			entry.Kind != protocol.KindFollow || entry.Social == nil || *entry.Social != want || entry.Seq == 0 || entry.Time != ms(at) {
			f.Fatalf("remove alice = %v, %+v; want the unsub entry in alice's system conversation", was, entry)
		}
		stored := f.all(store.SystemConvID("alice"))
		if len(stored) != 1 || stored[0].ID != entry.ID || stored[0].Social == nil || *stored[0].Social != want {
			f.Fatalf("alice's system conversation = %+v, want the entry", stored)
		}
		f.isFollowing("alice", "bob", false)
		// Without notice: no entry.
		was, entry, err = f.s.RemoveFollower(f.ctx, "bob", "carol", false, f.tick())
		if err != nil || !was || entry != nil {
			f.Fatalf("remove carol without notice = %v, %+v, %v", was, entry, err)
		}
		if n := f.systemEntries("carol"); n != 0 {
			f.Fatalf("carol's system conversation has %d entries after a removal without notice", n)
		}
		// Removing one who does not follow: nothing, and no notice.
		was, entry, err = f.s.RemoveFollower(f.ctx, "bob", "alice", true, f.tick())
		if err != nil || was || entry != nil {
			f.Fatalf("remove alice again = %v, %+v, %v; want nothing", was, entry, err)
		}
		if n := len(f.all(store.SystemConvID("alice"))); n != 1 {
			f.Fatalf("alice's system conversation has %d entries, want 1", n)
		}
		f.followers("bob")
	}},
	{"follows/friends follow each other", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		// carol follows alice before they become friends: her own follow.
		f.follow("carol", "alice")
		f.befriend("alice", "bob")
		f.befriend("alice", "carol")
		f.following("alice", "bob", "carol")
		f.following("bob", "alice")
		f.following("carol", "alice")
		// bob makes the follow a friendship made his own.
		if created, err := f.s.Follow(f.ctx, "bob", "alice", 0, f.tick()); err != nil || created {
			f.Fatalf("follow a friend = %v, %v; want not created", created, err)
		}
		// Ending the friendships takes back only the follows they made.
		_, err := f.s.RemoveFriend(f.ctx, "alice", "bob", f.tick())
		f.must(err, "unfriend bob")
		_, err = f.s.RemoveFriend(f.ctx, "carol", "alice", f.tick())
		f.must(err, "unfriend carol")
		f.following("alice")
		f.following("bob", "alice")
		f.following("carol", "alice")
		// A friendship made again makes the follows again.
		f.befriend("bob", "alice")
		f.following("alice", "bob")
	}},
	{"follows/a block removes the blocked user's follow", func(f *fx) {
		for _, u := range []string{"alice", "bob"} {
			f.user(u)
		}
		f.follow("alice", "bob")
		f.follow("bob", "alice")
		_, err := f.s.Block(f.ctx, "bob", "alice", 0, f.tick())
		f.must(err, "bob blocks alice")
		f.isFollowing("alice", "bob", false)
		f.isFollowing("bob", "alice", true)
		// Unblocking does not bring it back.
		_, err = f.s.Unblock(f.ctx, "bob", "alice")
		f.must(err, "unblock")
		f.isFollowing("alice", "bob", false)
	}},
	{"follows/erasure removes both ways", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.follow("alice", "bob")
		f.follow("bob", "alice")
		f.follow("bob", "carol")
		f.follow("carol", "alice")
		_, err := f.s.DeleteUser(f.ctx, "bob", f.tick())
		f.must(err, "delete bob")
		f.following("alice")
		f.followers("alice", "carol")
		f.following("bob")
		f.followers("bob")
		f.followers("carol")
		_, err = f.s.Follow(f.ctx, "alice", "bob", 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "follow a deleted user")
	}},
}

// follow makes a follow b, which must be new.
func (f *fx) follow(a, b string) {
	f.Helper()
	created, err := f.s.Follow(f.ctx, a, b, 0, f.tick())
	f.must(err, fmt.Sprintf("%s follows %s", a, b))
	if !created {
		f.Fatalf("%s follows %s: not new", a, b)
	}
}

// following checks the users user follows.
func (f *fx) following(user string, want ...string) {
	f.Helper()
	got, err := f.s.Following(f.ctx, user, "", 1000)
	f.must(err, "following")
	f.sameEdges(got, want, user+" follows")
}

// followers checks user's followers.
func (f *fx) followers(user string, want ...string) {
	f.Helper()
	got, err := f.s.Followers(f.ctx, user, "", 1000)
	f.must(err, "followers")
	f.sameEdges(got, want, "followers of "+user)
}

func (f *fx) sameEdges(got []store.FollowEdge, want []string, what string) {
	f.Helper()
	ids := make([]string, len(got))
	for i, e := range got {
		ids[i] = e.User
		if e.Since.IsZero() {
			f.Fatalf("%s: %s without a time", what, e.User)
		}
	}
	if !slices.Equal(ids, want) && (len(ids) > 0 || len(want) > 0) {
		f.Fatalf("%s: %v, want %v", what, ids, want)
	}
}

// isFollowing checks IsFollowing.
func (f *fx) isFollowing(a, b string, want bool) {
	f.Helper()
	got, err := f.s.IsFollowing(f.ctx, a, b)
	f.must(err, "is following")
	if got != want {
		f.Fatalf("IsFollowing(%s, %s) = %v, want %v", a, b, got, want)
	}
}

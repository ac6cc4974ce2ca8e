package storetest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/parley-im/parley/internal/store"
)

// blockTests check store.Blocks.
var blockTests = []test{
	{"blocks/block, list, unblock", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		first := f.tick()
		if created, err := f.s.Block(f.ctx, "alice", "carol", 0, first); err != nil || !created {
			f.Fatalf("block carol = %v, %v; want created", created, err)
		}
		// Blocking again changes nothing and keeps the first time.
		if created, err := f.s.Block(f.ctx, "alice", "carol", 0, f.tick()); err != nil || created {
			f.Fatalf("block carol again = %v, %v; want not created, no error", created, err)
		}
		f.must(blockErr(f.s.Block(f.ctx, "alice", "bob", 0, f.tick())), "block bob")
		f.must(blockErr(f.s.Block(f.ctx, "dave", "alice", 0, f.tick())), "dave blocks alice")
		list, err := f.s.BlockList(f.ctx, "alice", "", 10)
		f.must(err, "block list")
		if len(list) != 2 || list[0].User != "bob" || list[1].User != "carol" || !list[1].CreatedAt.Equal(first) {
			f.Fatalf("alice's blocks = %+v, want bob, then carol blocked at %v", list, first)
		}
		// Paging by id.
		if page, _ := f.s.BlockList(f.ctx, "alice", "", 1); len(page) != 1 || page[0].User != "bob" {
			f.Fatalf("first page of 1 = %+v", page)
		}
		if page, _ := f.s.BlockList(f.ctx, "alice", "bob", 10); len(page) != 1 || page[0].User != "carol" {
			f.Fatalf("page after bob = %+v", page)
		}
		if page, _ := f.s.BlockList(f.ctx, "bob", "", 10); len(page) != 0 {
			f.Fatalf("bob blocks nobody, listed %+v", page)
		}
		// Directions.
		for _, tc := range []struct {
			a, b         string
			ab, ba       bool
			blockedByLen int
		}{
			{"alice", "carol", true, false, 0},
			{"carol", "alice", false, true, 1},
			{"alice", "dave", false, true, 0},
			{"bob", "carol", false, false, 1},
		} {
			ab, ba, err := f.s.Blocking(f.ctx, tc.a, tc.b)
			f.must(err, "blocking")
			if ab != tc.ab || ba != tc.ba {
				f.Fatalf("Blocking(%s, %s) = %v, %v; want %v, %v", tc.a, tc.b, ab, ba, tc.ab, tc.ba)
			}
		}
		blocks, by, err := f.s.BlockEdges(f.ctx, "alice", 10)
		f.must(err, "block edges")
		if !slices.Equal(blocks, []string{"bob", "carol"}) || !slices.Equal(by, []string{"dave"}) {
			f.Fatalf("alice's edges = %v, %v; want [bob carol], [dave]", blocks, by)
		}
		if blocks, by, _ := f.s.BlockEdges(f.ctx, "alice", 1); !slices.Equal(blocks, []string{"bob"}) || len(by) != 1 {
			f.Fatalf("edges cut at 1 = %v, %v", blocks, by)
		}
		if blocks, by, _ := f.s.BlockEdges(f.ctx, "nobody", 10); len(blocks)+len(by) != 0 {
			f.Fatalf("edges of an unknown user = %v, %v", blocks, by)
		}
		// Unblock.
		if was, err := f.s.Unblock(f.ctx, "alice", "carol"); err != nil || !was {
			f.Fatalf("unblock carol = %v, %v; want true", was, err)
		}
		if was, err := f.s.Unblock(f.ctx, "alice", "carol"); err != nil || was {
			f.Fatalf("unblock carol again = %v, %v; want false", was, err)
		}
		if ab, _, _ := f.s.Blocking(f.ctx, "alice", "carol"); ab {
			f.Fatal("alice still blocks carol after unblocking")
		}
		// A block after an unblock is new, with its own time.
		again := f.tick()
		if created, err := f.s.Block(f.ctx, "alice", "carol", 0, again); err != nil || !created {
			f.Fatalf("block carol after unblocking = %v, %v", created, err)
		}
		if list, _ := f.s.BlockList(f.ctx, "alice", "bob", 1); len(list) != 1 || !list[0].CreatedAt.Equal(again) {
			f.Fatalf("carol's block after the unblock = %+v, want at %v", list, again)
		}
	}},
	{"blocks/a block drops the blocked user's pending friend request", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		for _, r := range [][2]string{{"bob", "alice"}, {"carol", "alice"}} {
			_, err := f.s.RequestFriend(f.ctx, r[0], r[1], "hi", f.tick())
			f.must(err, r[0]+" asks "+r[1])
		}
		f.must(blockErr(f.s.Block(f.ctx, "alice", "bob", 0, f.tick())), "alice blocks bob")
		in, err := f.s.FriendRequests(f.ctx, "alice", true, "", 10)
		f.must(err, "alice's incoming requests")
		if len(in) != 1 || in[0].From != "carol" {
			f.Fatalf("alice's incoming requests after blocking bob: %+v, want carol's only", in)
		}
		out, err := f.s.FriendRequests(f.ctx, "bob", false, "", 10)
		f.must(err, "bob's outgoing requests")
		if len(out) != 0 {
			f.Fatalf("bob's outgoing requests after alice blocked him: %+v, want none", out)
		}
	}},
	{"blocks/unknown and deleted users", func(f *fx) {
		f.user("alice")
		f.user("bob")
		_, err := f.s.Block(f.ctx, "alice", "nobody", 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "block an unknown user")
		_, err = f.s.DeleteUser(f.ctx, "bob", f.tick())
		f.must(err, "delete bob")
		_, err = f.s.Block(f.ctx, "alice", "bob", 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "block a deleted user")
		if list, _ := f.s.BlockList(f.ctx, "alice", "", 10); len(list) != 0 {
			f.Fatalf("refused blocks were stored: %+v", list)
		}
	}},
	{"blocks/a deleted user's own blocks go with the account", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.must(blockErr(f.s.Block(f.ctx, "alice", "bob", 0, f.tick())), "alice blocks bob")
		f.must(blockErr(f.s.Block(f.ctx, "bob", "alice", 0, f.tick())), "bob blocks alice")
		_, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete alice")
		if list, _ := f.s.BlockList(f.ctx, "alice", "", 10); len(list) != 0 {
			f.Fatalf("a deleted user's blocks were kept: %+v", list)
		}
		// bob's block of alice is bob's, and stays.
		if ab, ba, _ := f.s.Blocking(f.ctx, "bob", "alice"); !ab || ba {
			f.Fatalf("after alice's deletion Blocking(bob, alice) = %v, %v; want true, false", ab, ba)
		}
	}},
	{"blocks/at most max per user, atomically", func(f *fx) {
		f.user("alice")
		for i := range 10 {
			f.user(fmt.Sprint("u", i))
		}
		f.must(blockErr(f.s.Block(f.ctx, "alice", "u0", 2, f.tick())), "first")
		f.must(blockErr(f.s.Block(f.ctx, "alice", "u1", 2, f.tick())), "second")
		_, err := f.s.Block(f.ctx, "alice", "u2", 2, f.tick())
		f.wantErr(err, store.ErrLimit, "a third block with max 2")
		// Repeating a block at the limit is no new block.
		if created, err := f.s.Block(f.ctx, "alice", "u1", 2, f.tick()); err != nil || created {
			f.Fatalf("repeat at the limit = %v, %v; want not created, no error", created, err)
		}
		f.must(blockErr(f.s.Block(f.ctx, "alice", "u2", 0, f.tick())), "no limit")
		// Concurrent blocks never overshoot the limit.
		f.user("bob")
		errs := make(chan error, 10)
		for i := range 10 {
			go func() { errs <- blockErr(f.s.Block(f.ctx, "bob", fmt.Sprint("u", i), 4, f.now)) }()
		}
		admitted := 0
		for range 10 {
			switch err := <-errs; {
			case err == nil:
				admitted++
			case !errors.Is(err, store.ErrLimit):
				f.Fatalf("concurrent block: %v", err)
			}
		}
		if list, _ := f.s.BlockList(f.ctx, "bob", "", 100); admitted != 4 || len(list) != 4 {
			f.Fatalf("%d concurrent blocks admitted, %d stored; want 4 and 4", admitted, len(list))
		}
	}},
}

// blockErr drops Block's created flag.
func blockErr(_ bool, err error) error { return err }

package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// unreadTests check Unread and ListConversations' counts against a count
// made from the stored messages, over random histories.
var unreadTests = func() []test {
	var out []test
	for _, seed := range []uint64{1, 2, 3} {
		out = append(out, test{fmt.Sprintf("unread/random history %d: counts equal a brute-force count", seed),
			func(f *fx) { randomUnreadHistory(f, seed, 200) }})
	}
	return out
}()

// bruteUnread counts, in msgs (a conversation's stored messages), the
// content messages above after that are not deleted and not user's: the
// definition of unread (DESIGN.md §2.7), by brute force.
func bruteUnread(msgs []protocol.Message, user string, after uint64) int {
	n := 0
	for _, m := range msgs {
		if m.Seq > after && m.Kind == protocol.KindMessage && !m.Deleted && m.From != user {
			n++
		}
	}
	return n
}

// randomUnreadHistory runs steps random operations (sends, batches of
// sends with edits and deletions, edits, deletions, reads, joins and
// leaves, purges and account erasures) on two groups and two direct
// conversations, and after each one compares every count the store gives
// (Unread at each member's read position and at random positions, for
// members and others; each Summary's Unread and the total) with
// bruteUnread over what Range returns.
func randomUnreadHistory(f *fx, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x0b11))
	// lurk is in both groups and never sends, reads or leaves: its read
	// position stays where it joined, below what retention purges.
	users := []string{"alice", "bob", "carol", "dave", "erin", "lurk"}
	for _, u := range users {
		f.user(u)
	}
	f.group("g_1", "alice", "bob", "carol", "lurk", "dave")
	f.group("g_2", "bob", "alice", "lurk", "erin")
	convs := []string{"g_1", "g_2", f.direct("alice", "bob").ID, f.direct("carol", "dave").ID}
	erased := map[string]bool{}
	var history []string
	note := func(format string, args ...any) {
		history = append(history, fmt.Sprintf("%d: ", len(history))+fmt.Sprintf(format, args...))
	}
	fail := func(format string, args ...any) {
		f.Helper()
		from := max(len(history)-25, 0)
		f.Fatalf("seed %d, after step %d: %s\nlast steps:\n%s", seed, len(history)-1,
			fmt.Sprintf(format, args...), strings.Join(history[from:], "\n"))
	}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	// members returns conv's members that act (all but lurk).
	members := func(conv string) []string {
		ids, err := f.s.MemberIDs(f.ctx, conv)
		f.must(err, "member ids")
		slices.Sort(ids)
		return slices.DeleteFunc(ids, func(u string) bool { return u == "lurk" })
	}
	// live returns conv's content messages that their sender may still
	// edit or delete.
	live := func(conv string) []protocol.Message {
		in := members(conv)
		var out []protocol.Message
		for _, m := range f.all(conv) {
			if m.Kind == protocol.KindMessage && !m.Deleted && slices.Contains(in, m.From) {
				out = append(out, m)
			}
		}
		return out
	}

	check := func() {
		f.Helper()
		want := map[string]map[string]int{} // user → conv → unread
		for _, u := range users {
			want[u] = map[string]int{}
		}
		for _, conv := range convs {
			msgs := f.all(conv)
			ms, err := f.s.Members(f.ctx, conv)
			f.must(err, "members")
			for _, m := range ms {
				pos := max(m.ReadSeq, m.JoinedSeq)
				w := bruteUnread(msgs, m.User, pos)
				want[m.User][conv] = w
				got, err := f.s.Unread(f.ctx, conv, m.User, pos)
				f.must(err, "unread")
				if got != w {
					fail("Unread(%s, %s, read position %d) = %d, want %d", conv, m.User, pos, got, w)
				}
			}
			// Any position, for anyone: the contract holds below the
			// read position and for non-members too.
			last := f.conv(conv).LastSeq
			for range 2 {
				u, after := pick(users), rng.Uint64N(last+3)
				got, err := f.s.Unread(f.ctx, conv, u, after)
				f.must(err, "unread")
				if w := bruteUnread(msgs, u, after); got != w {
					fail("Unread(%s, %s, after %d) = %d, want %d", conv, u, after, got, w)
				}
			}
		}
		for _, u := range users {
			page, _, total, err := f.s.ListConversations(f.ctx, u, "", 100)
			f.must(err, "list conversations")
			sum := 0
			for _, w := range want[u] {
				sum += w
			}
			if total != sum {
				fail("ListConversations(%s) total unread = %d, want %d", u, total, sum)
			}
			if len(page) != len(want[u]) {
				fail("ListConversations(%s) lists %d conversations, want %d", u, len(page), len(want[u]))
			}
			for _, s := range page {
				if w, ok := want[u][s.ID]; !ok || s.Unread != w {
					fail("ListConversations(%s): %s unread = %d, want %d", u, s.ID, s.Unread, w)
				}
			}
		}
	}

	for range steps {
		conv := pick(convs)
		in := members(conv)
		switch r := rng.IntN(100); {
		case len(in) == 0:
			note("%s has no members left", conv)
		case r < 35: // a batch of sends, possibly to several conversations
			var entries []store.Append
			for range 1 + rng.IntN(3) {
				c := pick(convs)
				if ids := members(c); len(ids) > 0 {
					entries = append(entries, msg(c, pick(ids), "hi"))
				}
			}
			f.appendAll(entries...)
			note("send %d", len(entries))
		case r < 45: // a send deleted (or edited, then deleted) in its own batch
			u := pick(in)
			next := f.conv(conv).LastSeq + 1
			entries := []store.Append{msg(conv, u, "oops")}
			if rng.IntN(2) == 0 {
				entries = append(entries, edit(conv, u, next, "oops!"))
			}
			entries = append(entries, del(conv, u, next))
			for _, r := range f.appendAll(entries...) {
				if r.Err != nil {
					fail("send and delete in one batch: %v", r.Err)
				}
			}
			note("%s: %s sends %d and deletes it in the same batch", conv, u, next)
		case r < 55: // an edit
			if ms := live(conv); len(ms) > 0 {
				m := ms[rng.IntN(len(ms))]
				f.ok(edit(conv, m.From, m.Seq, "edited"))
				note("%s: %s edits %d", conv, m.From, m.Seq)
			}
		case r < 67: // a deletion, with a send in the same batch at times
			if ms := live(conv); len(ms) > 0 {
				m := ms[rng.IntN(len(ms))]
				entries := []store.Append{del(conv, m.From, m.Seq)}
				if rng.IntN(3) == 0 {
					entries = append(entries, msg(conv, pick(in), "after"))
				}
				f.appendAll(entries...)
				note("%s: %s deletes %d (batch of %d)", conv, m.From, m.Seq, len(entries))
			}
		case r < 82: // a read, anywhere up to beyond the end
			u := pick(in)
			seq := rng.Uint64N(f.conv(conv).LastSeq + 2)
			pos, err := f.s.SetRead(f.ctx, conv, u, seq)
			f.must(err, "set read")
			note("%s: %s reads %d, now at %d", conv, u, seq, pos)
		case r < 90: // a join or a leave, in a group
			if !strings.HasPrefix(conv, "g_") {
				break
			}
			var out []string
			for _, u := range users {
				if !erased[u] && u != "lurk" && !slices.Contains(in, u) {
					out = append(out, u)
				}
			}
			if len(out) > 0 && (len(in) < 3 || rng.IntN(2) == 0) {
				u := pick(out)
				f.ok(memberEvent(conv, pick(in), u, protocol.MemberAdded, ""))
				note("%s: %s joins", conv, u)
			} else if len(in) > 1 {
				u := pick(in)
				f.ok(memberEvent(conv, u, u, protocol.MemberLeft, ""))
				note("%s: %s leaves", conv, u)
			}
		case r < 96: // retention: a prefix older than 40 s goes, a few at a time
			limit := 1 + rng.IntN(8)
			n := f.purge(f.tick(), 40*time.Second, limit)
			note("purge up to %d: %d", limit, n)
		default: // an account erasure, at most two
			if len(erased) >= 2 {
				break
			}
			u := pick(users)
			if erased[u] || u == "lurk" {
				break
			}
			_, err := f.s.DeleteUser(f.ctx, u, f.tick())
			f.must(err, "delete user")
			erased[u] = true
			note("%s is erased", u)
		}
		check()
	}
}

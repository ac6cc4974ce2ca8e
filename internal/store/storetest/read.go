package storetest

import (
	"fmt"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var readTests = []test{
	{"range/bounds, order and limit", func(f *fx) {
		for _, u := range []string{"alice", "alice2", "bob", "carol"} {
			f.user(u)
		}
		c := f.direct("alice", "bob")
		other := f.direct("alice", "alice2")
		for i := 1; i <= 10; i++ {
			f.send(c.ID, "alice", fmt.Sprint("m", i))
			f.send(other.ID, "alice", fmt.Sprint("other", i))
		}
		cases := []struct {
			after, before uint64
			limit         int
			asc           bool
			want          []uint64
		}{
			{0, 0, 100, true, span(1, 10)},
			{3, 0, 100, true, span(4, 10)},
			{0, 8, 100, true, span(1, 7)},
			{2, 8, 3, true, span(3, 5)},
			{0, 0, 3, false, span(10, 8)},
			{0, 8, 3, false, span(7, 5)},
			{5, 8, 100, false, span(7, 6)},
			{0, 0, 100, false, span(10, 1)},
			{10, 0, 100, true, nil},
			{4, 5, 100, true, nil},
			{0, 1, 100, false, nil},
			{9, 0, 1, true, []uint64{10}},
			{0, 11, 1, false, []uint64{10}},
		}
		for _, tc := range cases {
			got, err := f.s.Range(f.ctx, c.ID, tc.after, tc.before, tc.limit, tc.asc)
			f.must(err, "range")
			what := fmt.Sprintf("Range(after %d, before %d, limit %d, asc %v)", tc.after, tc.before, tc.limit, tc.asc)
			f.sameSeqs(seqs(got), tc.want, what)
			for _, m := range got {
				if m.Conv != c.ID || m.Body != fmt.Sprint("m", m.Seq) {
					f.Fatalf("%s returned %+v", what, m)
				}
			}
		}
		empty := f.direct("bob", "carol")
		got, err := f.s.Range(f.ctx, empty.ID, 0, 0, 100, true)
		f.must(err, "range of an empty conversation")
		if len(got) != 0 {
			f.Fatalf("empty conversation returned %d messages", len(got))
		}
	}},
	{"unread/counts only others' live content", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.group("g_1", "alice", "bob") // seq 1: the creation event
		a1 := f.send("g_1", "alice", "a1")
		f.send("g_1", "bob", "b1")
		a2 := f.send("g_1", "alice", "a2")
		f.send("g_1", "alice", "a3")
		f.ok(edit("g_1", "alice", a2.Seq, "a2 edited"))
		f.ok(del("g_1", "alice", a1.Seq))
		f.ok(memberEvent("g_1", "alice", "carol", protocol.MemberAdded, ""))
		f.ok(store.Append{Conv: "g_1", Sender: "alice", Kind: protocol.KindSystem, Member: &protocol.MemberChange{Name: "n"}})
		// Content: a1 (deleted), b1, a2 (edited), a3. Everything else is events.
		cases := []struct {
			user  string
			after uint64
			want  int
		}{
			{"bob", 0, 2},          // a2, a3
			{"bob", a2.Seq, 1},     // a3
			{"bob", a2.Seq - 1, 2}, // a2, a3
			{"alice", 0, 1},        // b1
			{"alice", 3, 0},        // b1 is seq 3
			{"carol", 0, 3},        // b1, a2, a3
			{"bob", 100, 0},
		}
		for _, tc := range cases {
			n, err := f.s.Unread(f.ctx, "g_1", tc.user, tc.after)
			f.must(err, "unread")
			if n != tc.want {
				f.Fatalf("Unread(%s, after %d) = %d, want %d", tc.user, tc.after, n, tc.want)
			}
		}
	}},
	{"read/set read never lowers and clamps", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.user("carol")
		c := f.direct("alice", "bob")
		for i := range 5 {
			f.send(c.ID, "alice", fmt.Sprint(i))
		}
		steps := []struct{ set, want uint64 }{{3, 3}, {2, 3}, {0, 3}, {5, 5}, {100, 5}}
		for _, st := range steps {
			got, err := f.s.SetRead(f.ctx, c.ID, "bob", st.set)
			f.must(err, "set read")
			if got != st.want {
				f.Fatalf("SetRead(%d) = %d, want %d", st.set, got, st.want)
			}
			if m := f.member(c.ID, "bob"); m.ReadSeq != st.want {
				f.Fatalf("ReadSeq = %d after SetRead(%d), want %d", m.ReadSeq, st.set, st.want)
			}
		}
		if n, _ := f.s.Unread(f.ctx, c.ID, "bob", f.member(c.ID, "bob").ReadSeq); n != 0 {
			f.Fatalf("unread after reading everything = %d", n)
		}
		// The clamp follows LastSeq as it grows.
		f.send(c.ID, "alice", "more")
		if got, _ := f.s.SetRead(f.ctx, c.ID, "bob", 100); got != 6 {
			f.Fatalf("SetRead(100) = %d after a new message, want 6", got)
		}
		if m := f.member(c.ID, "alice"); m.ReadSeq != 6 {
			f.Fatalf("SetRead of bob changed alice's ReadSeq to %d", m.ReadSeq)
		}
		_, err := f.s.SetRead(f.ctx, c.ID, "carol", 1)
		f.wantErr(err, store.ErrNotFound, "SetRead of a non-member")
		_, err = f.s.SetRead(f.ctx, "nope", "bob", 1)
		f.wantErr(err, store.ErrNotFound, "SetRead in an absent conversation")
	}},
}

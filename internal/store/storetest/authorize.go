package storetest

import (
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// authorized is a membership entry whose role rules the store checks.
func authorized(conv, from, user, action, role string) store.Append {
	e := memberEvent(conv, from, user, action, role)
	e.Authorize = true
	return e
}

var authorizeTests = []test{
	{"authorize/role rules are checked at commit time", func(f *fx) {
		for _, u := range []string{"own", "adm", "mem", "new"} {
			f.user(u)
		}
		f.group("g_a", "own", "adm", "mem")
		f.ok(authorized("g_a", "own", "adm", protocol.MemberRole, protocol.RoleAdmin))

		forbidden := []struct {
			what string
			e    store.Append
		}{
			{"member adding", authorized("g_a", "mem", "new", protocol.MemberAdded, "")},
			{"member removing a member", authorized("g_a", "mem", "adm", protocol.MemberRemoved, "")},
			{"admin removing the owner", authorized("g_a", "adm", "own", protocol.MemberRemoved, "")},
			{"admin changing a role", authorized("g_a", "adm", "mem", protocol.MemberRole, protocol.RoleAdmin)},
			{"member renaming", store.Append{Conv: "g_a", Sender: "mem", Kind: protocol.KindSystem, Authorize: true,
				Member: &protocol.MemberChange{User: "mem", Action: "renamed", Name: "mine"}}},
		}
		last := f.conv("g_a").LastSeq
		for _, tc := range forbidden {
			r := f.appendAll(tc.e)[0]
			f.wantErr(r.Err, store.ErrForbidden, tc.what)
		}
		if got := f.conv("g_a").LastSeq; got != last {
			f.Fatalf("refused entries consumed seqs: last seq %d, want %d", got, last)
		}
		f.ok(authorized("g_a", "adm", "new", protocol.MemberAdded, ""))
		f.ok(authorized("g_a", "adm", "new", protocol.MemberRemoved, ""))
		f.ok(authorized("g_a", "mem", "mem", protocol.MemberLeft, ""))
	}},
	{"authorize/two hand-overs of one group: only the first wins", func(f *fx) {
		for _, u := range []string{"own", "b", "c"} {
			f.user(u)
		}
		f.group("g_h", "own", "b", "c")
		handOver := func(to string) []store.Append {
			return []store.Append{
				authorized("g_h", "own", to, protocol.MemberRole, protocol.RoleOwner),
				authorized("g_h", "own", "own", protocol.MemberRole, protocol.RoleAdmin),
			}
		}
		// Both hand-overs were checked against the roles before either
		// committed; in one transaction (and so in any order of commits) the
		// second must fail at commit time.
		res := f.appendAll(append(handOver("b"), handOver("c")...)...)
		for i := 0; i < 2; i++ {
			f.must(res[i].Err, "first hand-over")
		}
		for i := 2; i < 4; i++ {
			f.wantErr(res[i].Err, store.ErrForbidden, "second hand-over")
		}
		owners := 0
		for _, u := range []string{"own", "b", "c"} {
			if f.member("g_h", u).Role == protocol.RoleOwner {
				owners++
			}
		}
		if owners != 1 || f.member("g_h", "b").Role != protocol.RoleOwner {
			f.Fatalf("%d owners after two hand-overs, want b alone", owners)
		}
	}},
}

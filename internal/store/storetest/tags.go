package storetest

import (
	"maps"

	"github.com/parley-im/parley/internal/store"
)

// tagTests check store.Tags.
var tagTests = []test{
	{"tags/set, replace and delete, one result per change", func(f *fx) {
		f.user("alice")
		f.user("bob")
		res := f.tags(5,
			store.TagChange{User: "alice", Set: map[string]string{"region": "beijing", "plan": "pro"}},
			store.TagChange{User: "bob", Set: map[string]string{"region": "hangzhou"}},
			store.TagChange{User: "ghost", Set: map[string]string{"region": "beijing"}},
			store.TagChange{User: "alice", Set: map[string]string{"region": "shanghai"}, Delete: []string{"plan", "absent"}},
		)
		f.wantTags(res[0], map[string]string{"region": "beijing", "plan": "pro"}, true)
		f.wantTags(res[1], map[string]string{"region": "hangzhou"}, true)
		f.wantErr(res[2].Err, store.ErrNotFound, "tags of an unknown user")
		f.wantTags(res[3], map[string]string{"region": "shanghai"}, true)
		f.sameTags("alice", map[string]string{"region": "shanghai"})
		// The same again changes nothing and says so.
		res = f.tags(5, store.TagChange{User: "alice", Set: map[string]string{"region": "shanghai"}})
		f.wantTags(res[0], map[string]string{"region": "shanghai"}, false)
		// Replace makes the tags exactly Set.
		res = f.tags(5, store.TagChange{User: "bob", Replace: true, Set: map[string]string{"plan": "free"}})
		f.wantTags(res[0], map[string]string{"plan": "free"}, true)
		res = f.tags(5, store.TagChange{User: "bob", Replace: true})
		f.wantTags(res[0], map[string]string{}, true)
		f.sameTags("bob", map[string]string{})
		if _, err := f.s.UserTags(f.ctx, "ghost"); err == nil {
			f.Fatal("tags of an unknown user: no error")
		} else {
			f.wantErr(err, store.ErrNotFound, "tags of an unknown user")
		}
	}},
	{"tags/at most max per user; a failed change changes nothing", func(f *fx) {
		f.user("alice")
		f.tags(2, store.TagChange{User: "alice", Set: map[string]string{"a": "1", "b": "2"}})
		res := f.tags(2, store.TagChange{User: "alice", Set: map[string]string{"c": "3"}},
			store.TagChange{User: "alice", Set: map[string]string{"a": "9"}, Delete: []string{"b"}})
		f.wantErr(res[0].Err, store.ErrLimit, "a third tag")
		f.wantTags(res[1], map[string]string{"a": "9"}, true)
		f.sameTags("alice", map[string]string{"a": "9"})
		// Over a lowered limit, a change that does not add keeps working.
		f.tags(0, store.TagChange{User: "alice", Set: map[string]string{"b": "2", "c": "3"}})
		res = f.tags(1, store.TagChange{User: "alice", Delete: []string{"c"}})
		f.wantTags(res[0], map[string]string{"a": "9", "b": "2"}, true)
	}},
	{"tags/create missing users, never deleted ones", func(f *fx) {
		f.user("alice")
		_, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete alice")
		at := f.tick()
		res, err := f.s.ChangeTags(f.ctx, []store.TagChange{
			{User: "carol", Create: true, Set: map[string]string{"region": "beijing"}},
			{User: "alice", Create: true, Set: map[string]string{"region": "beijing"}},
			{User: "carol", Create: true, Set: map[string]string{"region": "beijing"}},
		}, 0, at)
		f.must(err, "change tags")
		if !res[0].Created || !res[0].Changed || res[2].Created || res[2].Changed {
			f.Fatalf("results %+v", res)
		}
		f.wantErr(res[1].Err, store.ErrNotFound, "tags of a deleted user, with Create")
		u, err := f.s.User(f.ctx, "carol")
		f.must(err, "user carol")
		if !u.CreatedAt.Equal(at) || u.PasswordHash != "" || u.Disabled {
			f.Fatalf("created user %+v", u)
		}
		// Deleting a user erases its tags.
		_, err = f.s.DeleteUser(f.ctx, "carol", f.tick())
		f.must(err, "delete carol")
		if n, err := f.s.CountTagged(f.ctx, term("region", "beijing")); err != nil || n != 0 {
			f.Fatalf("a deleted user is still tagged: %d %v", n, err)
		}
		if ok, err := f.s.HasTagValue(f.ctx, "carol", "beijing"); err != nil || ok {
			f.Fatalf("a deleted user still carries a value: %v %v", ok, err)
		}
	}},
	{"tags/values and counts of expressions", func(f *fx) {
		for _, u := range []string{"a1", "a2", "a3", "a4", "a5"} {
			f.user(u)
		}
		f.tags(0,
			store.TagChange{User: "a1", Set: map[string]string{"region": "beijing", "plan": "pro"}},
			store.TagChange{User: "a2", Set: map[string]string{"region": "beijing"}},
			store.TagChange{User: "a3", Set: map[string]string{"region": "hangzhou", "plan": "pro"}},
			store.TagChange{User: "a4", Set: map[string]string{"region": "hangzhou", "vip": "beijing"}},
		)
		for _, c := range []struct {
			expr store.TagExpr
			want int64
		}{
			{term("region", "beijing"), 2},
			{and(term("region", "hangzhou"), term("plan", "pro")), 1},
			{or(term("region", "beijing"), term("plan", "pro")), 3},
			{not(term("region", "beijing")), 3},
			{and(term("region", "hangzhou"), not(term("plan", "pro"))), 1},
			{and(term("plan", "pro"), or(term("region", "beijing"), term("region", "hangzhou"))), 2},
			{store.TagExpr{Op: store.TagAll}, 5},
			{term("region", "nowhere"), 0},
		} {
			n, err := f.s.CountTagged(f.ctx, c.expr)
			f.must(err, "count "+c.expr.String())
			if n != c.want {
				f.Fatalf("%s: %d users, want %d", c.expr, n, c.want)
			}
		}
		for _, c := range []struct {
			user, value string
			want        bool
		}{{"a1", "beijing", true}, {"a4", "beijing", true}, {"a3", "beijing", false}, {"a1", "region", false}, {"nobody", "beijing", false}} {
			if ok, err := f.s.HasTagValue(f.ctx, c.user, c.value); err != nil || ok != c.want {
				f.Fatalf("HasTagValue(%s, %s) = %v %v, want %v", c.user, c.value, ok, err, c.want)
			}
		}
	}},
}

func term(k, v string) store.TagExpr { return store.TagExpr{Op: store.TagTerm, Key: k, Value: v} }
func and(a ...store.TagExpr) store.TagExpr {
	return store.TagExpr{Op: store.TagAnd, Args: a}
}
func or(a ...store.TagExpr) store.TagExpr { return store.TagExpr{Op: store.TagOr, Args: a} }
func not(a store.TagExpr) store.TagExpr {
	return store.TagExpr{Op: store.TagNot, Args: []store.TagExpr{a}}
}

// tags applies changes with ChangeTags at a new tick.
func (f *fx) tags(max int, changes ...store.TagChange) []store.TagResult {
	f.Helper()
	res, err := f.s.ChangeTags(f.ctx, changes, max, f.tick())
	f.must(err, "change tags")
	if len(res) != len(changes) {
		f.Fatalf("change tags: %d results for %d changes", len(res), len(changes))
	}
	return res
}

// wantTags checks a successful result.
func (f *fx) wantTags(r store.TagResult, want map[string]string, changed bool) {
	f.Helper()
	if r.Err != nil || !maps.Equal(r.Tags, want) || r.Changed != changed {
		f.Fatalf("result tags %v changed %v err %v, want %v changed %v", r.Tags, r.Changed, r.Err, want, changed)
	}
}

// sameTags checks user's stored tags.
func (f *fx) sameTags(user string, want map[string]string) {
	f.Helper()
	got, err := f.s.UserTags(f.ctx, user)
	f.must(err, "tags of "+user)
	if got == nil || !maps.Equal(got, want) {
		f.Fatalf("tags of %s: %v, want %v", user, got, want)
	}
}

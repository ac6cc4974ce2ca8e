package storetest

import (
	"reflect"

	"github.com/parley-im/parley/internal/store"
)

var userTests = []test{
	{"users/create and get", func(f *fx) {
		want := store.User{
			ID:           "alice",
			DisplayName:  "Alice 👩‍💻 \u202Eevil",
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
			CreatedAt:    f.now,
		}
		f.must(f.s.CreateUser(f.ctx, want), "create")
		got, err := f.s.User(f.ctx, "alice")
		f.must(err, "get")
		sameUser(f, got, want)
		if !got.LastSeen.IsZero() {
			f.Fatalf("LastSeen = %v, want zero for a user never seen", got.LastSeen)
		}

		// A disabled user with no password (external identity) round-trips.
		ext := store.User{ID: "bob", Disabled: true, CreatedAt: f.tick(), LastSeen: f.tick()}
		f.must(f.s.CreateUser(f.ctx, ext), "create external")
		got, err = f.s.User(f.ctx, "bob")
		f.must(err, "get external")
		sameUser(f, got, ext)
	}},
	{"users/duplicate id is ErrExists", func(f *fx) {
		f.user("alice")
		err := f.s.CreateUser(f.ctx, store.User{ID: "alice", DisplayName: "Impostor", CreatedAt: f.tick()})
		f.wantErr(err, store.ErrExists, "create twice")
		got, err := f.s.User(f.ctx, "alice")
		f.must(err, "get")
		if got.DisplayName != "User alice" {
			f.Fatalf("DisplayName = %q: the failed create changed the user", got.DisplayName)
		}
	}},
	{"users/absent user is ErrNotFound", func(f *fx) {
		_, err := f.s.User(f.ctx, "nobody")
		f.wantErr(err, store.ErrNotFound, "User")
		f.wantErr(f.s.SetDisabled(f.ctx, "nobody", true), store.ErrNotFound, "SetDisabled")
		f.wantErr(f.s.SetPassword(f.ctx, "nobody", "h"), store.ErrNotFound, "SetPassword")
	}},
	{"users/list pages by id", func(f *fx) {
		for _, id := range []string{"u05", "u02", "u07", "u01", "u04", "u03", "u06"} {
			f.user(id)
		}
		var got []string
		after := ""
		for range 10 {
			page, err := f.s.ListUsers(f.ctx, after, 3)
			f.must(err, "list")
			if len(page) > 3 {
				f.Fatalf("page of %d users with limit 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, u := range page {
				got = append(got, u.ID)
			}
			after = page[len(page)-1].ID
		}
		want := []string{"u01", "u02", "u03", "u04", "u05", "u06", "u07"}
		if !reflect.DeepEqual(got, want) {
			f.Fatalf("listed %v, want %v", got, want)
		}
		page, err := f.s.ListUsers(f.ctx, "u03", 2)
		f.must(err, "list after u03")
		if len(page) != 2 || page[0].ID != "u04" || page[1].ID != "u05" {
			f.Fatalf("ListUsers(after u03, 2) = %v", ids(page))
		}
		if page[0].DisplayName != "User u04" {
			f.Fatalf("listed user lost its fields: %+v", page[0])
		}
	}},
	{"users/disable, password and last seen", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.must(f.s.SetDisabled(f.ctx, "alice", true), "disable")
		u, _ := f.s.User(f.ctx, "alice")
		if !u.Disabled {
			f.Fatal("user not disabled")
		}
		f.must(f.s.SetDisabled(f.ctx, "alice", false), "enable")
		u, _ = f.s.User(f.ctx, "alice")
		if u.Disabled {
			f.Fatal("user still disabled")
		}
		f.must(f.s.SetPassword(f.ctx, "alice", "new-hash"), "set password")
		seen := f.tick()
		f.must(f.s.TouchUser(f.ctx, "alice", seen), "touch")
		u, _ = f.s.User(f.ctx, "alice")
		if u.PasswordHash != "new-hash" || !u.LastSeen.Equal(seen) {
			f.Fatalf("after set password and touch: %+v", u)
		}
		other, _ := f.s.User(f.ctx, "bob")
		if other.Disabled || other.PasswordHash != "" || !other.LastSeen.IsZero() {
			f.Fatalf("another user changed: %+v", other)
		}
	}},
}

// sameUser compares users field by field, times by Equal.
func sameUser(f *fx, got, want store.User) {
	f.Helper()
	if got.ID != want.ID || got.DisplayName != want.DisplayName || got.PasswordHash != want.PasswordHash ||
		got.Disabled != want.Disabled || !got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeen.Equal(want.LastSeen) {
		f.Fatalf("user:\n got  %+v\n want %+v", got, want)
	}
}

func ids(users []store.User) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.ID
	}
	return out
}

package store

import (
	"reflect"
	"testing"
)

// TestRolesAreRoleSized: Store is the sum of role interfaces of at most 10
// methods each (DESIGN.md §4), and every method of Store is in one of them
// (Close aside). A backend feature adds a role, or a method to a small
// one, rather than widening Store directly.
func TestRolesAreRoleSized(t *testing.T) {
	t.Parallel()
	roles := []reflect.Type{
		reflect.TypeFor[Tags](), reflect.TypeFor[Notices](),
		reflect.TypeFor[Users](), reflect.TypeFor[Sessions](), reflect.TypeFor[Devices](),
		reflect.TypeFor[Conversations](), reflect.TypeFor[Messages](), reflect.TypeFor[Positions](),
		reflect.TypeFor[Retention](), reflect.TypeFor[Erasure](), reflect.TypeFor[MQTTSessions](),
		reflect.TypeFor[GroupCommit](), reflect.TypeFor[TokenFloors](), reflect.TypeFor[SystemConversations](),
		reflect.TypeFor[Blocks](), reflect.TypeFor[BroadcastLists](),
		reflect.TypeFor[Friends](), reflect.TypeFor[Settings](),
		reflect.TypeFor[Follows](), reflect.TypeFor[Moments](),
		reflect.TypeFor[Invites](), reflect.TypeFor[GroupLinks](),
	}
	in := map[string]bool{"Close": true}
	for _, r := range roles {
		if n := r.NumMethod(); n > 10 {
			t.Errorf("store.%s has %d methods: split it (at most 10)", r.Name(), n)
		}
		for i := range r.NumMethod() {
			in[r.Method(i).Name] = true
		}
	}
	st := reflect.TypeFor[Store]()
	for i := range st.NumMethod() {
		if m := st.Method(i).Name; !in[m] {
			t.Errorf("Store.%s is in no role: put it in one", m)
		}
	}
}

package core

import (
	"reflect"
	"testing"
)

// roles lists every role of the core (roles.go, mqttsessions.go).
var roles = []reflect.Type{
	reflect.TypeFor[Tags](),
	reflect.TypeFor[Notices](),
	reflect.TypeFor[SystemTopics](),
	reflect.TypeFor[Authenticator](),
	reflect.TypeFor[Accounts](),
	reflect.TypeFor[Admin](),
	reflect.TypeFor[Sender](),
	reflect.TypeFor[Attacher](),
	reflect.TypeFor[Positions](),
	reflect.TypeFor[Groups](),
	reflect.TypeFor[Queries](),
	reflect.TypeFor[Friends](),
	reflect.TypeFor[Settings](),
	reflect.TypeFor[Invites](),
	reflect.TypeFor[GroupLinks](),
	reflect.TypeFor[Instrumented](),
	reflect.TypeFor[Lifecycle](),
	reflect.TypeFor[Broadcasts](),
	reflect.TypeFor[MQTTSessions](),
	reflect.TypeFor[Blocking](),
	reflect.TypeFor[Follows](),
	reflect.TypeFor[Moments](),
}

// TestEveryMethodHasARole: *Core is only the sum of its roles. A new
// exported method goes into a role (a new one if none fits), so that a
// gateway can take it without taking all of *Core; and roles stay
// role-sized (DESIGN.md §4).
func TestEveryMethodHasARole(t *testing.T) {
	t.Parallel()
	in := map[string]bool{}
	for _, r := range roles {
		if n := r.NumMethod(); n > 10 {
			t.Errorf("role %s has %d methods: split it (at most 10)", r.Name(), n)
		}
		for i := range r.NumMethod() {
			in[r.Method(i).Name] = true
		}
	}
	ct := reflect.TypeFor[*Core]()
	for i := range ct.NumMethod() {
		if m := ct.Method(i).Name; !in[m] {
			t.Errorf("(*Core).%s is in no role: add it to one in roles.go, or add a role", m)
		}
	}
}

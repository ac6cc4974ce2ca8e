package core

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
)

// presenceEnv is a core whose presence is flushed by the test only (the
// coalescing window is an hour), so that after flush returns every push
// of it is queued, and a marker queued after it tells "none came" from
// "not yet".
type presenceEnv struct {
	*coreEnv
	tr map[string]*fakeTransport
	cl map[string]*Client
}

func newPresenceEnv(t *testing.T, groupMax int) *presenceEnv {
	e := &presenceEnv{coreEnv: newCoreEnv(t, Retention{}, func(o *Options) {
		o.Timeouts.PresenceCoalesce = time.Hour
		o.Limits.PresenceGroupMax = groupMax
	}), tr: map[string]*fakeTransport{}, cl: map[string]*Client{}}
	for _, u := range []string{"dave", "eve", "frank"} {
		if _, err := e.c.CreateUser(e.ctx, u, "password", ""); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *presenceEnv) attach(user string) {
	e.t.Helper()
	e.tr[user] = newFakeTransport()
	cl, err := e.c.Attach(Identity{User: user, Device: "d"}, e.tr[user])
	if err != nil {
		e.t.Fatal(err)
	}
	e.cl[user] = cl
}

func (e *presenceEnv) detach(user string) {
	e.t.Helper()
	e.cl[user].Close(protocol.CloseShutdown, "test")
	waitUntil(e.t, user+" offline", 5*time.Second, func() bool { return !e.c.hub.online(user) })
}

// pushes flushes presence and returns, for each of users, the presence
// pushes it got from that flush.
func (e *presenceEnv) pushes(users ...string) map[string][]protocol.Presence {
	e.t.Helper()
	e.c.presence.flush()
	marker := &protocol.Presence{User: "~marker"}
	for _, u := range users {
		e.c.sendToUser(u, protocol.TypePresence, marker)
	}
	out := map[string][]protocol.Presence{}
	for _, u := range users {
		for {
			pr := e.tr[u].next(e.t, protocol.TypePresence).Data.(*protocol.Presence)
			if pr == marker {
				break
			}
			out[u] = append(out[u], *pr)
		}
	}
	return out
}

// visibleTo returns whom of users viewer's presence query answers for.
func (e *presenceEnv) visibleTo(viewer string, users ...string) []string {
	e.t.Helper()
	ps, err := e.c.Presence(e.ctx, viewer, users)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.User)
	}
	return out
}

func (e *presenceEnv) befriend(a, b string) {
	e.t.Helper()
	if _, err := e.c.RequestFriend(e.ctx, Identity{User: a, Device: "d"}, b, ""); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.c.AnswerFriend(e.ctx, Identity{User: b, Device: "d"}, a, true); err != nil {
		e.t.Fatal(err)
	}
}

func (e *presenceEnv) setHidden(user string, hidden bool) {
	e.t.Helper()
	if _, err := e.c.UpdateSettings(e.ctx, Identity{User: user, Device: "d"}, SettingsUpdate{PresenceHidden: &hidden}); err != nil {
		e.t.Fatal(err)
	}
}

// TestPresenceGoesToContactsOnly: alice's presence reaches her friend bob
// and carol, a co-member of a small group; not dave, who only has a direct
// conversation with her, nor eve, a co-member of a group over the limit,
// nor frank, a friend she blocks. Queries answer alike.
func TestPresenceGoesToContactsOnly(t *testing.T) {
	t.Parallel()
	e := newPresenceEnv(t, 3)
	e.befriend("alice", "bob")
	e.befriend("frank", "alice")
	if err := e.c.Block(e.ctx, "alice", "frank"); err != nil {
		t.Fatal(err)
	}
	alice := Identity{User: "alice", Device: "d"}
	if _, err := e.c.CreateGroup(e.ctx, alice, "small", []string{"carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateGroup(e.ctx, alice, "large", []string{"eve", "dave", "frank"}); err != nil {
		t.Fatal(err)
	}
	e.send("dave", "", "alice") // a direct conversation with a message
	observers := []string{"bob", "carol", "dave", "eve", "frank"}
	for _, u := range observers {
		e.attach(u)
	}
	e.pushes(observers...) // the observers' own announcements

	e.attach("alice")
	got := e.pushes(observers...)
	for _, u := range observers {
		want := u == "bob" || u == "carol"
		if ps := got[u]; want && (len(ps) != 1 || ps[0].User != "alice" || !ps[0].Online) || !want && len(ps) != 0 {
			t.Errorf("%s got presence pushes %+v; want alice online: %v", u, ps, want)
		}
	}
	for _, u := range observers {
		want := u == "bob" || u == "carol"
		if v := e.visibleTo(u, "alice"); want != slices.Equal(v, []string{"alice"}) {
			t.Errorf("%s's presence query for alice answers %v; want alice: %v", u, v, want)
		}
	}
	if v := e.visibleTo("alice", "alice", "bob", "carol", "dave", "eve", "frank", "nobody"); !slices.Equal(v, []string{"alice", "bob", "carol"}) {
		t.Errorf("alice sees the presence of %v, want herself, bob and carol", v)
	}

	// Offline: with last seen, to the same contacts.
	e.detach("alice")
	got = e.pushes(observers...)
	if ps := got["bob"]; len(ps) != 1 || ps[0].Online || ps[0].LastSeen == 0 {
		t.Errorf("bob got %+v, want alice offline with last seen", ps)
	}
	for _, u := range []string{"dave", "eve", "frank"} {
		if len(got[u]) != 0 {
			t.Errorf("%s got %+v", u, got[u])
		}
	}

	// A new block hides at once, both ways.
	if err := e.c.Block(e.ctx, "carol", "alice"); err != nil {
		t.Fatal(err)
	}
	e.attach("alice")
	got = e.pushes(observers...)
	if len(got["carol"]) != 0 || len(got["bob"]) != 1 {
		t.Errorf("after carol blocked alice: carol got %+v, bob %+v; want nothing, alice online", got["carol"], got["bob"])
	}
	if v := e.visibleTo("carol", "alice"); len(v) != 0 {
		t.Errorf("carol, who blocks alice, sees %v", v)
	}
	if v := e.visibleTo("alice", "carol"); len(v) != 0 {
		t.Errorf("alice, blocked by carol, sees %v", v)
	}
}

// TestPresenceHidden: hiding tells contacts alice is no longer shown
// online (without a last seen), and hides her from queries; showing it
// again tells them she is online. She still sees theirs.
func TestPresenceHidden(t *testing.T) {
	t.Parallel()
	e := newPresenceEnv(t, 3)
	e.befriend("alice", "bob")
	e.attach("bob")
	e.attach("alice")
	e.pushes("bob", "alice")

	e.setHidden("alice", true)
	got := e.pushes("bob")
	if ps := got["bob"]; len(ps) != 1 || ps[0].Online || ps[0].LastSeen != 0 {
		t.Fatalf("bob got %+v when alice hid her presence, want offline without last seen", ps)
	}
	if v := e.visibleTo("bob", "alice"); len(v) != 0 {
		t.Errorf("bob sees hidden alice: %v", v)
	}
	if v := e.visibleTo("alice", "bob"); !slices.Equal(v, []string{"bob"}) {
		t.Errorf("hidden alice sees %v, want bob", v)
	}
	// Hidden, her connections coming and going tell nobody.
	e.detach("alice")
	e.attach("alice")
	if got := e.pushes("bob"); len(got["bob"]) != 0 {
		t.Errorf("bob got %+v while alice is hidden", got["bob"])
	}
	e.setHidden("alice", false)
	if ps := e.pushes("bob")["bob"]; len(ps) != 1 || !ps[0].Online {
		t.Fatalf("bob got %+v when alice showed her presence again, want online", ps)
	}
	if v := e.visibleTo("bob", "alice"); !slices.Equal(v, []string{"alice"}) {
		t.Errorf("bob sees %v after alice showed her presence, want alice", v)
	}
}

// TestPresenceCoalesced: connections that come and go within one window
// announce nothing; a change that holds at its end, once.
func TestPresenceCoalesced(t *testing.T) {
	t.Parallel()
	e := newPresenceEnv(t, 3)
	e.befriend("alice", "bob")
	e.attach("bob")
	e.pushes("bob")
	for range 5 {
		e.attach("alice")
		e.detach("alice")
	}
	if got := e.pushes("bob"); len(got["bob"]) != 0 {
		t.Errorf("a flapping alice announced %+v", got["bob"])
	}
	for range 5 {
		e.attach("alice")
		e.detach("alice")
	}
	e.attach("alice")
	if ps := e.pushes("bob")["bob"]; len(ps) != 1 || !ps[0].Online {
		t.Errorf("bob got %+v, want alice online once", ps)
	}
}

// TestLastSeenOfAConnectionWithinOneWindow: a connection that opens and
// closes between two flushes announces nothing (the change coalesces
// away) but still records when its user was last seen.
func TestLastSeenOfAConnectionWithinOneWindow(t *testing.T) {
	t.Parallel()
	e := newPresenceEnv(t, 3)
	e.befriend("alice", "bob")
	e.attach("bob")
	e.pushes("bob")
	if u, err := e.c.st.User(e.ctx, "alice"); err != nil || !u.LastSeen.IsZero() {
		t.Fatalf("alice before connecting: last seen %v, %v", u.LastSeen, err)
	}
	e.attach("alice")
	e.detach("alice")
	if got := e.pushes("bob"); len(got["bob"]) != 0 {
		t.Errorf("bob got %+v for a connection within one window, want nothing", got["bob"])
	}
	ps, err := e.c.Presence(e.ctx, "bob", []string{"alice"})
	if err != nil || len(ps) != 1 || ps[0].Online || ps[0].LastSeen == 0 {
		t.Fatalf("bob's query for alice: %+v, %v; want offline with a last seen", ps, err)
	}
}

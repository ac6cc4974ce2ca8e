package e2e

// Who sees whose presence (docs/protocol.md §2.9), through the real
// server: contacts (friends, co-members of small groups) do; a stranger
// with a direct conversation does not, nor a user blocked either way, nor
// anyone while the user hides it.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// presenceUntil reads c's presence pushes until one says user is online
// and returns those before it: a later contact's announcement marks the
// end of what an earlier one could have pushed (pushes to a connection
// keep their order, and a later change is announced in a later flush).
func presenceUntil(t *testing.T, c *parley.Client, user string) []protocol.Presence {
	t.Helper()
	var before []protocol.Presence
	event(t, c, protocol.TypePresence, 10*time.Second, func(e parley.Event) bool {
		if e.Presence.User == user && e.Presence.Online {
			return true
		}
		before = append(before, *e.Presence)
		return false
	})
	return before
}

// presenceOf returns whom of users c's presence query answers for.
func presenceOf(t *testing.T, c *parley.Client, users ...string) []string {
	t.Helper()
	ps, err := c.Presence(ctxT(t), users...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.User)
	}
	return out
}

func noPresenceOf(t *testing.T, who string, ps []protocol.Presence, user string) {
	t.Helper()
	for _, p := range ps {
		if p.User == user {
			t.Fatalf("%s got %s's presence %+v", who, user, p)
		}
	}
}

// TestPresenceVisibleOnlyToContacts: bob, a co-member of a small group,
// and erin, a friend, see alice come online and can ask for her presence;
// dave, a stranger who opened a direct conversation with her, and frank,
// a co-member she blocks, get neither pushes nor answers. mark, who comes
// online after, is the contact whose announcement ends the wait. When
// alice hides her presence, bob and erin are told she is no longer shown
// online and their queries leave her out, until she shows it again.
func TestPresenceVisibleOnlyToContacts(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "dave", "erin", "frank", "mark"} {
		s.user(u)
	}
	ctx := ctxT(t)
	aliceAPI := s.login("alice", "web")
	if _, err := aliceAPI.CreateGroup(ctx, "pals", "bob", "frank"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.login("mark", "web").CreateGroup(ctx, "markers", "bob", "dave", "frank"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.login("dave", "web").Direct(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := aliceAPI.Block(ctx, "frank"); err != nil {
		t.Fatal(err)
	}
	befriend(t, s, "erin", "alice")
	bob, dave, erin, frank := s.dial("bob", "phone"), s.dial("dave", "phone"), s.dial("erin", "phone"), s.dial("frank", "phone")

	alice := s.dial("alice", "phone")
	if on := event(t, bob, protocol.TypePresence, 10*time.Second, func(e parley.Event) bool { return e.Presence.User == "alice" }); !on.Presence.Online {
		t.Fatalf("bob got %+v, want alice online", on.Presence)
	}
	if on := event(t, erin, protocol.TypePresence, 10*time.Second, func(e parley.Event) bool { return e.Presence.User == "alice" }); !on.Presence.Online {
		t.Fatalf("erin got %+v, want alice online", on.Presence)
	}
	s.dial("mark", "phone")
	noPresenceOf(t, "dave (a stranger with a direct conversation)", presenceUntil(t, dave, "mark"), "alice")
	noPresenceOf(t, "frank (blocked)", presenceUntil(t, frank, "mark"), "alice")

	for who, c := range map[string]*parley.Client{"bob": bob, "erin": erin} {
		if got := presenceOf(t, c, "alice"); !slices.Equal(got, []string{"alice"}) {
			t.Errorf("%s's presence query for alice: %v", who, got)
		}
	}
	for who, c := range map[string]*parley.Client{"dave": dave, "frank": frank} {
		if got := presenceOf(t, c, "alice"); len(got) != 0 {
			t.Errorf("%s's presence query for alice answers %v", who, got)
		}
	}
	if got := presenceOf(t, alice, "bob", "dave", "erin", "frank"); !slices.Equal(got, []string{"bob", "erin"}) {
		t.Errorf("alice's presence query answers %v, want bob and erin", got)
	}

	// Unblocking restores frank's view at once.
	if err := aliceAPI.Unblock(ctx, "frank"); err != nil {
		t.Fatal(err)
	}
	if got := presenceOf(t, frank, "alice"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("frank's presence query after the unblock: %v", got)
	}

	// Hidden: contacts are told she is no longer shown online (no last
	// seen), and their queries leave her out; she still sees theirs.
	setPresenceHidden(t, s, aliceAPI, true)
	for who, c := range map[string]*parley.Client{"bob": bob, "erin": erin} {
		off := event(t, c, protocol.TypePresence, 10*time.Second, func(e parley.Event) bool { return e.Presence.User == "alice" })
		if off.Presence.Online || off.Presence.LastSeen != 0 {
			t.Errorf("%s got %+v when alice hid her presence, want offline without last seen", who, off.Presence)
		}
		if got := presenceOf(t, c, "alice"); len(got) != 0 {
			t.Errorf("%s's presence query for hidden alice answers %v", who, got)
		}
	}
	if got := presenceOf(t, alice, "bob", "erin"); !slices.Equal(got, []string{"bob", "erin"}) {
		t.Errorf("hidden alice's presence query answers %v, want bob and erin", got)
	}
	setPresenceHidden(t, s, aliceAPI, false)
	if on := event(t, bob, protocol.TypePresence, 10*time.Second, func(e parley.Event) bool { return e.Presence.User == "alice" }); !on.Presence.Online {
		t.Fatalf("bob got %+v when alice showed her presence again, want online", on.Presence)
	}
}

// befriend makes a and b friends through the HTTP API: a asks, b accepts.
func befriend(t *testing.T, s *server, a, b string) {
	t.Helper()
	if status, body := httpDo(t, "POST", s.URL+"/v1/friends/requests", s.login(a, "web").Token, map[string]string{"user": b}); status != 200 {
		t.Fatalf("%s asks %s: %d %s", a, b, status, body)
	}
	if status, body := httpDo(t, "POST", s.URL+"/v1/friends/requests/"+a+"/accept", s.login(b, "web").Token, nil); status != 200 {
		t.Fatalf("%s accepts %s: %d %s", b, a, status, body)
	}
}

// setPresenceHidden changes api's user's presence_hidden setting over HTTP.
func setPresenceHidden(t *testing.T, s *server, api *parley.API, hidden bool) {
	t.Helper()
	status, body := httpDo(t, "PATCH", s.URL+"/v1/me/settings", api.Token, map[string]bool{"presence_hidden": hidden})
	if status != 200 || !strings.Contains(string(body), fmt.Sprintf(`"presence_hidden":%v`, hidden)) {
		t.Fatalf("PATCH /v1/me/settings presence_hidden %v: %d %s", hidden, status, body)
	}
}

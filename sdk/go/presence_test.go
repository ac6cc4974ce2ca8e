package parley_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// TestAPIPresence reads presence over HTTP with API.Presence: a friend's,
// online while their client is connected and offline with the last-seen
// time pushed after, as Client.Presence reads it; the caller's own;
// nothing of strangers, unknown users or a friend who hides it; and the
// 100-user bound.
func TestAPIPresence(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.users("alice", "bob", "carol")
	ctx := ctxT(t)
	alice, bob := s.login("alice", "laptop"), s.login("bob", "laptop")
	if _, err := alice.RequestFriend(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if st, err := bob.AnswerFriend(ctx, "alice", true); err != nil || st.Status != protocol.FriendFriends {
		t.Fatalf("bob accepts: %+v, %v", st, err)
	}

	presence := func(users ...string) []protocol.Presence {
		t.Helper()
		ps, err := alice.Presence(ctx, users...)
		if err != nil {
			t.Fatalf("Presence(%v): %v", users, err)
		}
		return ps
	}
	// carol is no contact; nobody does not exist: both left out.
	if ps := presence("bob", "carol", "nobody"); len(ps) != 1 || ps[0].User != "bob" || ps[0].Online {
		t.Fatalf("presence of bob, carol, nobody: %+v, want bob only, offline", ps)
	}
	if ps := presence(); ps == nil || len(ps) != 0 {
		t.Fatalf("presence of nobody at all: %#v, want an empty list", ps)
	}

	// alice, connected, is told when the server sees bob come and go;
	// bob stays until then (a connection shorter than the presence
	// coalescing window is never announced, though its last-seen time is
	// kept, as the short connection below shows).
	me := s.dial("alice", "phone")
	resumed(t, me)
	c := s.dial("bob", "phone")
	presenceEvent(t, me, "bob", true)
	if ps := presence("bob"); len(ps) != 1 || !ps[0].Online || ps[0].LastSeen != 0 {
		t.Fatalf("presence of bob, connected: %+v", ps)
	}
	if ps := presence("alice"); len(ps) != 1 || ps[0].User != "alice" || !ps[0].Online {
		t.Fatalf("alice's own presence while connected: %+v", ps)
	}
	// The same answer as the WebSocket query.
	ws, err := me.Presence(ctx, "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if overHTTP := presence("bob", "carol"); !slices.Equal(ws, overHTTP) {
		t.Errorf("Client.Presence %+v, API.Presence %+v", ws, overHTTP)
	}

	c.Close()
	off := presenceEvent(t, me, "bob", false)
	if off.LastSeen == 0 {
		t.Fatalf("bob went offline without a last-seen time: %+v", off)
	}
	if ps := presence("bob"); len(ps) != 1 || ps[0] != off {
		t.Fatalf("presence of bob, gone: %+v, want %+v as pushed", ps, off)
	}
	// A connection that is gone again without waiting to be announced
	// still moves bob's last seen.
	if err := s.dial("bob", "tablet").Close(); err != nil {
		t.Fatal(err)
	}
	// (Polled within the query budget, 20 a second.)
	deadline := time.Now().Add(5 * time.Second)
	for ps := presence("bob"); len(ps) != 1 || ps[0].Online || ps[0].LastSeen <= off.LastSeen; ps = presence("bob") {
		if time.Now().After(deadline) {
			t.Fatalf("presence of bob after a short connection: %+v, want offline, last seen after %d", ps, off.LastSeen)
		}
		time.Sleep(100 * time.Millisecond)
	}

	hidden := true
	if _, err := bob.UpdateSettings(ctx, parley.SettingsUpdate{PresenceHidden: &hidden}); err != nil {
		t.Fatal(err)
	}
	if ps := presence("bob"); len(ps) != 0 {
		t.Errorf("presence of bob, who hides it: %+v, want none", ps)
	}

	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	_, err = alice.Presence(ctx, many...)
	if pe := apiError(t, "presence of 101 users", err, 400); pe.Field != "users" {
		t.Errorf("presence of 101 users: field %q, want users", pe.Field)
	}
}

// presenceEvent waits for the presence push of user going online or
// offline on c, and returns it.
func presenceEvent(t *testing.T, c *parley.Client, user string, online bool) protocol.Presence {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed waiting for %s online=%v", user, online)
			}
			if e.Type == protocol.TypePresence && e.Presence.User == user && e.Presence.Online == online {
				return *e.Presence
			}
		case <-deadline:
			t.Fatalf("no presence push of %s online=%v within 20s", user, online)
		}
	}
}

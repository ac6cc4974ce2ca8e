package core

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func testClient(user, device string) *Client {
	return &Client{id: Identity{User: user, Device: device}}
}

// add is h.add without a per-user limit.
func add(h *hub, cl *Client) (int, *Client) {
	n, replaced, _ := h.add(cl, 0)
	return n, replaced
}

func TestHubAddRemove(t *testing.T) {
	t.Parallel()
	h := newHub()
	alicePhone, aliceWeb, bobPhone := testClient("alice", "phone"), testClient("alice", "web"), testClient("bob", "phone")

	steps := []struct {
		name         string
		do           func() (int, *Client)
		wantN        int
		wantReplaced *Client
		wantCount    int
	}{
		{"alice phone", func() (int, *Client) { return add(h, alicePhone) }, 1, nil, 1},
		{"alice web", func() (int, *Client) { return add(h, aliceWeb) }, 2, nil, 2},
		// Same device id, other user: no takeover across users.
		{"bob phone", func() (int, *Client) { return add(h, bobPhone) }, 1, nil, 3},
		{"remove alice web", func() (int, *Client) { return h.remove(aliceWeb), nil }, 1, nil, 2},
		{"remove alice web again", func() (int, *Client) { return h.remove(aliceWeb), nil }, 1, nil, 2},
		{"remove alice phone", func() (int, *Client) { return h.remove(alicePhone), nil }, 0, nil, 1},
		{"remove bob phone", func() (int, *Client) { return h.remove(bobPhone), nil }, 0, nil, 0},
	}
	for _, s := range steps {
		n, replaced := s.do()
		if n != s.wantN || replaced != s.wantReplaced || h.count() != s.wantCount {
			t.Fatalf("%s: n %d, replaced %v, count %d; want %d, %v, %d", s.name, n, replaced, h.count(), s.wantN, s.wantReplaced, s.wantCount)
		}
	}
	if h.online("alice") || h.online("bob") || len(h.all()) != 0 || len(h.users) != 0 {
		t.Errorf("hub not empty after removing everyone: %v", h.users)
	}
}

// TestHubReplace: a second connection of a device replaces the first, and
// the replaced client closing later does not detach the new one.
func TestHubReplace(t *testing.T) {
	t.Parallel()
	h := newHub()
	old, web, fresh := testClient("alice", "phone"), testClient("alice", "web"), testClient("alice", "phone")
	add(h, old)
	add(h, web)
	n, replaced := add(h, fresh)
	if n != 2 || replaced != old {
		t.Fatalf("add(second phone) = %d, %p; want 2, the old phone %p", n, replaced, old)
	}
	if h.count() != 2 {
		t.Fatalf("count = %d, want 2", h.count())
	}
	// The replaced client's Close calls remove.
	if left := h.remove(old); left != 2 {
		t.Errorf("remove(replaced) = %d, want 2 (nothing removed)", left)
	}
	if got := h.clients("alice"); !slices.Contains(got, fresh) || !slices.Contains(got, web) || len(got) != 2 {
		t.Errorf("clients = %v, want the new phone and web", got)
	}
	if h.count() != 2 {
		t.Errorf("count = %d after removing the replaced client, want 2", h.count())
	}
}

// TestHubClientsSnapshot: a slice returned by clients stays valid while the
// hub changes (fan-out iterates it without the lock).
func TestHubClientsSnapshot(t *testing.T) {
	t.Parallel()
	h := newHub()
	a, b, c := testClient("u", "a"), testClient("u", "b"), testClient("u", "c")
	add(h, a)
	add(h, b)
	add(h, c)
	snap := h.clients("u")
	h.remove(a)
	add(h, testClient("u", "d"))
	if !slices.Equal(snap, []*Client{a, b, c}) {
		t.Errorf("snapshot changed under the reader: %v", snap)
	}
}

func TestHubConcurrent(t *testing.T) {
	t.Parallel()
	h := newHub()
	var wg sync.WaitGroup
	const users, devices = 10, 10
	for u := range users {
		wg.Go(func() {
			var mine []*Client
			for d := range devices {
				cl := testClient(fmt.Sprint("u", u), fmt.Sprint("d", d))
				add(h, cl)
				mine = append(mine, cl)
				_ = h.clients(cl.id.User)
				_ = h.all()
			}
			for _, cl := range mine[:devices/2] {
				h.remove(cl)
			}
		})
	}
	wg.Wait()
	if got, want := h.count(), users*devices/2; got != want || len(h.all()) != want {
		t.Errorf("count = %d, all = %d; want %d", got, len(h.all()), want)
	}
}

// TestHubPerUserLimit: a user at the limit cannot add a device, but a
// device already connected can take over its own slot; other users are
// not affected.
func TestHubPerUserLimit(t *testing.T) {
	t.Parallel()
	h := newHub()
	phone, web := testClient("alice", "phone"), testClient("alice", "web")
	for _, cl := range []*Client{phone, web} {
		if _, _, ok := h.add(cl, 2); !ok {
			t.Fatalf("%s refused below the limit", cl.id.Device)
		}
	}
	if n, replaced, ok := h.add(testClient("alice", "tablet"), 2); ok || n != 2 || replaced != nil {
		t.Fatalf("third device: n %d replaced %v ok %v; want 2, nil, false", n, replaced, ok)
	}
	if h.count() != 2 || len(h.clients("alice")) != 2 {
		t.Fatalf("a refused client was registered: count %d", h.count())
	}
	fresh := testClient("alice", "phone")
	if n, replaced, ok := h.add(fresh, 2); !ok || n != 2 || replaced != phone {
		t.Fatalf("takeover at the limit: n %d replaced %v ok %v; want 2, the old phone, true", n, replaced, ok)
	}
	if _, _, ok := h.add(testClient("bob", "phone"), 2); !ok {
		t.Fatal("another user was refused")
	}
	h.remove(web)
	if _, _, ok := h.add(testClient("alice", "tablet"), 2); !ok {
		t.Fatal("refused after a slot freed")
	}
}

package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// sendErr sends body from user to conv or to and returns the error as a
// client sees it (nil if the send was stored).
func (e *coreEnv) sendErr(from, conv, to string) *protocol.Error {
	e.t.Helper()
	_, err := e.c.Send(e.ctx, Identity{User: from, Device: "d"}, SendRequest{Conv: conv, To: to, Body: "hi"})
	return ToProtocol(err)
}

func samePErr(t *testing.T, what string, got, want *protocol.Error) {
	t.Helper()
	if got == nil || want == nil || *got != *want {
		t.Fatalf("%s: %+v, want exactly %+v", what, got, want)
	}
}

func TestBlockRefusesDirectContactLikeAnUnknownUser(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	conv := e.send("bob", "", "alice").Conv
	old := e.send("bob", conv, "")
	other := e.send("alice", "", "carol").Conv // a direct conversation bob is not in
	g, err := e.c.CreateGroup(e.ctx, Identity{User: "alice", Device: "d"}, "g", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.Block(e.ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	unknownUser := e.sendErr("bob", "", "nobody")
	notMember := e.sendErr("bob", other, "")
	if unknownUser == nil || unknownUser.Code != 404 || notMember == nil || notMember.Code != 404 {
		t.Fatalf("baseline refusals %+v, %+v; want 404s", unknownUser, notMember)
	}
	samePErr(t, "bob to alice by user", e.sendErr("bob", "", "alice"), unknownUser)
	samePErr(t, "bob to alice by conversation", e.sendErr("bob", conv, ""), notMember)
	bob := Identity{User: "bob", Device: "d"}
	_, err = e.c.Edit(e.ctx, bob, conv, old.Seq, "edit-1", "changed")
	samePErr(t, "bob edits his message to alice", ToProtocol(err), notMember)
	samePErr(t, "bob types to alice", ToProtocol(e.c.Typing(e.ctx, bob, conv)), notMember)
	_, err = e.c.Direct(e.ctx, "bob", "alice")
	_, unknownErr := e.c.Direct(e.ctx, "bob", "nobody")
	samePErr(t, "bob opens the conversation with alice", ToProtocol(err), ToProtocol(unknownErr))

	// The blocker is told why: unblock first.
	if err := e.sendErr("alice", conv, ""); err == nil || err.Code != 403 || err.Reason != "blocked" {
		t.Fatalf("alice's send to bob, whom she blocks: %+v, want 403 blocked", err)
	}
	if err := e.sendErr("alice", "", "bob"); err == nil || err.Reason != "blocked" {
		t.Fatalf("alice's send to bob by user: %+v, want 403 blocked", err)
	}
	// Groups are not affected; alice still sees bob's old messages.
	if err := e.sendErr("bob", g.ID, ""); err != nil {
		t.Fatalf("bob's send to a group with alice: %+v", err)
	}
	p, err := e.c.History(e.ctx, "alice", HistoryRequest{Conv: conv})
	if err != nil || len(p.Messages) != 2 {
		t.Fatalf("alice's history of bob: %d messages, %v; want 2", len(p.Messages), err)
	}
	for _, tc := range []struct{ a, b string }{{"alice", "bob"}, {"bob", "alice"}} {
		if b, err := e.c.Blocked(e.ctx, tc.a, tc.b); err != nil || !b {
			t.Fatalf("Blocked(%s, %s) = %v, %v; want true", tc.a, tc.b, b, err)
		}
	}
	if b, _ := e.c.Blocked(e.ctx, "alice", "carol"); b {
		t.Fatal("Blocked(alice, carol) without a block")
	}

	// Unblocking restores at once.
	if err := e.c.Unblock(e.ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := e.sendErr("bob", "", "alice"); err != nil {
		t.Fatalf("bob's send after the unblock: %+v", err)
	}
	if err := e.sendErr("alice", conv, ""); err != nil {
		t.Fatalf("alice's send after the unblock: %+v", err)
	}
	if b, _ := e.c.Blocked(e.ctx, "bob", "alice"); b {
		t.Fatal("still blocked after the unblock")
	}
}

func TestBlockListAndArguments(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{}, func(o *Options) { o.Limits.BlocksPerUser = 2 })
	for _, u := range []string{"carol", "bob", "carol"} { // again: no change
		if err := e.c.Block(e.ctx, "alice", u); err != nil {
			t.Fatal(err)
		}
	}
	l, err := e.c.BlockList(e.ctx, "alice", "", 1)
	if err != nil || len(l.Blocks) != 1 || l.Blocks[0].User != "bob" || l.Next != "bob" || l.Blocks[0].Since == 0 {
		t.Fatalf("first page %+v, %v; want bob with next bob", l, err)
	}
	l, err = e.c.BlockList(e.ctx, "alice", l.Next, 0)
	if err != nil || len(l.Blocks) != 1 || l.Blocks[0].User != "carol" || l.Next != "" {
		t.Fatalf("second page %+v, %v; want carol, no next", l, err)
	}
	if l, _ := e.c.BlockList(e.ctx, "bob", "", 0); len(l.Blocks) != 0 || l.Blocks == nil {
		t.Fatalf("bob's list %+v, want empty (not null)", l)
	}
	if _, err := e.c.CreateUser(e.ctx, "dave", "password", ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user   string
		code   int
		reason string
	}{
		{"dave", 403, "too_many_blocks"},
		{"alice", 400, "bad_request"},
		{"no/body", 400, "bad_request"},
		{"nobody", 404, "not_found"},
	} {
		pe := ToProtocol(e.c.Block(e.ctx, "alice", tc.user))
		if pe == nil || pe.Code != tc.code || pe.Reason != tc.reason {
			t.Errorf("alice blocks %q: %+v, want %d %s", tc.user, pe, tc.code, tc.reason)
		}
	}
	if _, err := e.c.BlockList(e.ctx, "alice", "", 501); !errors.Is(err, ErrBadRequest) {
		t.Errorf("a page of 501: %v", err)
	}
	// Unblocking someone not blocked, or unknown, is no error.
	if err := e.c.Unblock(e.ctx, "alice", "nobody"); err != nil {
		t.Errorf("unblock an unknown user: %v", err)
	}
}

func TestBlockReceiptsAreNotPushed(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	conv := e.send("alice", "", "bob").Conv
	e.send("alice", conv, "")
	ft := newFakeTransport()
	cl, err := e.c.Attach(Identity{User: "alice", Device: "d2"}, ft)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "test over")
	if err := e.c.Block(e.ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	bob := Identity{User: "bob", Device: "d"}
	if _, err := e.c.Read(e.ctx, bob, conv, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Unblock(e.ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Read(e.ctx, bob, conv, 2); err != nil {
		t.Fatal(err)
	}
	// Pushes to one connection keep their order: the first receipt alice
	// gets is the one after the unblock.
	r, ok := ft.next(t, protocol.TypeReceipt).Data.(*protocol.Receipt)
	if !ok || r.Read != 2 {
		t.Fatalf("first receipt %+v, want read 2 (read 1 came while alice blocked bob)", r)
	}
}

// TestBlockCacheInvalidation races sends against blocks: whatever
// interleaving, once Block has returned the next send is refused, and once
// Unblock has returned the next one is stored.
func TestBlockCacheInvalidation(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	conv := e.send("bob", "", "alice").Conv
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = e.c.Blocked(e.ctx, "bob", "alice") // reloads the cache entry
			}
		})
	}
	for i := range 20 {
		if err := e.c.Block(e.ctx, "alice", "bob"); err != nil {
			t.Fatal(err)
		}
		if err := e.sendErr("bob", conv, ""); err == nil || err.Code != 404 {
			t.Fatalf("round %d: send after the block: %+v, want 404", i, err)
		}
		if err := e.c.Unblock(e.ctx, "alice", "bob"); err != nil {
			t.Fatal(err)
		}
		if err := e.sendErr("bob", conv, ""); err != nil {
			t.Fatalf("round %d: send after the unblock: %+v", i, err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestBlockCacheManyEdges: a user with more blocks than an entry keeps is
// checked pair by pair against the store.
func TestBlockCacheManyEdges(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	for i := range maxCachedBlockEdges + 1 {
		u := fmt.Sprint("u", i)
		if _, err := e.c.CreateUser(e.ctx, u, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.Block(e.ctx, u, "bob", 0, e.clock()); err != nil {
			t.Fatal(err)
		}
	}
	ent, err := e.c.blocks.get(e.ctx, "bob")
	if err != nil || !ent.many {
		t.Fatalf("bob's entry %+v, %v; want many", ent, err)
	}
	if b, err := e.c.Blocked(e.ctx, "bob", "u7"); err != nil || !b {
		t.Fatalf("Blocked(bob, u7) = %v, %v", b, err)
	}
	if b, err := e.c.Blocked(e.ctx, "bob", "alice"); err != nil || b {
		t.Fatalf("Blocked(bob, alice) = %v, %v", b, err)
	}
	if err := e.sendErr("bob", "", "u3"); err == nil || err.Code != 404 {
		t.Fatalf("bob's send to u3, who blocks him: %+v", err)
	}
}

// BenchmarkDirectBlockCheck is the block check's cost on a send to a
// direct conversation, the cache warm: what every one-to-one send pays
// (besides the membership check it follows).
func BenchmarkDirectBlockCheck(b *testing.B) {
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "p.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	signer, err := auth.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Options{
		Store: db, Bus: local.New(), Signer: signer,
		Limits: Limits{MaxMessageBytes: 1 << 16, HistoryPageMax: 100, OutboundQueueMessages: 1000, OutboundQueueBytes: 1 << 24},
		Timeouts: Timeouts{AccessTTL: time.Hour, RefreshTTL: 2 * time.Hour, AckFlushInterval: time.Second,
			PresenceCoalesce: time.Second, WriteTimeout: 5 * time.Second},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := c.CreateUser(ctx, u, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	conv, err := c.Direct(ctx, "alice", "bob")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, blocker string }{{"no blocks", ""}, {"blocked by another", "carol"}} {
		name, blocker := tc.name, tc.blocker
		if blocker != "" {
			if err := c.Block(ctx, blocker, "alice"); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.directBlockedIn(ctx, "alice", conv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

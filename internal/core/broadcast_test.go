package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// directsStore counts the calls of EnsureDirects and EnsureDirect.
type directsStore struct {
	store.Store
	ensureDirects, ensureDirect atomic.Int64
}

func (s *directsStore) EnsureDirects(ctx context.Context, user string, peers []store.DirectPeer, now time.Time) ([]string, error) {
	s.ensureDirects.Add(1)
	return s.Store.EnsureDirects(ctx, user, peers, now)
}

func (s *directsStore) EnsureDirect(ctx context.Context, newID, a, b string, now time.Time) (store.Conversation, error) {
	s.ensureDirect.Add(1)
	return s.Store.EnsureDirect(ctx, newID, a, b, now)
}

// newBroadcastEnv is a core whose store counts write transactions
// (txStore) and direct conversations opened, with users u00..u<n-1>.
func newBroadcastEnv(t *testing.T, n int, opts ...func(*Options)) (*coreEnv, *txStore, *directsStore, []string) {
	t.Helper()
	ds := &directsStore{}
	e, ts := newTxEnv(t, append([]func(*Options){func(o *Options) { ds.Store = o.Store; o.Store = ds }}, opts...)...)
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
		if _, err := e.c.CreateUser(e.ctx, users[i], "", ""); err != nil {
			t.Fatal(err)
		}
	}
	return e, ts, ds, users
}

// wantCopy fails unless r is the acknowledgement of a copy of broadcast
// id from sender to r.User: in their direct conversation, at seq.
func wantCopy(t *testing.T, r protocol.BroadcastCopy, sender, id string, seq uint64, dup bool) {
	t.Helper()
	if r.Error != nil || r.Ack == nil {
		t.Fatalf("%s: %+v (error %+v), want a copy", r.User, r, r.Error)
	}
	a := r.Ack
	if a.Conv != DirectID(sender, r.User) || a.Seq != seq || a.ClientMsgID != id+"/"+r.User || a.ID == "" || a.Duplicate != dup {
		t.Fatalf("%s: ack %+v, want the copy %s/%s at seq %d in %s, duplicate %v", r.User, *a, id, r.User, seq, DirectID(sender, r.User), dup)
	}
}

// wantSkipped fails unless r is a skip with the reason.
func wantSkipped(t *testing.T, r protocol.BroadcastCopy, user, reason string) {
	t.Helper()
	if r.User != user || r.Ack != nil || r.Error == nil || r.Error.Reason != reason {
		t.Fatalf("result %+v (error %+v), want %s skipped with %s", r, r.Error, user, reason)
	}
}

// TestBroadcastIsADirectMessageToEach is S9 in the core: one request, one
// message from alice in each recipient's direct conversation with her,
// with its own seq and unread count, live to a connected recipient and to
// alice's other device; the direct conversations missing opened in one
// transaction and the copies committed in one; recipients a send would
// refuse are skipped and reported, each with that send's reason.
func TestBroadcastIsADirectMessageToEach(t *testing.T) {
	t.Parallel()
	e, ts, ds, users := newBroadcastEnv(t, 30)
	ctx := e.ctx
	alice := Identity{User: "alice", Device: "phone"}
	for _, u := range []string{"dave", "erin", "frank", "gina"} {
		if _, err := e.c.CreateUser(ctx, u, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	friends := protocol.InboundFriends
	// carol blocks alice; dave takes friends only and is a stranger; erin
	// takes friends only and is alice's friend; alice blocks frank; gina
	// is deleted; u00 had a direct conversation with alice already.
	if err := e.c.Block(ctx, "carol", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"dave", "erin"} {
		if _, err := e.c.UpdateSettings(ctx, Identity{User: u, Device: "d"}, SettingsUpdate{Inbound: &friends}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.RequestFriend(ctx, alice, "erin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AnswerFriend(ctx, Identity{User: "erin", Device: "d"}, "alice", true); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Block(ctx, "alice", "frank"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteUser(ctx, "gina"); err != nil {
		t.Fatal(err)
	}
	first, err := e.c.Send(ctx, alice, SendRequest{To: "u00", ClientMsgID: "before", Body: "hi u00"})
	if err != nil {
		t.Fatal(err)
	}
	u05 := e.attachResumed("u05", "phone")
	laptop := e.attachResumed("alice", "laptop")

	to := append(slices.Clone(users), "carol", "dave", "erin", "frank", "gina", "nobody", "alice", "u03")
	txBefore, directsBefore := ts.n.Load(), ds.ensureDirect.Load()
	res, err := e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{To: to, ClientMsgID: "new-year", Body: "Happy new year!"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.n.Load() - txBefore; got != 1 {
		t.Errorf("the copies took %d commits, want 1", got)
	}
	if n, one := ds.ensureDirects.Load(), ds.ensureDirect.Load()-directsBefore; n != 1 || one != 0 {
		t.Errorf("direct conversations opened with %d EnsureDirects and %d EnsureDirect, want 1 and 0", n, one)
	}
	if res.ClientMsgID != "new-year" || res.Sent != 31 || res.Stored != 31 || res.Skipped != 6 || len(res.Results) != 37 {
		t.Fatalf("result: sent %d stored %d skipped %d of %d results, want 31, 31, 6 of 37 (u03 once)", res.Sent, res.Stored, res.Skipped, len(res.Results))
	}
	for i, u := range users {
		if res.Results[i].User != u {
			t.Fatalf("result %d is %s, want %s: results keep the order of to", i, res.Results[i].User, u)
		}
		seq := uint64(1)
		if u == "u00" {
			seq = first.Seq + 1
		}
		wantCopy(t, res.Results[i], "alice", "new-year", seq, false)
	}
	wantSkipped(t, res.Results[30], "carol", "not_found")
	wantSkipped(t, res.Results[31], "dave", "not_accepted")
	wantCopy(t, res.Results[32], "alice", "new-year", 1, false) // erin, a friend
	wantSkipped(t, res.Results[33], "frank", "blocked")
	wantSkipped(t, res.Results[34], "gina", "not_found")
	wantSkipped(t, res.Results[35], "nobody", "not_found")
	wantSkipped(t, res.Results[36], "alice", "bad_request")
	if _, err := e.st.Store.Conversation(ctx, DirectID("alice", "carol")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a direct conversation with carol, who blocks alice: %v", err)
	}

	// u05 gets an ordinary direct message from alice, live; alice's
	// laptop gets every copy.
	m := u05.next(t, protocol.TypeMsg).Msg
	if m.From != "alice" || m.Conv != DirectID("alice", "u05") || m.Seq != 1 || m.Body != "Happy new year!" || m.Kind != protocol.KindMessage || m.ClientMsgID != "new-year/u05" {
		t.Fatalf("u05 got %+v", m)
	}
	// alice's laptop gets every copy, read from the store (a page per
	// conversation) rather than 31 queued msg events, before the result.
	got := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for len(got) < 31 {
		select {
		case ev := <-laptop.events:
			switch {
			case ev.Type == protocol.TypeMsg && ev.Msg.ClientMsgID != "before":
				t.Fatalf("alice's laptop got a copy as a queued msg event: %+v", ev.Msg)
			case ev.Type == protocol.TypePage:
				for _, m := range ev.Data.(*protocol.Page).Messages {
					if m.From == "alice" && strings.HasPrefix(m.ClientMsgID, "new-year/") {
						got[m.Conv] = true
					}
				}
			}
		case <-deadline:
			t.Fatalf("alice's laptop got copies in %d conversations, want 31", len(got))
		}
	}
	// Unread: 1 for each recipient, 0 for alice.
	for _, u := range []string{"u05", "u29", "erin"} {
		c, err := e.c.Conversation(ctx, u, DirectID("alice", u))
		if err != nil || c.Unread != 1 {
			t.Errorf("%s's conversation with alice: %+v, %v; want 1 unread", u, c, err)
		}
	}
	if c, _ := e.c.Conversation(ctx, "alice", DirectID("alice", "u05")); c.Unread != 0 {
		t.Errorf("alice has %d unread in her own broadcast's copy", c.Unread)
	}
}

// TestBroadcastRetryStoresOnlyWhatIsMissing: a broadcast of which some
// copies were stored (an attempt that ended between transactions, a crash
// after the commit but before the answer) stores only the others when it
// is retried with the same client_msg_id, and answers the stored ones with
// their acknowledgements; a retry of the whole stores nothing, spends
// nothing and answers the same.
func TestBroadcastRetryStoresOnlyWhatIsMissing(t *testing.T) {
	t.Parallel()
	e, ts, _, users := newBroadcastEnv(t, 10, func(o *Options) {
		o.Broadcasts = BroadcastOptions{MaxRecipients: 10, CopiesPerHour: 10}
	})
	ctx := e.ctx
	alice := Identity{User: "alice", Device: "phone"}
	// The first attempt stored the copies to u00..u03 only.
	partial, err := e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{To: users[:4], ClientMsgID: "b1", Body: "hello"})
	if err != nil || partial.Stored != 4 {
		t.Fatalf("first attempt: %+v, %v", partial, err)
	}
	// 6 copies are left in the budget: the retry of all 10 needs only 6.
	txBefore := ts.n.Load()
	full, err := e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{To: users, ClientMsgID: "b1", Body: "hello"})
	if err != nil {
		t.Fatalf("retry of the whole: %v", err)
	}
	if full.Sent != 10 || full.Stored != 6 || full.Skipped != 0 {
		t.Fatalf("retry: sent %d stored %d skipped %d, want 10, 6, 0", full.Sent, full.Stored, full.Skipped)
	}
	for i := range users {
		wantCopy(t, full.Results[i], "alice", "b1", 1, i < 4)
		if i < 4 && full.Results[i].Ack.ID != partial.Results[i].Ack.ID {
			t.Fatalf("%s: the retry answered %s, first stored %s", users[i], full.Results[i].Ack.ID, partial.Results[i].Ack.ID)
		}
	}
	if got := ts.n.Load() - txBefore; got != 1 {
		t.Errorf("the missing copies took %d commits, want 1", got)
	}
	// Everything stored, the budget spent: a retry still answers, the same,
	// storing and spending nothing.
	txBefore = ts.n.Load()
	again, err := e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{To: users, ClientMsgID: "b1", Body: "hello"})
	if err != nil {
		t.Fatalf("second retry: %v", err)
	}
	if again.Sent != 10 || again.Stored != 0 || ts.n.Load() != txBefore {
		t.Fatalf("second retry: sent %d stored %d, %d commits", again.Sent, again.Stored, ts.n.Load()-txBefore)
	}
	for i := range users {
		if a, b := again.Results[i].Ack, full.Results[i].Ack; a == nil || a.ID != b.ID || a.Seq != b.Seq || !a.Duplicate {
			t.Fatalf("%s: second retry %+v, want %+v as a duplicate", users[i], a, b)
		}
	}
	// One copy each, and nothing else.
	for _, u := range users {
		p, err := e.c.History(ctx, u, HistoryRequest{Conv: DirectID("alice", u)})
		if err != nil || len(p.Messages) != 1 {
			t.Fatalf("%s's conversation with alice holds %d messages (%v), want 1", u, len(p.Messages), err)
		}
	}
	if _, err := e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{To: users[:1], ClientMsgID: "b2", Body: "more"}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a new broadcast with the budget spent: %v, want rate limited", err)
	}
}

// TestConcurrentBroadcastRetriesStoreOnce: two attempts of one broadcast
// at once (a client that retried before its first attempt was answered)
// store each copy once and answer the same acknowledgements.
func TestConcurrentBroadcastRetriesStoreOnce(t *testing.T) {
	t.Parallel()
	e, _, _, users := newBroadcastEnv(t, 20)
	alice := Identity{User: "alice", Device: "phone"}
	var wg sync.WaitGroup
	res := make([]protocol.BroadcastResult, 2)
	errs := make([]error, 2)
	for k := range res {
		wg.Go(func() {
			res[k], errs[k] = e.c.Broadcast(e.ctx, alice, protocol.BroadcastRequest{To: users, ClientMsgID: "twice", Body: "once"})
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if res[0].Stored+res[1].Stored != 20 || res[0].Sent != 20 || res[1].Sent != 20 {
		t.Fatalf("stored %d + %d, sent %d and %d; want 20 stored in all, 20 sent each", res[0].Stored, res[1].Stored, res[0].Sent, res[1].Sent)
	}
	for i, u := range users {
		if a, b := res[0].Results[i].Ack, res[1].Results[i].Ack; a.ID != b.ID || a.Seq != 1 {
			t.Fatalf("%s: %+v and %+v, want one copy at seq 1", u, a, b)
		}
	}
}

// TestBroadcastBudgetIsWhole: a broadcast spends one copy per recipient it
// has not reached yet, all or nothing: one larger than what is left is
// refused whole and stores (and opens) nothing; skipped recipients are
// given back; the budget refills over the hour.
func TestBroadcastBudgetIsWhole(t *testing.T) {
	t.Parallel()
	e, ts, _, users := newBroadcastEnv(t, 20, func(o *Options) {
		o.Broadcasts = BroadcastOptions{MaxRecipients: 10, CopiesPerHour: 10}
	})
	ctx := e.ctx
	alice := Identity{User: "alice", Device: "phone"}
	send := func(id string, to ...string) (protocol.BroadcastResult, error) {
		return e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{To: to, ClientMsgID: id, Body: "hi"})
	}
	if r, err := send("a", users[0:6]...); err != nil || r.Stored != 6 {
		t.Fatalf("6 of 10: %+v, %v", r, err)
	}
	txBefore := ts.n.Load()
	_, err := send("b", users[6:11]...)
	var le *ratelimit.Error
	if !errors.As(err, &le) || le.Limit != ratelimit.LimitBroadcast || le.RetryAfter <= 0 || ToProtocol(err).Code != 429 {
		t.Fatalf("5 with 4 left: %v, want a 429 of the broadcast budget", err)
	}
	if ts.n.Load() != txBefore {
		t.Fatal("a refused broadcast wrote")
	}
	for _, u := range users[6:11] {
		if _, err := e.st.Store.Conversation(ctx, DirectID("alice", u)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused broadcast opened the conversation with %s (%v)", u, err)
		}
	}
	// 4 asked, 2 of them unknown: 2 spent, 2 given back.
	if r, err := send("c", users[6], "ghost1", users[7], "ghost2"); err != nil || r.Stored != 2 || r.Skipped != 2 {
		t.Fatalf("2 users and 2 ghosts: %+v, %v", r, err)
	}
	if r, err := send("d", users[8], users[9]); err != nil || r.Stored != 2 {
		t.Fatalf("the 2 given back: %+v, %v", r, err)
	}
	if _, err := send("e", users[10]); !errors.As(err, &le) {
		t.Fatalf("with nothing left: %v, want refused", err)
	}
	// What was stored is still answered with nothing left.
	if r, err := send("a", users[0:6]...); err != nil || r.Sent != 6 || r.Stored != 0 {
		t.Fatalf("retry of a: %+v, %v", r, err)
	}
	e.advance(6 * time.Minute) // 10 an hour: one more
	if r, err := send("e", users[10]); err != nil || r.Stored != 1 {
		t.Fatalf("after 6 minutes: %+v, %v", r, err)
	}
}

// TestBroadcastRefusesMalformedRequests: what is wrong with the request
// as a whole is refused with 400 and stores nothing.
func TestBroadcastRefusesMalformedRequests(t *testing.T) {
	t.Parallel()
	e, ts, _, users := newBroadcastEnv(t, 3, func(o *Options) { o.Broadcasts = BroadcastOptions{MaxRecipients: 2} })
	alice := Identity{User: "alice", Device: "phone"}
	before := ts.n.Load()
	for _, tc := range []struct {
		r     protocol.BroadcastRequest
		field string
	}{
		{protocol.BroadcastRequest{To: users[:1], Body: "x"}, "client_msg_id"},
		{protocol.BroadcastRequest{To: users[:1], ClientMsgID: "a/b", Body: "x"}, "client_msg_id"},
		{protocol.BroadcastRequest{To: users[:1], ClientMsgID: "x"}, "body"},
		{protocol.BroadcastRequest{ClientMsgID: "x", Body: "x"}, "to"},
		{protocol.BroadcastRequest{To: users[:1], List: "l", ClientMsgID: "x", Body: "x"}, "to"},
		{protocol.BroadcastRequest{To: users, ClientMsgID: "x", Body: "x"}, "to"},
		{protocol.BroadcastRequest{To: []string{"bob", "g_x"}, ClientMsgID: "x", Body: "x"}, "to[1]"},
		{protocol.BroadcastRequest{List: "a/b", ClientMsgID: "x", Body: "x"}, "list"},
	} {
		_, err := e.c.Broadcast(e.ctx, alice, tc.r)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want 400 on %s", tc.r, err, tc.field)
		}
	}
	_, err := e.c.Broadcast(e.ctx, alice, protocol.BroadcastRequest{List: "nope", ClientMsgID: "x", Body: "x"})
	if ToProtocol(err).Code != 404 {
		t.Errorf("to a list alice does not have: %v, want 404", err)
	}
	if ts.n.Load() != before {
		t.Error("a refused broadcast wrote")
	}
}

// TestBroadcastLists: a user's lists, their members and a broadcast to
// one; another user's list is not found; the limits hold.
func TestBroadcastLists(t *testing.T) {
	t.Parallel()
	e, _, _, users := newBroadcastEnv(t, 4, func(o *Options) {
		o.Broadcasts = BroadcastOptions{MaxRecipients: 3, ListsPerUser: 2}
	})
	ctx := e.ctx
	alice := Identity{User: "alice", Device: "phone"}
	l, err := e.c.CreateBroadcastList(ctx, "alice", protocol.BroadcastListCreate{List: "family", Name: "Family", Members: users[:2]})
	if err != nil || l.ID != "family" || l.Name != "Family" || l.Members != 2 || l.Created == 0 {
		t.Fatalf("create family: %+v, %v", l, err)
	}
	gen, err := e.c.CreateBroadcastList(ctx, "alice", protocol.BroadcastListCreate{Name: "Work"})
	if err != nil || gen.ID == "" || ValidateDeviceID(gen.ID) != nil {
		t.Fatalf("create with a generated id: %+v, %v", gen, err)
	}
	if _, err := e.c.CreateBroadcastList(ctx, "alice", protocol.BroadcastListCreate{}); !errors.Is(err, ErrTooManyBroadcastLists) || ToProtocol(err).Reason != "too_many_lists" {
		t.Fatalf("a third list: %v, want too_many_lists", err)
	}
	if _, err := e.c.CreateBroadcastList(ctx, "alice", protocol.BroadcastListCreate{List: "family"}); ToProtocol(err).Code != 409 {
		t.Fatalf("family again: %v, want 409", err)
	}
	var fe *FieldError
	if _, err := e.c.ChangeBroadcastList(ctx, "alice", "family", protocol.BroadcastListChange{Add: []string{"nobody"}}); !errors.As(err, &fe) || fe.Field != "add[0]" {
		t.Fatalf("adding an unknown user: %v, want 400 on add[0]", err)
	}
	if _, err := e.c.ChangeBroadcastList(ctx, "alice", "family", protocol.BroadcastListChange{Add: users[2:4]}); !errors.As(err, &fe) {
		t.Fatalf("a fourth member beyond 3: %v, want 400", err)
	}
	l, err = e.c.ChangeBroadcastList(ctx, "alice", "family", protocol.BroadcastListChange{Add: []string{"bob", users[2]}, Remove: users[:1]})
	if err != nil || l.Members != 3 {
		t.Fatalf("+bob +u02 -u00: %+v, %v", l, err)
	}
	page, err := e.c.BroadcastMembers(ctx, "alice", "family", "", 2)
	if err != nil || !slices.Equal(page.Members, []string{"bob", "u01"}) || page.Next != "u01" {
		t.Fatalf("members, first page of 2: %+v, %v", page, err)
	}
	if page, _ := e.c.BroadcastMembers(ctx, "alice", "family", page.Next, 2); !slices.Equal(page.Members, []string{"u02"}) || page.Next != "" {
		t.Fatalf("members, second page: %+v", page)
	}
	if l, err := e.c.RenameBroadcastList(ctx, "alice", "family", "The family"); err != nil || l.Name != "The family" {
		t.Fatalf("rename: %+v, %v", l, err)
	}
	lists, err := e.c.BroadcastLists(ctx, "alice", "", 1)
	if err != nil || len(lists.Lists) != 1 || lists.Next == "" {
		t.Fatalf("lists, page of 1: %+v, %v", lists, err)
	}
	// bob sees none of it.
	if _, err := e.c.BroadcastList(ctx, "bob", "family"); ToProtocol(err).Code != 404 {
		t.Fatalf("bob reads alice's list: %v", err)
	}
	if _, err := e.c.Broadcast(ctx, Identity{User: "bob", Device: "d"}, protocol.BroadcastRequest{List: "family", ClientMsgID: "x", Body: "x"}); ToProtocol(err).Code != 404 {
		t.Fatalf("bob broadcasts to alice's list: %v", err)
	}

	res, err := e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{List: "family", ClientMsgID: "hi", Body: "hi all"})
	if err != nil || res.List != "family" || res.Sent != 3 || len(res.Results) != 3 || res.Results[0].User != "bob" {
		t.Fatalf("broadcast to family: %+v, %v", res, err)
	}
	if _, err := e.c.Broadcast(ctx, alice, protocol.BroadcastRequest{List: gen.ID, ClientMsgID: "empty", Body: "x"}); !errors.As(err, &fe) || fe.Field != "list" {
		t.Fatalf("to an empty list: %v, want 400", err)
	}
	if err := e.c.DeleteBroadcastList(ctx, "alice", "family"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteBroadcastList(ctx, "alice", "family"); ToProtocol(err).Code != 404 {
		t.Fatalf("delete again: %v", err)
	}
}

// TestBroadcastDoesNotOverflowTheSendersConnections: the sender's own
// connections get the copies of a broadcast larger than their queue
// (sent-sync) without being closed as slow consumers: read from the store
// at the connection's pace, before the result.
func TestBroadcastDoesNotOverflowTheSendersConnections(t *testing.T) {
	t.Parallel()
	e, _, _, users := newBroadcastEnv(t, 40, func(o *Options) { o.Limits.OutboundQueueMessages = 8 })
	alice := Identity{User: "alice", Device: "phone"}
	laptop := e.attachResumed("alice", "laptop")
	tablet := e.attachResumed("alice", "tablet")
	res, err := e.c.Broadcast(e.ctx, alice, protocol.BroadcastRequest{To: users, ClientMsgID: "big", Body: "hi"})
	if err != nil || res.Stored != 40 {
		t.Fatalf("broadcast: %+v, %v", res, err)
	}
	for name, tr := range map[string]*fakeTransport{"laptop": laptop, "tablet": tablet} {
		got := map[string]bool{}
		deadline := time.After(5 * time.Second)
		for len(got) < 40 {
			select {
			case ev := <-tr.events:
				if ev.Type == protocol.TypePage {
					for _, m := range ev.Data.(*protocol.Page).Messages {
						got[m.Conv] = true
					}
				}
			case code := <-tr.closed:
				t.Fatalf("alice's %s was closed with %d after %d copies", name, code, len(got))
			case <-deadline:
				t.Fatalf("alice's %s got %d of 40 copies", name, len(got))
			}
		}
	}
	// Live delivery goes on as before.
	if _, err := e.c.Send(e.ctx, Identity{User: "u07", Device: "d"}, SendRequest{To: "alice", ClientMsgID: "reply", Body: "thanks"}); err != nil {
		t.Fatal(err)
	}
	if m := laptop.next(t, protocol.TypeMsg).Msg; m.From != "u07" || m.Body != "thanks" {
		t.Fatalf("after the broadcast, alice's laptop got %+v", m)
	}
}

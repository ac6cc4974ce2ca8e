package core

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// purgeCounter counts Purge calls and what each deleted.
type purgeCounter struct {
	store.Store
	mu    sync.Mutex
	calls []int
}

func (p *purgeCounter) Purge(ctx context.Context, now time.Time, global time.Duration, limit int) (int, error) {
	n, err := p.Store.Purge(ctx, now, global, limit)
	p.mu.Lock()
	p.calls = append(p.calls, n)
	p.mu.Unlock()
	return n, err
}

// coreEnv is a running Core on a fresh SQLite store with a settable clock
// and users alice, bob and carol (password "password").
type coreEnv struct {
	t    *testing.T
	c    *Core
	st   *purgeCounter
	ctx  context.Context
	path string // the SQLite file

	mu  sync.Mutex
	now time.Time
}

func (e *coreEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *coreEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func newCoreEnv(t *testing.T, r Retention, opts ...func(*Options)) *coreEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := sqlite.Open(path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	signer, err := auth.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &coreEnv{t: t, st: &purgeCounter{Store: db}, ctx: t.Context(), path: path, now: time.UnixMilli(1_767_225_600_000)}
	c, err := newWith(Options{
		Store: e.st, Bus: local.New(), Signer: signer, Now: e.clock, AllowRegistration: true,
		Limits: Limits{MaxMessageBytes: 1 << 16, HistoryPageMax: 100, OutboundQueueMessages: 1000, OutboundQueueBytes: 1 << 24},
		Timeouts: Timeouts{AccessTTL: time.Hour, RefreshTTL: 2 * time.Hour, AckFlushInterval: 10 * time.Millisecond,
			PresenceCoalesce: 10 * time.Millisecond, WriteTimeout: 5 * time.Second},
		Retention: r,
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := c.CreateUser(e.ctx, u, "password", "User "+u); err != nil {
			t.Fatal(err)
		}
	}
	// Let the retention job's first pass (at start, nothing due) finish, so
	// that the tests' own passes do not race with it.
	waitUntil(t, "the first purge pass", 5*time.Second, func() bool {
		e.st.mu.Lock()
		defer e.st.mu.Unlock()
		return len(e.st.calls) > 0
	})
	return e
}

// newWith is New with opts applied to o first.
func newWith(o Options, opts ...func(*Options)) (*Core, error) {
	for _, f := range opts {
		f(&o)
	}
	return New(o)
}

func (e *coreEnv) send(from, conv, to string) protocol.Ack {
	e.t.Helper()
	ack, err := e.c.Send(e.ctx, Identity{User: from, Device: "d"}, SendRequest{Conv: conv, To: to, Body: "hi"})
	if err != nil {
		e.t.Fatalf("send: %v", err)
	}
	return ack
}

// fakeTransport records what the core writes to one connection.
type fakeTransport struct {
	events chan *Event
	closed chan int
	once   sync.Once
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{events: make(chan *Event, 1000), closed: make(chan int, 1)}
}

func (f *fakeTransport) Send(_ context.Context, ev *Event) error {
	f.events <- ev
	return nil
}

func (f *fakeTransport) Close(code int, _ string) {
	f.once.Do(func() { f.closed <- code })
}

// next returns the next event of type typ, skipping others.
func (f *fakeTransport) next(t *testing.T, typ string) *Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-f.events:
			if ev.Type == typ {
				return ev
			}
		case code := <-f.closed:
			t.Fatalf("connection closed with %d waiting for %s", code, typ)
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

// pageSeqs returns the seqs of a page event.
func pageSeqs(t *testing.T, ev *Event) []uint64 {
	t.Helper()
	p, ok := ev.Data.(*protocol.Page)
	if !ok {
		t.Fatalf("page event carries %T", ev.Data)
	}
	var out []uint64
	for _, m := range p.Messages {
		out = append(out, m.Seq)
	}
	return out
}

func TestRetentionPurgesInBatchesAndHistoryStartsAfter(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{MaxAge: time.Hour, CheckInterval: time.Hour, Batch: 2})
	conv := e.send("alice", "", "bob").Conv
	for range 4 {
		e.send("alice", conv, "")
	}
	e.advance(2 * time.Hour)
	e.c.purge(e.ctx)
	e.st.mu.Lock()
	calls := append([]int(nil), e.st.calls...)
	e.st.mu.Unlock()
	// The first pass at start found nothing; then 2 + 2 + 1, the short
	// batch ending the pass.
	if len(calls) != 4 || calls[0] != 0 || calls[1] != 2 || calls[2] != 2 || calls[3] != 1 {
		t.Fatalf("purge calls = %v, want [0 2 2 1]", calls)
	}
	p, err := e.c.History(e.ctx, "bob", HistoryRequest{Conv: conv})
	if err != nil {
		t.Fatal(err)
	}
	if p.StartSeq != 6 || len(p.Messages) != 0 {
		t.Fatalf("history = %+v, want empty from 6", p)
	}
	cv, err := e.c.Conversation(e.ctx, "bob", conv)
	if err != nil {
		t.Fatal(err)
	}
	if cv.StartSeq != 6 || cv.LastSeq != 5 || cv.LastMessage != nil || cv.Unread != 0 {
		t.Fatalf("conversation = %+v", cv)
	}
	if ack := e.send("bob", conv, ""); ack.Seq != 6 {
		t.Fatalf("next seq = %d, want 6", ack.Seq)
	}
	l, err := e.c.Conversations(e.ctx, "alice", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Conversations) != 1 || l.Conversations[0].StartSeq != 6 || l.Conversations[0].LastSeq != 6 {
		t.Fatalf("list = %+v", l)
	}
	// History asked from before the purge starts where history starts.
	p, err = e.c.History(e.ctx, "alice", HistoryRequest{Conv: conv, After: ptr(uint64(1))})
	if err != nil || p.StartSeq != 6 || len(p.Messages) != 1 || p.Messages[0].Seq != 6 {
		t.Fatalf("history after 1 = %+v, %v", p, err)
	}
}

func TestResumeAndCatchUpOverPurgedRange(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{MaxAge: time.Hour, CheckInterval: time.Hour})
	conv := e.send("alice", "", "bob").Conv // 1
	e.send("alice", conv, "")               // 2
	e.send("alice", conv, "")               // 3
	e.advance(90 * time.Minute)
	e.send("alice", conv, "") // 4, young
	e.send("alice", conv, "") // 5
	e.c.purge(e.ctx)

	// A device resuming from 0 (below the purge) gets what remains.
	tr := newFakeTransport()
	cl, err := e.c.Attach(Identity{User: "bob", Device: "tablet"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "test over")
	cl.Resume("r1", map[string]uint64{conv: 0})
	if got := pageSeqs(t, tr.next(t, protocol.TypePage)); len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("resume page = %v, want [4 5]", got)
	}
	res := tr.next(t, protocol.TypeResumed)
	if r, _ := res.Data.(*protocol.Resumed); r == nil || r.Messages != 2 {
		t.Fatalf("resumed = %+v", res.Data)
	}

	// Entries the connection never saw are purged, then a newer one
	// arrives: the gap is filled from the store with what remains.
	for range 3 {
		if _, err := e.st.Append(e.ctx, []store.Append{{Conv: conv, Sender: "alice", Kind: protocol.KindMessage, Body: "unseen"}},
			e.clock()); err != nil {
			t.Fatal(err)
		} // 6, 7, 8: stored, never published
	}
	e.advance(2 * time.Hour)
	e.c.purge(e.ctx)
	ack := e.send("alice", conv, "") // 9
	ev := tr.next(t, protocol.TypePage)
	if got := pageSeqs(t, ev); len(got) != 1 || got[0] != ack.Seq {
		t.Fatalf("catch-up page = %v, want [%d]", got, ack.Seq)
	}
	select {
	case code := <-tr.closed:
		t.Fatalf("connection closed with %d", code)
	default:
	}
}

func TestSetRetentionRoles(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	ctx := e.ctx
	id := func(u string) Identity { return Identity{User: u, Device: "d"} }
	g, err := e.c.CreateGroup(ctx, id("alice"), "g", []string{"bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetRole(ctx, id("alice"), g.ID, "carol", protocol.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	direct := e.send("alice", "", "bob").Conv

	cases := []struct {
		user, conv string
		age        time.Duration
		want       error
	}{
		{"alice", g.ID, 48 * time.Hour, nil}, // owner
		{"carol", g.ID, time.Hour, nil},      // admin
		{"bob", g.ID, time.Hour, store.ErrForbidden},
		{"carol", direct, time.Hour, store.ErrNotFound}, // not a member
		{"bob", direct, time.Minute, nil},
		{"alice", direct, 0, nil},
		{"alice", direct, -time.Second, ErrBadRequest},
		{"alice", direct, 500 * time.Millisecond, ErrBadRequest},
		{"alice", direct, MaxRetention + time.Hour, ErrBadRequest},
		{"alice", "x_bad", time.Hour, ErrBadRequest},
	}
	for _, tc := range cases {
		cv, err := e.c.SetRetention(ctx, id(tc.user), tc.conv, tc.age)
		if tc.want != nil {
			if !errors.Is(err, tc.want) {
				t.Errorf("%s sets %v on %s: %v, want %v", tc.user, tc.age, tc.conv, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s sets %v on %s: %v", tc.user, tc.age, tc.conv, err)
			continue
		}
		if cv.ID != tc.conv || cv.MaxAge != int64(tc.age/time.Second) {
			t.Errorf("%s sets %v: conversation %+v", tc.user, tc.age, cv)
		}
	}
	cv, err := e.c.Conversation(ctx, "bob", g.ID)
	if err != nil || cv.MaxAge != 3600 {
		t.Fatalf("group after the admin's setting = %+v, %v", cv, err)
	}
}

func TestDeleteUserClosesAndErases(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	ctx := e.ctx
	tok, err := e.c.Login(ctx, "alice", "password", "phone")
	if err != nil {
		t.Fatal(err)
	}
	aliceID, err := e.c.Authenticate(ctx, tok.AccessToken, "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.c.CreateGroup(ctx, aliceID, "g", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	direct := e.send("alice", "", "bob").Conv
	e.send("alice", g.ID, "")

	exp, err := e.c.ExportUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if exp.User.ID != "alice" || exp.User.DisplayName != "User alice" || len(exp.Devices) != 1 ||
		exp.Devices[0].ID != "phone" || len(exp.Conversations) != 2 {
		t.Fatalf("export = %+v", exp)
	}
	var sent []protocol.Message
	if err := exp.Messages(ctx, func(m *protocol.Message) error { sent = append(sent, *m); return nil }); err != nil {
		t.Fatal(err)
	}
	// The group's creation event, and one message in each conversation.
	if len(sent) != 3 {
		t.Fatalf("exported messages = %+v", sent)
	}
	for _, m := range sent {
		if m.From != "alice" {
			t.Fatalf("exported someone else's message: %+v", m)
		}
	}

	aliceTr, bobTr := newFakeTransport(), newFakeTransport()
	if _, err := e.c.Attach(aliceID, aliceTr); err != nil {
		t.Fatal(err)
	}
	bob, err := e.c.Attach(Identity{User: "bob", Device: "phone"}, bobTr)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close(protocol.CloseShutdown, "test over")
	bob.Resume("r", nil)
	bobTr.next(t, protocol.TypeResumed)

	if err := e.c.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-aliceTr.closed:
		if code != protocol.CloseRevoked {
			t.Fatalf("alice's connection closed with %d, want %d", code, protocol.CloseRevoked)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("alice's connection was not closed")
	}
	// Bob sees alice leave the group (and become its owner).
	var actions []string
	for len(actions) < 2 {
		ev := bobTr.next(t, protocol.TypeMsg)
		if ev.Msg.Conv == g.ID && ev.Msg.Kind == protocol.KindMember {
			actions = append(actions, ev.Msg.Member.Action)
		}
	}
	if actions[0] != protocol.MemberRole || actions[1] != protocol.MemberLeft {
		t.Fatalf("bob saw %v", actions)
	}
	if ok, _ := e.c.members.isMember(ctx, direct, "alice"); ok {
		t.Fatal("the member cache still has alice")
	}
	if _, err := e.c.Authenticate(ctx, tok.AccessToken, ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("old token: %v", err)
	}
	if _, err := e.c.Login(ctx, "alice", "password", "phone"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("login: %v", err)
	}
	if _, err := e.c.Register(ctx, "alice", "new password", ""); !errors.Is(err, store.ErrExists) {
		t.Fatalf("register: %v", err)
	}
	if _, err := e.c.Refresh(ctx, tok.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("refresh: %v", err)
	}
	if err := e.c.SetDisabled(ctx, "alice", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("enable: %v", err)
	}
	if _, err := e.c.Direct(ctx, "bob", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AddMember(ctx, Identity{User: "bob", Device: "phone"}, g.ID, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("adding the deleted user: %v", err)
	}
	p, err := e.c.History(ctx, "bob", HistoryRequest{Conv: direct})
	if err != nil || len(p.Messages) != 1 || !p.Messages[0].Deleted || p.Messages[0].Body != "" || p.Messages[0].Seq != 1 {
		t.Fatalf("bob's history = %+v, %v", p, err)
	}
	if err := e.c.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	if err := e.c.DeleteUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting nobody: %v", err)
	}
	if _, err := e.c.ExportUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("exporting nobody: %v", err)
	}
	us, err := e.c.ListUsers(ctx, "", 10)
	if err != nil || len(us) != 3 || !us[0].Deleted || us[0].DisplayName != "" {
		t.Fatalf("users = %+v, %v", us, err)
	}
}

func ptr[T any](v T) *T { return &v }

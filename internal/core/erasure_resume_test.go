package core

import (
	"context"
	"fmt"
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

// heldSteps holds every EraseStep until released, and says when the first
// one was asked for: a test can attach a live connection before the core
// resumes an erasure.
type heldSteps struct {
	store.Store
	once    sync.Once
	asked   chan struct{}
	release chan struct{}
}

func (h *heldSteps) EraseStep(ctx context.Context, user string, now time.Time) ([]protocol.Message, bool, error) {
	h.once.Do(func() { close(h.asked) })
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	return h.Store.EraseStep(ctx, user, now)
}

// TestRunResumesInterruptedErasure: an erasure stopped by a crash after
// its tombstone transaction and first step (the store's BeginErasure and
// one EraseStep, called directly) is finished by the next core when it
// starts, without anyone calling DeleteUser again: nothing stays pending,
// every body of alice's is gone, she is out of every conversation, the
// group gets its hand-over and "left" events, which a member connected
// before the resume receives live, and the unread counts of the others
// no longer count her messages.
func TestRunResumesInterruptedErasure(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "p.db")
	quiet := sqlite.Options{Logger: slog.New(slog.DiscardHandler)}
	now := time.UnixMilli(1_767_225_600_000)

	// Before the crash: alice owns a group with bob and carol, talks to
	// bob directly and to 70 others, more conversations than one step
	// finishes; the group and the direct conversation with bob sort last.
	db, err := sqlite.Open(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	first := db
	t.Cleanup(func() { first.Close() })
	users := []string{"alice", "bob", "carol"}
	for i := range 70 {
		users = append(users, fmt.Sprintf("p%02d", i))
	}
	for _, u := range users {
		if err := db.CreateUser(ctx, store.User{ID: u, DisplayName: u, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	const group, direct = "g_team", "d_zbob"
	if _, err := db.CreateGroup(ctx, store.Conversation{ID: group, Kind: protocol.ConvGroup, Name: "team", CreatedBy: "alice", CreatedAt: now},
		[]store.Member{{User: "alice", Role: protocol.RoleOwner}, {User: "bob", Role: protocol.RoleMember}, {User: "carol", Role: protocol.RoleMember}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnsureDirect(ctx, direct, "alice", "bob", now); err != nil {
		t.Fatal(err)
	}
	n := 0
	send := func(conv, from string) {
		t.Helper()
		n++
		res, err := db.Append(ctx, []store.Append{{Conv: conv, Sender: from, ClientMsgID: fmt.Sprint("c", n),
			Kind: protocol.KindMessage, ContentType: "text/plain", Body: "secret of " + from}}, now)
		if err != nil || res[0].Err != nil {
			t.Fatalf("append: %v %+v", err, res)
		}
	}
	// Carol never sends (sending reads what is before it): everything in
	// the group is unread for her, 8 messages of alice's and 4 of bob's.
	// Bob's last send in each conversation is followed by alice's: one
	// message unread for him in the group, two in the direct one.
	const bobInGroup = 4
	for i := range 12 {
		send(group, []string{"alice", "bob", "alice"}[i%3])
	}
	for _, from := range []string{"alice", "bob", "alice", "bob", "alice", "alice"} {
		send(direct, from)
	}
	if u, err := db.Unread(ctx, group, "carol", 0); err != nil || u != 12 {
		t.Fatalf("before: carol's unread = %d, %v; want 12", u, err)
	}
	for i := range 70 {
		d := fmt.Sprintf("d_p%02d", i)
		if _, err := db.EnsureDirect(ctx, d, "alice", fmt.Sprintf("p%02d", i), now); err != nil {
			t.Fatal(err)
		}
		send(d, "alice")
	}

	if err := db.BeginErasure(ctx, "alice", now); err != nil {
		t.Fatal(err)
	}
	if _, done, err := db.EraseStep(ctx, "alice", now); err != nil || done {
		t.Fatalf("first step: done=%v, %v; want more to do", done, err)
	}
	if _, err := db.Member(ctx, group, "alice"); err != nil {
		t.Fatalf("the first step took alice out of the group already (%v): the test needs more conversations before it", err)
	}
	// The crash: what the store committed is what the next start finds.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The next start.
	db, err = sqlite.Open(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if p, err := db.PendingErasures(ctx); err != nil || len(p) != 1 || p[0] != "alice" {
		t.Fatalf("PendingErasures after the crash = %v, %v", p, err)
	}
	held := &heldSteps{Store: db, asked: make(chan struct{}), release: make(chan struct{})}
	signer, err := auth.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{
		Store: held, Bus: local.New(), Signer: signer, Now: func() time.Time { return now.Add(time.Minute) },
		Limits: Limits{MaxMessageBytes: 1 << 16, HistoryPageMax: 100, OutboundQueueMessages: 1000, OutboundQueueBytes: 1 << 24},
		Timeouts: Timeouts{AccessTTL: time.Hour, RefreshTTL: 2 * time.Hour, AckFlushInterval: 10 * time.Millisecond,
			PresenceCoalesce: 10 * time.Millisecond, WriteTimeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("run: %v", err)
		}
	})

	// Bob's device is connected and resumed before the erasure goes on.
	bobTr := newFakeTransport()
	bob, err := c.Attach(Identity{User: "bob", Device: "phone"}, bobTr)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close(protocol.CloseShutdown, "test over")
	bob.Resume("r", nil)
	bobTr.next(t, protocol.TypeResumed)
	select {
	case <-held.asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the core did not resume the pending erasure within 10 s of starting")
	}
	// Until the erasure goes on, alice's messages still count.
	for _, u := range []struct {
		user, conv string
		want       int
	}{{"carol", group, 12}, {"bob", group, 1}, {"bob", direct, 2}} {
		if cv, err := c.Conversation(ctx, u.user, u.conv); err != nil || cv.Unread != u.want {
			t.Fatalf("before: %s's conversation %s = %+v, %v; want %d unread", u.user, u.conv, cv, err, u.want)
		}
	}
	close(held.release)

	// Bob sees alice hand the group over to him and leave, live.
	var actions []string
	for len(actions) < 2 {
		ev := bobTr.next(t, protocol.TypeMsg)
		if ev.Conv == group && ev.Msg.Kind == protocol.KindMember {
			actions = append(actions, ev.Msg.Member.Action+":"+ev.Msg.Member.User)
		}
	}
	if actions[0] != "role:bob" || actions[1] != "left:alice" {
		t.Fatalf("bob saw %v in the group, want [role:bob left:alice]", actions)
	}

	waitUntil(t, "the resumed erasure to end", 10*time.Second, func() bool {
		p, err := db.PendingErasures(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(p) == 0
	})
	kept, after := 0, protocol.Message{}
	for {
		page, err := db.SentMessages(ctx, "alice", after.Conv, after.Seq, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			if m.Kind == protocol.KindMessage && (!m.Deleted || m.Body != "" || len(m.Payload) != 0) {
				kept++
				t.Logf("kept: %+v", m)
			}
		}
		if len(page) < 50 {
			break
		}
		after = page[len(page)-1]
	}
	if kept != 0 {
		t.Fatalf("%d messages of alice kept their bodies", kept)
	}
	for _, conv := range []string{group, direct, "d_p00", "d_p69"} {
		if _, err := db.Member(ctx, conv, "alice"); err == nil {
			t.Errorf("alice is still a member of %s", conv)
		}
	}
	ms, err := c.Members(ctx, "carol", group)
	if err != nil || len(ms) != 2 || ms[0].User != "bob" || ms[0].Role != protocol.RoleOwner {
		t.Fatalf("group members = %+v, %v", ms, err)
	}
	// What the others see: tombstones in place, and their unread counts
	// without alice's messages.
	p, err := c.History(ctx, "bob", HistoryRequest{Conv: direct})
	if err != nil || len(p.Messages) != 6 {
		t.Fatalf("bob's history of %s = %+v, %v", direct, p, err)
	}
	for _, m := range p.Messages {
		if mine := m.From == "bob"; mine == (m.Deleted || m.Body == "") {
			t.Fatalf("bob's history of %s: %+v", direct, m)
		}
	}
	l, err := c.Conversations(ctx, "carol", "", 10)
	if err != nil || len(l.Conversations) != 1 || l.Conversations[0].Unread != bobInGroup || l.TotalUnread != bobInGroup {
		t.Fatalf("carol's conversations = %+v, %v; want %d unread (bob's messages)", l, err, bobInGroup)
	}
	for _, conv := range []string{group, direct} {
		if cv, err := c.Conversation(ctx, "bob", conv); err != nil || cv.Unread != 0 {
			t.Fatalf("bob's conversation %s = %+v, %v; want nothing unread", conv, cv, err)
		}
	}
}

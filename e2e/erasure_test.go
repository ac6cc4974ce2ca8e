package e2e

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// erasureChat is alice in a group with bob and carol ("team", which she
// owns; seq 1 is its creation) and in a direct conversation with bob,
// everyone having written. Sending reads what is before it: in the group
// bob has carol's message and two of alice's unread, carol two of
// alice's; in the direct conversation bob has two of alice's unread.
type erasureChat struct {
	group, direct string
	aliceToken    string
	// last is the seq of each conversation's last entry.
	last map[string]uint64
}

func newErasureChat(t *testing.T, s *server) erasureChat {
	t.Helper()
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	ctx := ctxT(t)
	alice, bob, carol := s.login("alice", "phone"), s.login("bob", "laptop"), s.login("carol", "laptop")
	g, err := alice.CreateGroup(ctx, "team", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]uint64{}
	say := func(api *parley.API, conv, to, body string) string {
		t.Helper()
		ack, err := api.Send(ctx, conv, parley.SendOptions{To: to, Body: body})
		if err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
		last[ack.Conv] = ack.Seq
		return ack.Conv
	}
	say(alice, g.ID, "", "group secret 1")
	say(bob, g.ID, "", "bob in the group")
	say(carol, g.ID, "", "carol in the group")
	say(alice, g.ID, "", "group secret 2")
	say(alice, g.ID, "", "group secret 3")
	d := say(alice, "", "bob", "direct secret 1")
	say(bob, d, "", "bob in the direct")
	say(alice, d, "", "direct secret 2")
	say(alice, d, "", "direct secret 3")
	return erasureChat{group: g.ID, direct: d, aliceToken: alice.Token, last: last}
}

// unreadState is what convs reports to a user about two conversations.
type unreadState struct {
	group, direct, total int
}

// checkedUnread returns what convs over WebSocket reports to c about the
// chat's conversations, after checking it against the user's history as
// docs/protocol.md 2.6 defines unread: entries above the read position (or
// the joined seq), of kind msg, not deleted, not the user's own.
func checkedUnread(t *testing.T, c *parley.Client, ch erasureChat) unreadState {
	t.Helper()
	ctx := ctxT(t)
	l, err := c.Conversations(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var st unreadState
	st.total = l.TotalUnread
	sum := 0
	for _, cv := range l.Conversations {
		sum += cv.Unread
		if cv.ID != ch.group && cv.ID != ch.direct {
			continue
		}
		p, err := c.History(ctx, cv.ID, parley.HistoryOptions{Limit: 100})
		if err != nil || p.More {
			t.Fatalf("history of %s: more=%v, %v", cv.ID, p.More, err)
		}
		from := max(cv.ReadSeq, p.StartSeq-1)
		counted := 0
		for _, m := range p.Messages {
			if m.Seq > from && m.Kind == protocol.KindMessage && !m.Deleted && m.From != c.User() {
				counted++
			}
		}
		if cv.Unread != counted {
			t.Fatalf("%s: convs says %d unread in %s, its history %d (read_seq %d): %+v", c.User(), cv.Unread, cv.ID, counted, cv.ReadSeq, p.Messages)
		}
		if cv.ID == ch.group {
			st.group = cv.Unread
		} else {
			st.direct = cv.Unread
		}
	}
	if sum != l.TotalUnread {
		t.Fatalf("%s: total_unread %d, the conversations' sum %d", c.User(), l.TotalUnread, sum)
	}
	return st
}

// checkTombstones checks that api's history of conv shows every message
// of alice's without its body and payload, and the others' untouched.
func checkTombstones(t *testing.T, api *parley.API, conv string) {
	t.Helper()
	p, err := api.History(ctxT(t), conv, parley.HistoryOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	alices := 0
	for i, m := range p.Messages {
		if i > 0 && m.Seq != p.Messages[i-1].Seq+1 {
			t.Fatalf("history of %s has a gap: %+v", conv, p.Messages)
		}
		if m.Kind != protocol.KindMessage {
			continue
		}
		if m.From == "alice" {
			alices++
			if !m.Deleted || m.Body != "" || len(m.Payload) != 0 {
				t.Fatalf("alice's message is not a tombstone in %s: %+v", conv, m)
			}
		} else if m.Deleted || m.Body == "" {
			t.Fatalf("%s's message changed in %s: %+v", m.From, conv, m)
		}
	}
	if alices == 0 {
		t.Fatalf("history of %s shows no message of alice's: %+v", conv, p.Messages)
	}
}

// awaitLeft reads c's messages until the group's hand-over to bob and
// alice's "left", in that order, and returns them; other messages (the
// group's creation among them) are skipped.
func awaitLeft(t *testing.T, c *parley.Client, group string) []protocol.Message {
	t.Helper()
	var got []protocol.Message
	deadline := time.After(15 * time.Second)
	for len(got) < 2 {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("%s's messages ended waiting for alice to leave", c.User())
			}
			if m.Conv == group && m.Kind == protocol.KindMember &&
				m.Member.Action != protocol.MemberCreated && m.Member.Action != protocol.MemberAdded {
				got = append(got, m)
			}
		case <-deadline:
			t.Fatalf("%s saw %+v of alice's leaving within 15 s", c.User(), got)
		}
	}
	if r, l := got[0], got[1]; r.Member.Action != protocol.MemberRole || r.Member.User != "bob" || r.Member.Role != protocol.RoleOwner ||
		l.Member.Action != protocol.MemberLeft || l.Member.User != "alice" || l.From != "alice" || l.Seq != r.Seq+1 {
		t.Fatalf("%s saw %+v, want the hand-over to bob then alice's left", c.User(), got)
	}
	return got
}

// checkGone checks that alice can neither log in nor take her id again,
// and that her export shows no membership and only tombstones.
func checkGone(t *testing.T, s *server) {
	t.Helper()
	ctx := ctxT(t)
	api := &parley.API{BaseURL: s.URL}
	if _, err := api.Login(ctx, "alice", "password-alice", "phone"); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("login after deletion: %v, want 401", err)
	}
	if _, err := api.Register(ctx, "alice", "long enough pw", "Alice again"); !isCode(err, protocol.CodeConflict) {
		t.Fatalf("registering the id again: %v, want 409", err)
	}
	e := exportUser(t, s, "alice")
	if !e.User.Deleted || len(e.Devices) != 0 || len(e.Conversations) != 0 {
		t.Fatalf("export after deletion = %+v", e)
	}
	for _, m := range e.Messages {
		if m.Kind == protocol.KindMessage && (!m.Deleted || m.Body != "" || len(m.Payload) != 0) {
			t.Fatalf("exported after deletion: %+v", m)
		}
	}
}

// The admin deletes alice while bob is connected and carol is not: bob
// gets the hand-over and alice's "left" live, carol when she comes back
// and resumes; their histories keep every seq with alice's messages as
// tombstones, their unread counts drop her messages and stay what convs
// and history agree on; alice can neither log in nor be registered again.
func TestDeleteUserLiveAndOnResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, slowPings) // dialToken holds a raw connection
	ch := newErasureChat(t, s)
	ctx := ctxT(t)
	aliceConn := s.dialToken(ch.aliceToken)
	bob := s.dial("bob", "phone")
	carol := s.dial("carol", "phone")
	// Both devices take everything in; then carol's goes away.
	for _, c := range []*parley.Client{bob, carol} {
		waitFor(t, c.User()+"'s device to receive both conversations", 10*time.Second, func() bool {
			pos := c.Positions()
			return pos[ch.group] >= ch.last[ch.group] && (c.User() == "carol" || pos[ch.direct] >= ch.last[ch.direct])
		})
	}
	carol.Close()

	bobBefore, carolBefore := checkedUnread(t, bob, ch), unreadState{}
	if bobBefore.group != 3 || bobBefore.direct != 2 {
		t.Fatalf("bob's unread before = %+v, want 3 in the group and 2 in the direct", bobBefore)
	}
	carolAPI := s.login("carol", "tablet")
	if l, err := carolAPI.Conversations(ctx); err != nil || len(l.Conversations) != 1 {
		t.Fatalf("carol's conversations: %+v, %v", l, err)
	} else {
		carolBefore.group, carolBefore.total = l.Conversations[0].Unread, l.TotalUnread
	}

	if status, body := httpDo(t, "DELETE", s.URL+"/v1/admin/users/alice", adminKey, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	waitClosed(t, aliceConn, protocol.CloseRevoked)
	awaitLeft(t, bob, ch.group)

	bobAPI := s.login("bob", "laptop")
	checkTombstones(t, bobAPI, ch.group)
	checkTombstones(t, bobAPI, ch.direct)
	bobAfter := checkedUnread(t, bob, ch)
	if bobAfter.group != bobBefore.group-2 || bobAfter.direct != 0 || bobAfter.total != bobBefore.total-4 {
		t.Fatalf("bob's unread: before %+v, after %+v; want alice's 2 + 2 gone", bobBefore, bobAfter)
	}
	ms, err := bobAPI.Members(ctx, ch.group)
	if err != nil || len(ms) != 2 || ms[0].User != "bob" || ms[0].Role != protocol.RoleOwner || ms[1].User != "carol" {
		t.Fatalf("group members = %+v, %v", ms, err)
	}
	checkGone(t, s)

	// Carol's device comes back and resumes from the positions the server
	// has of it: the hand-over and "left" follow; whatever of alice's it
	// is sent again is a tombstone.
	var (
		mu   sync.Mutex
		seen []protocol.Message
	)
	carol = s.dial("carol", "phone", func(o *parley.Options) {
		o.Trace = &parley.Trace{Received: func(m protocol.Message) { mu.Lock(); seen = append(seen, m); mu.Unlock() }}
	})
	awaitLeft(t, carol, ch.group)
	mu.Lock()
	for _, m := range seen {
		if m.From == "alice" && m.Kind == protocol.KindMessage && (!m.Deleted || m.Body != "") {
			t.Errorf("carol's resume sent alice's message with its body: %+v", m)
		}
	}
	mu.Unlock()
	carolAfter := checkedUnread(t, carol, ch)
	if carolBefore.group != 2 || carolAfter.group != 0 || carolAfter.total != carolBefore.total-2 {
		t.Fatalf("carol's unread: before %+v, after %+v; want alice's 2 gone", carolBefore, carolAfter)
	}
}

// An erasure interrupted after its first transaction (the tombstone, which
// the DELETE's caller may already have been told about) is finished when
// the server starts again: the members get the hand-over and "left", the
// bodies go, and alice is gone as after an uninterrupted DELETE.
//
// The state is made by stopping the server and running the store's
// BeginErasure on its file: a SIGKILL of the binary during a DELETE would
// leave the same state, but where between the erasure's transactions it
// lands cannot be controlled from outside, so it would not test this
// deterministically.
func TestErasureResumesAfterRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	ch := newErasureChat(t, s)
	bob := s.dial("bob", "phone")
	waitFor(t, "bob's device to receive both conversations", 10*time.Second, func() bool {
		pos := bob.Positions()
		return pos[ch.group] >= ch.last[ch.group] && pos[ch.direct] >= ch.last[ch.direct]
	})
	bobBefore := checkedUnread(t, bob, ch)
	bob.Close()
	s.stop()

	db, err := sqlite.Open(s.cfg.SQLitePath(), sqlite.Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := db.BeginErasure(ctx, "alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	if p, err := db.PendingErasures(ctx); err != nil || len(p) != 1 || p[0] != "alice" {
		t.Fatalf("PendingErasures = %v, %v", p, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s = startWith(t, s.cfg)
	bob = s.dial("bob", "phone")
	awaitLeft(t, bob, ch.group)
	bobAPI := s.login("bob", "laptop")
	// The hand-over and "left" are appended by the last step of the group;
	// the direct conversation may be cleared after them.
	waitFor(t, "alice's export to show no conversation", 10*time.Second, func() bool {
		return len(exportUser(t, s, "alice").Conversations) == 0
	})
	checkTombstones(t, bobAPI, ch.group)
	checkTombstones(t, bobAPI, ch.direct)
	checkGone(t, s)
	bobAfter := checkedUnread(t, bob, ch)
	if bobAfter.group != bobBefore.group-2 || bobAfter.direct != 0 || bobAfter.total != bobBefore.total-4 {
		t.Fatalf("bob's unread: before %+v, after %+v; want alice's 2 + 2 gone", bobBefore, bobAfter)
	}
	// Nothing is pending once the server is stopped again.
	s.stop()
	db, err = sqlite.Open(s.cfg.SQLitePath(), sqlite.Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if p, err := db.PendingErasures(ctx); err != nil || len(p) != 0 {
		t.Fatalf("PendingErasures after the restart = %v, %v", p, err)
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// setRetention calls PATCH /v1/conversations/{conv}/retention.
func setRetention(t *testing.T, s *server, token, conv string, maxAge any) (int, protocol.Conversation) {
	t.Helper()
	status, body := httpDo(t, "PATCH", s.URL+"/v1/conversations/"+conv+"/retention", token, map[string]any{"max_age": maxAge})
	var c protocol.Conversation
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatalf("retention response %s: %v", body, err)
		}
	}
	return status, c
}

// historyStartsAt waits until conv's history, as api's user sees it, starts
// at start and holds n messages.
func historyStartsAt(t *testing.T, api *parley.API, conv string, start uint64, n int) protocol.Page {
	t.Helper()
	var p protocol.Page
	waitFor(t, "history to start at the purge", 10*time.Second, func() bool {
		var err error
		p, err = api.History(ctxT(t), conv, parley.HistoryOptions{})
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		return p.StartSeq == start && len(p.Messages) == n
	})
	return p
}

func TestRetentionPurgesOldMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Retention.MaxAge = time.Second
		c.Retention.CheckInterval = 100 * time.Millisecond
	})
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	alice := s.login("alice", "phone")
	bob := s.login("bob", "phone")

	// A group that keeps its messages for an hour: its own setting
	// overrides the global second. Only owners and admins may set it.
	g, err := alice.CreateGroup(ctx, "kept", "bob") // seq 1
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := setRetention(t, s, bob.Token, g.ID, "1h"); status != http.StatusForbidden {
		t.Fatalf("a plain member sets the retention: %d, want 403", status)
	}
	if status, c := setRetention(t, s, alice.Token, g.ID, "1h"); status != http.StatusOK || c.MaxAge != 3600 || c.ID != g.ID {
		t.Fatalf("owner sets the retention: %d %+v", status, c)
	}
	if _, err := alice.Send(ctx, g.ID, parley.SendOptions{Body: "kept"}); err != nil { // seq 2
		t.Fatal(err)
	}
	// Sent after the group's message, so the purge that takes these would
	// have taken that one too, were it not for the group's own setting.
	var d string
	for _, body := range []string{"old 1", "old 2", "old 3"} {
		ack, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: body})
		if err != nil {
			t.Fatal(err)
		}
		d = ack.Conv
	}
	p := historyStartsAt(t, bob, d, 4, 0)
	if p.More {
		t.Fatalf("empty history says more: %+v", p)
	}
	status, body := httpDo(t, "GET", s.URL+"/v1/conversations/"+d, bob.Token, nil)
	var cv protocol.Conversation
	if status != http.StatusOK || json.Unmarshal(body, &cv) != nil || cv.StartSeq != 4 || cv.LastSeq != 3 || cv.LastMessage != nil {
		t.Fatalf("conversation after the purge: %d %s", status, body)
	}
	kept, err := bob.History(ctx, g.ID, parley.HistoryOptions{})
	if err != nil || kept.StartSeq != 1 || len(kept.Messages) != 2 || kept.Messages[1].Body != "kept" {
		t.Fatalf("the group's history = %+v, %v", kept, err)
	}

	// Keep the direct conversation's new messages for the rest of the test
	// (either member of a direct conversation may, here in seconds).
	if status, c := setRetention(t, s, bob.Token, d, 3600); status != http.StatusOK || c.MaxAge != 3600 || c.StartSeq != 4 {
		t.Fatalf("bob sets the retention: %d %+v", status, c)
	}
	// New messages continue the sequence: seqs are never reused.
	for i, want := range []uint64{4, 5} {
		ack, err := alice.Send(ctx, d, parley.SendOptions{Body: "new"})
		if err != nil {
			t.Fatal(err)
		}
		if ack.Seq != want {
			t.Fatalf("new message %d got seq %d, want %d", i, ack.Seq, want)
		}
	}
	p, err = bob.History(ctx, d, parley.HistoryOptions{})
	if err != nil || p.StartSeq != 4 || len(p.Messages) != 2 || p.Messages[0].Seq != 4 || p.Messages[1].Seq != 5 {
		t.Fatalf("history after new messages = %+v, %v", p, err)
	}
	p, err = bob.History(ctx, d, parley.HistoryOptions{After: parley.Seq(1)})
	if err != nil || p.StartSeq != 4 || len(p.Messages) != 2 {
		t.Fatalf("history after seq 1 = %+v, %v", p, err)
	}

	// A device resuming from before the purge gets what remains, no error.
	tablet := s.dial("bob", "tablet", func(o *parley.Options) { o.Positions = map[string]uint64{d: 1} })
	if got := seqsIn(t, tablet, d, 2); got[0] != 4 || got[1] != 5 {
		t.Fatalf("resumed device got seqs %v, want [4 5]", got)
	}
	event(t, tablet, protocol.TypeResumed, 5*time.Second, nil)
	if err := tablet.Err(); err != nil {
		t.Fatalf("resumed device: %v", err)
	}
	// Live delivery goes on after the gap.
	if _, err := alice.Send(ctx, d, parley.SendOptions{Body: "live"}); err != nil {
		t.Fatal(err)
	}
	if got := seqsIn(t, tablet, d, 1); got[0] != 6 {
		t.Fatalf("live message has seq %d, want 6", got[0])
	}

	// 0 returns to the global second: the rest goes too.
	if status, c := setRetention(t, s, alice.Token, d, "0s"); status != http.StatusOK || c.MaxAge != 0 {
		t.Fatalf("reset the retention: %d %+v", status, c)
	}
	historyStartsAt(t, bob, d, 7, 0)
	if ack, err := alice.Send(ctx, d, parley.SendOptions{Body: "after"}); err != nil || ack.Seq != 7 {
		t.Fatalf("send after a full purge: %+v, %v", ack, err)
	}
}

func TestRetentionOfOneConversation(t *testing.T) {
	t.Parallel()
	// The global setting keeps everything; one conversation asks for a
	// second.
	s := startServer(t, func(c *config.Config) { c.Retention.CheckInterval = 100 * time.Millisecond })
	s.user("alice")
	s.user("bob")
	s.user("carol")
	ctx := ctxT(t)
	alice := s.login("alice", "phone")
	carol := s.login("carol", "phone")
	kept, err := alice.Send(ctx, "", parley.SendOptions{To: "carol", Body: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: "fleeting"})
	if err != nil {
		t.Fatal(err)
	}
	d := ack.Conv
	for _, bad := range []any{"soon", -5, 1.5, "-1s", "200ms", nil} {
		if status, _ := setRetention(t, s, alice.Token, d, bad); status != http.StatusBadRequest {
			t.Fatalf("max_age %v: %d, want 400", bad, status)
		}
	}
	if status, _ := setRetention(t, s, carol.Token, d, 1); status != http.StatusNotFound {
		t.Fatalf("a non-member sets the retention: %d, want 404", status)
	}
	if status, c := setRetention(t, s, alice.Token, d, 1); status != http.StatusOK || c.MaxAge != 1 {
		t.Fatalf("set one second: %d %+v", status, c)
	}
	historyStartsAt(t, alice, d, 2, 0)
	// The other conversation was older and is kept.
	p, err := carol.History(ctx, kept.Conv, parley.HistoryOptions{})
	if err != nil || p.StartSeq != 1 || len(p.Messages) != 1 {
		t.Fatalf("the other conversation = %+v, %v", p, err)
	}
}

// seqsIn reads c's messages until n of conv arrived and returns their seqs.
func seqsIn(t *testing.T, c *parley.Client, conv string, n int) []uint64 {
	t.Helper()
	var got []uint64
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("messages closed after %v of %s", got, conv)
			}
			if m.Conv == conv {
				got = append(got, m.Seq)
			}
		case <-deadline:
			t.Fatalf("got %v of conversation %s within 10s, want %d messages", got, conv, n)
		}
	}
	return got
}

// export is the document of GET /v1/admin/users/{user}/export.
type export struct {
	User          protocol.User           `json:"user"`
	Devices       []protocol.Device       `json:"devices"`
	Conversations []protocol.Conversation `json:"conversations"`
	Messages      []protocol.Message      `json:"messages"`
}

// exportUser fetches and strictly decodes an export.
func exportUser(t *testing.T, s *server, user string) export {
	t.Helper()
	status, body := httpDo(t, "GET", s.URL+"/v1/admin/users/"+user+"/export", adminKey, nil)
	if status != http.StatusOK {
		t.Fatalf("export %s: %d %s", user, status, body)
	}
	if !json.Valid(body) {
		t.Fatalf("export is not valid JSON: %s", body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e export
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("export %s: %v", body, err)
	}
	return e
}

func TestDeleteUserAndExport(t *testing.T) {
	t.Parallel()
	s := startServer(t, slowPings) // dialToken holds a raw connection
	s.user("alice")
	s.user("bob")
	s.user("carol")
	ctx := ctxT(t)
	alice := s.login("alice", "phone")
	aliceConn := s.dialToken(alice.Token)
	bobC := s.dial("bob", "phone")

	a1, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: "secret 1", Payload: json.RawMessage(`{"k":"v"}`)})
	if err != nil {
		t.Fatal(err)
	}
	d := a1.Conv
	if _, err := bobC.Send(ctx, parley.SendOptions{Conv: d, Body: "reply"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, d, parley.SendOptions{Body: "secret 2"}); err != nil {
		t.Fatal(err)
	}
	g, err := alice.CreateGroup(ctx, "team", "bob", "carol") // seq 1: its creation
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, g.ID, parley.SendOptions{Body: "group secret"}); err != nil { // seq 2
		t.Fatal(err)
	}

	// The export: profile, devices, memberships, every message she sent.
	e := exportUser(t, s, "alice")
	if e.User.ID != "alice" || e.User.Deleted || e.User.CreatedAt == 0 {
		t.Fatalf("exported user = %+v", e.User)
	}
	if len(e.Devices) != 1 || e.Devices[0].ID != "phone" {
		t.Fatalf("exported devices = %+v", e.Devices)
	}
	convs := map[string]bool{}
	for _, c := range e.Conversations {
		convs[c.ID] = true
		if c.LastMessage != nil {
			t.Fatalf("export names another's last message: %+v", c)
		}
	}
	if len(convs) != 2 || !convs[d] || !convs[g.ID] {
		t.Fatalf("exported conversations = %+v", e.Conversations)
	}
	bodies := map[string]bool{}
	for _, m := range e.Messages {
		if m.From != "alice" {
			t.Fatalf("export has another user's message: %+v", m)
		}
		bodies[m.Body] = true
	}
	// Two direct messages, the group's creation event and its message.
	if len(e.Messages) != 4 || !bodies["secret 1"] || !bodies["secret 2"] || !bodies["group secret"] {
		t.Fatalf("exported messages = %+v", e.Messages)
	}
	if status, _ := httpDo(t, "GET", s.URL+"/v1/admin/users/alice/export", "wrong-key", nil); status != http.StatusUnauthorized {
		t.Fatalf("export with a wrong key: %d", status)
	}
	if status, _ := httpDo(t, "GET", s.URL+"/v1/admin/users/nobody/export", adminKey, nil); status != http.StatusNotFound {
		t.Fatalf("export of an unknown user: %d", status)
	}

	// Delete: her connection closes with 3502.
	if status, body := httpDo(t, "DELETE", s.URL+"/v1/admin/users/alice", alice.Token, nil); status != http.StatusUnauthorized {
		t.Fatalf("delete with a user token: %d %s", status, body)
	}
	if status, body := httpDo(t, "DELETE", s.URL+"/v1/admin/users/alice", adminKey, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	waitClosed(t, aliceConn, protocol.CloseRevoked)

	// Bob sees her messages as tombstones in place; his own is untouched.
	p, err := s.login("bob", "laptop").History(ctx, d, parley.HistoryOptions{})
	if err != nil || len(p.Messages) != 3 || p.StartSeq != 1 {
		t.Fatalf("bob's history = %+v, %v", p, err)
	}
	for i, m := range p.Messages {
		if m.Seq != uint64(i+1) {
			t.Fatalf("history seqs moved: %+v", p.Messages)
		}
		mine := m.From == "bob"
		if mine && (m.Deleted || m.Body != "reply") {
			t.Fatalf("bob's message changed: %+v", m)
		}
		if !mine && (m.From != "alice" || !m.Deleted || m.Body != "" || len(m.Payload) != 0) {
			t.Fatalf("alice's message is not a tombstone: %+v", m)
		}
	}
	// In the group bob learns that she left, after being made owner.
	var actions []string
	deadline := time.After(10 * time.Second)
	for len(actions) < 2 {
		select {
		case m := <-bobC.Messages():
			if m.Conv == g.ID && m.Kind == protocol.KindMember && m.Seq > 2 {
				actions = append(actions, m.Member.Action+":"+m.Member.User)
			}
		case <-deadline:
			t.Fatalf("bob saw %v in the group", actions)
		}
	}
	if actions[0] != "role:bob" || actions[1] != "left:alice" {
		t.Fatalf("bob saw %v", actions)
	}
	ms, err := s.login("carol", "phone").Members(ctx, g.ID)
	if err != nil || len(ms) != 2 || ms[0].User != "bob" || ms[0].Role != protocol.RoleOwner {
		t.Fatalf("group members = %+v, %v", ms, err)
	}

	// She can neither log in nor be registered again; her token is dead.
	api := &parley.API{BaseURL: s.URL}
	if _, err := api.Login(ctx, "alice", "password-alice", "phone"); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("login after deletion: %v, want 401", err)
	}
	if _, err := api.Register(ctx, "alice", "long enough pw", "New Alice"); !isCode(err, protocol.CodeConflict) {
		t.Fatalf("re-registering the id: %v, want 409", err)
	}
	if status, _ := httpDo(t, "POST", s.URL+"/v1/admin/users", adminKey,
		map[string]string{"user": "alice", "password": "long enough pw"}); status != http.StatusConflict {
		t.Fatalf("admin re-creates the id: %d, want 409", status)
	}
	if status, _ := httpDo(t, "GET", s.URL+"/v1/me", alice.Token, nil); status != http.StatusUnauthorized {
		t.Fatalf("old token: %d, want 401", status)
	}
	if status, _ := httpDo(t, "POST", s.URL+"/v1/admin/users/alice/enable", adminKey, nil); status != http.StatusNotFound {
		t.Fatalf("enabling a deleted user: %d, want 404", status)
	}

	// Deleting again is fine; an unknown user is 404.
	if status, _ := httpDo(t, "DELETE", s.URL+"/v1/admin/users/alice", adminKey, nil); status != http.StatusNoContent {
		t.Fatalf("delete again: %d", status)
	}
	if status, _ := httpDo(t, "DELETE", s.URL+"/v1/admin/users/nobody", adminKey, nil); status != http.StatusNotFound {
		t.Fatalf("delete unknown: %d", status)
	}

	// What is left of her: a tombstone that keeps the id.
	e = exportUser(t, s, "alice")
	if !e.User.Deleted || e.User.DisplayName != "" || len(e.Devices) != 0 || len(e.Conversations) != 0 {
		t.Fatalf("export after deletion = %+v", e)
	}
	for _, m := range e.Messages {
		if m.Kind == protocol.KindMessage && (!m.Deleted || m.Body != "" || len(m.Payload) != 0) {
			t.Fatalf("exported after deletion: %+v", m)
		}
	}
	if len(e.Messages) != 6 { // the four, and the hand-over and "left" in the group
		t.Fatalf("exported after deletion: %d messages", len(e.Messages))
	}
	status, body := httpDo(t, "GET", s.URL+"/v1/admin/users", adminKey, nil)
	var list struct {
		Users []protocol.User `json:"users"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Users) != 3 || !list.Users[0].Deleted {
		t.Fatalf("admin user list: %d %s", status, body)
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// TestRemovedDuringResumeGetsNothingAfter: a member removed while a device
// of theirs is in the middle of resuming a large backlog receives the
// backlog up to their removal and nothing said after it; once re-added,
// only what follows the re-adding, however the device asks (DESIGN.md
// §2.13, docs/protocol.md §2.11).
func TestRemovedDuringResumeGetsNothingAfter(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		// The paused client answers no pings while it does not read.
		c.Timeouts.PingInterval, c.Timeouts.PongTimeout = time.Minute, time.Minute
	})
	s.user("alice")
	s.user("bob")
	alice := s.login("alice", "laptop")
	ctx := ctxT(t)
	g, err := alice.CreateGroup(ctx, "team", "bob")
	if err != nil {
		t.Fatal(err)
	}
	// About 10 MB of backlog: more than the server's socket buffer (4 MiB
	// at most here) and the paused client's, so the server is still
	// writing it when bob is removed.
	const backlog = 160
	filler := strings.Repeat("x", s.cfg.Limits.MaxMessageBytes-64)
	for i := range backlog {
		if _, err := alice.Send(ctx, g.ID, parley.SendOptions{Body: fmt.Sprintf("backlog %d %s", i, filler)}); err != nil {
			t.Fatal(err)
		}
	}

	// bob's device: a socket with a small receive buffer that the test
	// reads only when it wants to.
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	bob, resp := wsrHandshakeWith(t, s, d, nil, false)
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	bob.send(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: s.login("bob", "phone").Token})
	bob.send(protocol.Request{ID: "resume", Op: protocol.OpResume})
	var seen []protocol.Message
	// Read until the first page of the group: the resume is under way.
	for len(seen) == 0 {
		f, err := bob.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, framedMessages(t, f.Payload)...)
	}

	// Removed, and the group talks on without bob.
	if _, err := alice.RemoveMember(ctx, g.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := alice.Send(ctx, g.ID, parley.SendOptions{Body: fmt.Sprintf("secret %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A marker in a conversation bob still has: everything before it on
	// bob's connection has been sent once it arrives.
	marker := func(body string) {
		if _, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	marker("marker 1")
	go bob.reader()
	seen = append(seen, readUntilBody(t, bob, "marker 1")...)
	checkNoSecrets(t, seen)
	removal := false
	n := 0
	for _, m := range seen {
		if m.Conv == g.ID && strings.HasPrefix(m.Body, "backlog ") {
			n++
		}
		if m.Conv == g.ID && m.Kind == protocol.KindMember && m.Member.User == "bob" && m.Member.Action == protocol.MemberRemoved {
			removal = true
		}
	}
	if n != backlog || !removal {
		t.Fatalf("bob got %d of %d backlog messages, his removal: %v", n, backlog, removal)
	}

	// Re-added: only what follows, live and on a repeated resume that
	// names a position from before everything.
	if _, err := alice.AddMember(ctx, g.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, g.ID, parley.SendOptions{Body: "welcome back"}); err != nil {
		t.Fatal(err)
	}
	marker("marker 2")
	again := readUntilBody(t, bob, "marker 2")
	checkNoSecrets(t, again)
	bob.send(protocol.Request{ID: "resume2", Op: protocol.OpResume, Positions: map[string]uint64{g.ID: 0}})
	var resumed []protocol.Message
	for {
		f := bob.next()
		if f.Type == protocol.TypeResumed && f.ID == "resume2" {
			break
		}
		b, _ := json.Marshal(f)
		resumed = append(resumed, framedMessages(t, b)...)
	}
	checkNoSecrets(t, resumed)
	for _, m := range resumed {
		if m.Conv == g.ID && strings.HasPrefix(m.Body, "backlog ") {
			t.Fatalf("a resume from position 0 after the re-adding sent %q, from before it", m.Body[:12])
		}
	}
	welcome := false
	for _, m := range append(again, resumed...) {
		welcome = welcome || m.Body == "welcome back"
	}
	if !welcome {
		t.Fatal("bob never got the message sent after his re-adding")
	}
}

// framedMessages returns the messages of a msg or page frame.
func framedMessages(t *testing.T, frame []byte) []protocol.Message {
	t.Helper()
	var f protocol.Frame
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatalf("frame: %v", err)
	}
	switch f.Type {
	case protocol.TypeMsg:
		var m protocol.Message
		if err := json.Unmarshal(f.Data, &m); err != nil {
			t.Fatal(err)
		}
		return []protocol.Message{m}
	case protocol.TypePage:
		var p protocol.Page
		if err := json.Unmarshal(f.Data, &p); err != nil {
			t.Fatal(err)
		}
		return p.Messages
	}
	return nil
}

// readUntilBody reads c's frames until a message with body arrives and
// returns the messages read.
func readUntilBody(t *testing.T, c *wsrConn, body string) []protocol.Message {
	t.Helper()
	var out []protocol.Message
	for {
		f := c.next()
		b, _ := json.Marshal(f)
		ms := framedMessages(t, b)
		out = append(out, ms...)
		for _, m := range ms {
			if m.Body == body {
				return out
			}
		}
	}
}

func checkNoSecrets(t *testing.T, ms []protocol.Message) {
	t.Helper()
	for _, m := range ms {
		if strings.HasPrefix(m.Body, "secret ") {
			t.Fatalf("a removed member received %q (seq %d), said after the removal", m.Body, m.Seq)
		}
	}
}

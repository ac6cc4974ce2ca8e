package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// checkRun checks that msgs are conv's messages from..to, in order, once.
func checkRun(t *testing.T, msgs []protocol.Message, conv string, from, to uint64) {
	t.Helper()
	if uint64(len(msgs)) != to-from+1 {
		t.Fatalf("got %d messages, want seq %d..%d", len(msgs), from, to)
	}
	for i, m := range msgs {
		if m.Conv != conv || m.Seq != from+uint64(i) {
			t.Fatalf("message %d: conv %s seq %d, want %s seq %d", i, m.Conv, m.Seq, conv, from+uint64(i))
		}
	}
}

// S4: a device that was offline resumes exactly after what it acknowledged,
// on a new connection, with no gap and no duplicate; acks are cumulative and
// belong to the device, whatever connection made them.
func TestResumeAfterAckedPosition(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	alice := s.dial("alice", "phone")
	var conv string
	for i := 1; i <= 40; i++ {
		ack, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: fmt.Sprint("m", i)})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	// Bob's phone comes online (first time: it starts at his read position, 0),
	// reads 25 and acks them, then drops.
	bob := s.dial("bob", "phone", func(o *parley.Options) { o.ManualAck = true })
	got := recv(t, bob, 40, 10*time.Second)
	checkRun(t, got, conv, 1, 40)
	if err := bob.Ack(ctx, conv, 25); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	// More arrive while Bob is away.
	for i := 41; i <= 60; i++ {
		if _, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A new connection of the same device (no client-side positions) resumes
	// right after seq 25.
	again := s.dial("bob", "phone")
	checkRun(t, recv(t, again, 35, 10*time.Second), conv, 26, 60)
	noMessage(t, again, 200*time.Millisecond)
	e := event(t, again, protocol.TypeResumed, 5*time.Second, nil)
	if e.Resumed.Messages != 35 {
		t.Fatalf("resume reported %d messages, want 35", e.Resumed.Messages)
	}
}

// S4: positions survive a server restart, and a brand-new device of the
// user starts at the user's read position and can page older history.
func TestResumeAcrossRestartAndNewDevice(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	s := startWith(t, cfg)
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	alice := s.dial("alice", "phone")
	var conv string
	for i := 1; i <= 30; i++ {
		ack, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: fmt.Sprint("m", i)})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	bob := s.dial("bob", "phone")
	checkRun(t, recv(t, bob, 30, 10*time.Second), conv, 1, 30)
	if _, err := bob.Read(ctx, conv, 20); err != nil {
		t.Fatal(err)
	}
	bob.Close() // flushes its automatic acks (up to 30)
	alice.Close()
	waitFor(t, "bob's acks to reach the server", 5*time.Second, func() bool {
		ms, err := s.login("bob", "probe").Members(ctx, conv)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.User == "bob" {
				return m.DeliveredSeq == 30
			}
		}
		return false
	})
	s.stop()

	s2 := startWith(t, cfg)
	alice2 := s2.dial("alice", "phone")
	for i := 31; i <= 35; i++ {
		if _, err := alice2.Send(ctx, parley.SendOptions{To: "bob", Body: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	bobAgain := s2.dial("bob", "phone")
	checkRun(t, recv(t, bobAgain, 5, 10*time.Second), conv, 31, 35)
	noMessage(t, bobAgain, 200*time.Millisecond)

	// A brand-new device starts at the read position (20).
	fresh := s2.dial("bob", "tablet")
	checkRun(t, recv(t, fresh, 15, 10*time.Second), conv, 21, 35)
	older, err := fresh.History(ctx, conv, parley.HistoryOptions{Before: parley.Seq(21), Limit: 300})
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, older.Messages, conv, 1, 20)
}

// A device offline while 10,000 messages arrive in 100 conversations
// resumes all of them, in seq order per conversation.
func TestResumeManyConversations(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("hub")
	const convs, per = 100, 100
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	senders := make([]*parley.Client, convs)
	for i := range senders {
		name := fmt.Sprintf("u%02d", i)
		s.user(name)
		senders[i] = s.dial(name, "d")
	}
	var wg sync.WaitGroup
	errs := make(chan error, convs)
	for _, c := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := c.Send(ctx, parley.SendOptions{To: "hub", Body: "x"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	hub := s.dial("hub", "d")
	got := recv(t, hub, convs*per, 2*time.Minute)
	next := map[string]uint64{}
	for _, m := range got {
		if m.Seq != next[m.Conv]+1 {
			t.Fatalf("conv %s: seq %d after %d", m.Conv, m.Seq, next[m.Conv])
		}
		next[m.Conv] = m.Seq
	}
	if len(next) != convs {
		t.Fatalf("resumed %d conversations, want %d", len(next), convs)
	}
	noMessage(t, hub, 200*time.Millisecond)
}

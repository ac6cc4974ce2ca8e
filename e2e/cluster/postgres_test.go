package cluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testinfra/sdkwait"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// hostileBody must come back byte for byte from PostgreSQL: a NUL and
// backslash escapes that bytea input would decode. (Invalid UTF-8 cannot
// cross JSON; the store's conformance suite stores it.)
const hostileBody = "x \\x41 \\\\ \x00 \u202e y"

// A node on PostgreSQL (store.driver: postgres, the in-process bus) keeps
// what it acknowledged across a restart: a device that was connected
// resumes with no gap and no repeat, history and unread are exact, and
// bodies are byte-exact.
func TestSingleNodeOnPostgresAcrossARestart(t *testing.T) {
	t.Parallel()
	cfg := nodeConfig(t, pg.NewDatabase(t))
	n := startNode(t, cfg)
	n.user("alice")
	n.user("bob")
	bob := n.dial("bob", "phone")
	alice := n.login("alice", "web")
	ctx := ctxT(t)

	var conv string
	for i := 1; i <= 3; i++ {
		ack, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: fmt.Sprint(hostileBody, i), ClientMsgID: fmt.Sprint("a-", i)})
		if err != nil || ack.Seq != uint64(i) {
			t.Fatalf("send %d: %+v, %v", i, ack, err)
		}
		conv = ack.Conv
	}
	for i, m := range sdkwait.Messages(t, bob, 3, 10*time.Second) {
		if m.Seq != uint64(i+1) || m.Body != fmt.Sprint(hostileBody, i+1) || m.From != "alice" {
			t.Fatalf("bob's message %d: %+v", i, m)
		}
	}

	// The same node again, on the same database and address.
	n.stop()
	cfg.HTTP.Addr = n.URL[len("http://"):]
	n = startNode(t, cfg)
	alice = n.login("alice", "web")
	for i := 4; i <= 5; i++ {
		if ack, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: fmt.Sprint(hostileBody, i), ClientMsgID: fmt.Sprint("a-", i)}); err != nil || ack.Seq != uint64(i) || ack.Conv != conv {
			t.Fatalf("send %d after the restart: %+v, %v", i, ack, err)
		}
	}
	// A retry of a message stored before the restart stores nothing.
	if ack, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: "again", ClientMsgID: "a-2"}); err != nil || ack.Seq != 2 {
		t.Fatalf("retry of a-2: %+v, %v", ack, err)
	}
	for i, m := range sdkwait.Messages(t, bob, 2, 20*time.Second) {
		if m.Seq != uint64(i+4) || m.Body != fmt.Sprint(hostileBody, i+4) {
			t.Fatalf("bob's message after the restart %d: %+v", i, m)
		}
	}
	select {
	case m := <-bob.Messages():
		t.Fatalf("bob got a message more: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}

	bobAPI := n.login("bob", "web")
	page, err := bobAPI.History(ctx, conv, parley.HistoryOptions{})
	if err != nil || len(page.Messages) != 5 {
		t.Fatalf("history: %d messages, %v", len(page.Messages), err)
	}
	for i, m := range page.Messages {
		if m.Seq != uint64(i+1) || m.Body != fmt.Sprint(hostileBody, i+1) {
			t.Fatalf("history %d: %+v", i, m)
		}
	}
	if n := unread(t, bobAPI, conv); n != 5 {
		t.Fatalf("bob's unread = %d, want 5", n)
	}
	if _, err := bobAPI.Read(ctx, conv, 4); err != nil {
		t.Fatal(err)
	}
	if n := unread(t, bobAPI, conv); n != 1 {
		t.Fatalf("bob's unread after reading up to 4 = %d, want 1", n)
	}
}

// Two nodes on one database write into one group at once: the group's
// seqs stay gap-free and in one order, every client message id is stored
// once (a retry through the other node returns the first acknowledgement),
// and each node reads what the other wrote.
func TestNodesWritingOneConversationAtOnce(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	a := startNode(t, nodeConfig(t, dsn))
	b := startNode(t, nodeConfig(t, dsn))
	senders := []string{"s0", "s1", "s2", "s3"}
	for _, u := range senders {
		a.user(u)
	}
	ctx := ctxT(t)
	group, err := a.login("s0", "web").CreateGroup(ctx, "hot", senders[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	const perSender = 15
	type sent struct {
		cmid string
		ack  protocol.Ack
	}
	results := make([][]sent, len(senders))
	errs := make([]error, len(senders))
	var wg sync.WaitGroup
	for i, u := range senders {
		apis := []*parley.API{a.login(u, "a"), b.login(u, "b")}
		wg.Go(func() {
			for k := range perSender {
				cmid := fmt.Sprintf("%s-%d", u, k)
				ack, err := apis[k%2].Send(ctx, group.ID, parley.SendOptions{Body: cmid, ClientMsgID: cmid})
				if err != nil {
					errs[i] = fmt.Errorf("%s: %w", cmid, err)
					return
				}
				results[i] = append(results[i], sent{cmid, ack})
				if k%5 == 4 {
					// The same message again, through the other node.
					again, err := apis[(k+1)%2].Send(ctx, group.ID, parley.SendOptions{Body: cmid, ClientMsgID: cmid})
					if err != nil || again.ID != ack.ID || again.Seq != ack.Seq {
						errs[i] = fmt.Errorf("retry of %s: %+v (first %+v), %v", cmid, again, ack, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Read through the other node: every seq from 1 to the last, each
	// client message id once, at the seq its acknowledgement said.
	var all []protocol.Message
	reader := b.login("s1", "reader")
	var after uint64
	for {
		page, err := reader.History(ctx, group.ID, parley.HistoryOptions{After: &after, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Messages...)
		if len(page.Messages) == 0 || !page.More {
			break
		}
		after = page.Messages[len(page.Messages)-1].Seq
	}
	bySeq := map[uint64]protocol.Message{}
	byCmid := map[string]uint64{}
	for i, m := range all {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d: the seqs have a gap or a repeat", i, m.Seq)
		}
		bySeq[m.Seq] = m
		if m.Kind == protocol.KindMessage {
			if _, dup := byCmid[m.Body]; dup {
				t.Fatalf("%s stored twice", m.Body)
			}
			byCmid[m.Body] = m.Seq
		}
	}
	if len(byCmid) != len(senders)*perSender {
		t.Fatalf("%d messages stored, want %d", len(byCmid), len(senders)*perSender)
	}
	for _, rs := range results {
		for _, r := range rs {
			if m := bySeq[r.ack.Seq]; m.Body != r.cmid || m.ID != r.ack.ID {
				t.Fatalf("%s acknowledged at seq %d, which holds %+v", r.cmid, r.ack.Seq, m)
			}
		}
	}
	// Conflicts are counted (how many there were depends on the timing).
	for name, n := range map[string]*node{"a": a, "b": b} {
		if v := n.metric("parley_store_retries_total"); v < 0 {
			t.Fatalf("node %s: parley_store_retries_total %v", name, v)
		} else {
			t.Logf("node %s: %v write transactions run again", name, v)
		}
	}
}

// unread is the user's unread count in conv from the conversation list.
func unread(t *testing.T, api *parley.API, conv string) int {
	t.Helper()
	l, err := api.Conversations(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range l.Conversations {
		if c.ID == conv {
			return int(c.Unread)
		}
	}
	t.Fatalf("%s is not in the list %+v", conv, l)
	return 0
}

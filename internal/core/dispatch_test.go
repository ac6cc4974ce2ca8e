package core

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/protocol"
)

// stuckBus is a bus of several nodes whose publishes block until the test
// ends, as a broker that stopped answering would.
type stuckBus struct {
	*local.Bus
	release chan struct{}
	mu      sync.Mutex
	blocked int
}

func (b *stuckBus) SingleNode() bool { return false }

func (b *stuckBus) Publish(ctx context.Context, m bus.Message) error {
	b.mu.Lock()
	b.blocked++
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return b.Bus.Publish(ctx, m)
}

// TestCommitsDoNotWaitForPublishing: with the bus stuck, sends are still
// committed and acknowledged one after another (DESIGN.md §2.14: the
// committer only commits; publishing waits in the dispatcher).
func TestCommitsDoNotWaitForPublishing(t *testing.T) {
	sb := &stuckBus{Bus: local.New(), release: make(chan struct{})}
	e := newCoreEnv(t, Retention{}, func(o *Options) {
		o.Bus = sb
		o.Timeouts.WriteTimeout = time.Minute // a publish would hold a commit for this long
	})
	t.Cleanup(func() { close(sb.release) }) // before the core stops
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := e.c.Send(ctx, Identity{User: "alice", Device: "d"}, SendRequest{To: "bob", Body: "hi"}); err != nil {
			t.Fatalf("send %d while the bus is stuck: %v", i, err)
		}
	}
	waitUntil(t, "a publish to the stuck bus", 10*time.Second, func() bool {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		return sb.blocked > 0
	})
}

// TestMemberCacheKeepsOnlyRealConversations: ids a client makes up are
// looked up but never cached, so probes cannot evict real entries.
func TestMemberCacheKeepsOnlyRealConversations(t *testing.T) {
	e := newCoreEnv(t, Retention{})
	ack := e.send("alice", "", "bob")
	mc := e.c.members
	for i := range 100 {
		if ids, err := mc.get(e.ctx, fmt.Sprintf("g_probe%d", i)); err != nil || len(ids) != 0 {
			t.Fatalf("probe %d: %v %v", i, ids, err)
		}
	}
	if ids, err := mc.get(e.ctx, ack.Conv); err != nil || len(ids) != 2 {
		t.Fatalf("members of %s: %v %v", ack.Conv, ids, err)
	}
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	if len(mc.m) != 1 {
		t.Fatalf("the cache holds %d entries after 100 probes and one real conversation, want 1", len(mc.m))
	}
}

// TestOwnCopyIsQueuedBeforeTheAck: a sender is answered only after its
// message was fanned out to this node, so its own connection gets the
// copy before the acknowledgement a gateway queues on the answer (and a
// batching transport writes the two together).
func TestOwnCopyIsQueuedBeforeTheAck(t *testing.T) {
	e := newCoreEnv(t, Retention{})
	first := e.send("alice", "", "bob")
	ft := newFakeTransport()
	id := Identity{User: "alice", Device: "d"}
	cl, err := e.c.Attach(id, ft)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "done")
	cl.Resume("r", nil)
	for ev := range ft.events {
		if ev.Type == protocol.TypeResumed {
			break
		}
	}
	for i := range 20 {
		ack, err := e.c.Send(e.ctx, id, SendRequest{Conv: first.Conv, Body: "hi", ClientMsgID: fmt.Sprint("own-", i)})
		if err != nil {
			t.Fatal(err)
		}
		cl.Reply(fmt.Sprint("ack-", i), protocol.TypeAck, &ack) // what a gateway does with the answer
		ev := <-ft.events
		if ev.Type != protocol.TypeMsg || ev.Seq != ack.Seq {
			t.Fatalf("send %d: the connection got %s (seq %d) before its own copy of seq %d", i, ev.Type, ev.Seq, ack.Seq)
		}
		if ev := <-ft.events; ev.Type != protocol.TypeAck {
			t.Fatalf("send %d: after the copy came %s, want the ack", i, ev.Type)
		}
	}
}

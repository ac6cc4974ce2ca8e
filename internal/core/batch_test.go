package core

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
)

// batchingTransport is a Batcher that records Hold, Flush and each event;
// the Send of an event with ID "gate" waits until gate is closed.
type batchingTransport struct {
	mu   sync.Mutex
	log  []string
	gate chan struct{}
	sent chan struct{} // one per Send
}

func (b *batchingTransport) record(s string) {
	b.mu.Lock()
	b.log = append(b.log, s)
	b.mu.Unlock()
}

func (b *batchingTransport) Send(_ context.Context, ev *Event) error {
	if ev.ID == "gate" {
		<-b.gate
	}
	b.record("send " + ev.ID)
	b.sent <- struct{}{}
	return nil
}

func (b *batchingTransport) Close(int, string) {}
func (b *batchingTransport) Hold()             { b.record("hold") }
func (b *batchingTransport) Flush() error      { b.record("flush"); return nil }

// TestWriterHoldsRuns: events queued while the writer is busy are written
// in one held run (Hold, the events, Flush), and a resume inside a run is
// not held.
func TestWriterHoldsRuns(t *testing.T) {
	t.Parallel()
	e := newCoreEnv(t, Retention{})
	tr := &batchingTransport{gate: make(chan struct{}), sent: make(chan struct{}, 100)}
	cl, err := e.c.Attach(Identity{User: "bob", Device: "tablet"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "test over")
	wait := func(n int) {
		t.Helper()
		for i := range n {
			select {
			case <-tr.sent:
			case <-time.After(5 * time.Second):
				t.Fatalf("only %d of %d events written", i, n)
			}
		}
	}
	// take returns the log once the run has been flushed.
	take := func() string {
		deadline := time.Now().Add(5 * time.Second)
		for {
			tr.mu.Lock()
			done := len(tr.log) > 0 && tr.log[len(tr.log)-1] == "flush"
			if done || time.Now().After(deadline) {
				got := fmt.Sprint(tr.log)
				tr.log = nil
				tr.mu.Unlock()
				return got
			}
			tr.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}
	// The gate event blocks in Send; e1 and e2 queue behind it.
	for _, id := range []string{"gate", "e1", "e2"} {
		cl.Enqueue(&Event{Type: protocol.TypeTyping, ID: id})
	}
	close(tr.gate)
	wait(3)
	if got, want := take(), "[hold send gate send e1 send e2 flush]"; got != want {
		t.Fatalf("writer wrote %s, want %s", got, want)
	}

	// A resume inside a run: the run is flushed before it, the resume's
	// frames are not held, and the rest of the run is held again.
	tr.gate = make(chan struct{})
	cl.Enqueue(&Event{Type: protocol.TypeTyping, ID: "gate"})
	cl.Resume("r1", nil)
	cl.Enqueue(&Event{Type: protocol.TypeTyping, ID: "e3"})
	close(tr.gate)
	wait(3) // gate, the resumed reply, e3
	if got, want := take(), "[hold send gate flush send r1 hold send e3 flush]"; got != want {
		t.Fatalf("writer wrote %s, want %s", got, want)
	}
}

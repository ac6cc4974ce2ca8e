package core

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// gatedErasure holds DeleteUser between its store steps until released.
type gatedErasure struct {
	store.Store
	stepped chan struct{}
	release chan struct{}
}

func (g *gatedErasure) EraseStep(ctx context.Context, user string, now time.Time) ([]protocol.Message, bool, error) {
	evs, done, err := g.Store.EraseStep(ctx, user, now)
	if err == nil && !done {
		select {
		case g.stepped <- struct{}{}:
		default:
		}
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	return evs, done, err
}

// TestDeleteUserLetsOtherCommitsRun erases a user with more conversations
// than one store step clears and, while the erasure waits between two
// steps, commits a send to another conversation.
func TestDeleteUserLetsOtherCommitsRun(t *testing.T) {
	t.Parallel()
	gate := &gatedErasure{stepped: make(chan struct{}, 1), release: make(chan struct{})}
	e := newCoreEnv(t, Retention{}, func(o *Options) { gate.Store = o.Store; o.Store = gate })
	ctx := e.ctx
	for i := range 70 {
		p := fmt.Sprintf("p%02d", i)
		if _, err := e.c.CreateUser(ctx, p, "password", p); err != nil {
			t.Fatal(err)
		}
		e.send("alice", "", p)
	}
	g, err := e.c.CreateGroup(ctx, Identity{User: "carol", Device: "d"}, "g", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}

	errc := make(chan error, 1)
	go func() { errc <- e.c.DeleteUser(ctx, "alice") }()
	select {
	case <-gate.stepped:
	case err := <-errc:
		t.Fatalf("DeleteUser ended in one step: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no erasure step within 10 s")
	}
	// The erasure is in progress: bob's send commits meanwhile, alice's
	// is refused.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ack, err := e.c.Send(sctx, Identity{User: "bob", Device: "d"}, SendRequest{Conv: g.ID, Body: "meanwhile"}); err != nil || ack.Seq == 0 {
		t.Fatalf("send during the erasure: %+v, %v", ack, err)
	}
	if _, err := e.c.Send(sctx, Identity{User: "alice", Device: "d"}, SendRequest{To: "p00", Body: "late"}); err == nil {
		t.Fatal("alice sent during her erasure")
	}
	close(gate.release)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("DeleteUser did not end within 30 s")
	}
	if p, err := gate.PendingErasures(ctx); err != nil || len(p) != 0 {
		t.Fatalf("PendingErasures = %v, %v", p, err)
	}
	sent, err := gate.SentMessages(ctx, "alice", "", 0, 1000)
	if err != nil || len(sent) != 70 {
		t.Fatalf("alice's messages = %d, %v", len(sent), err)
	}
	for _, m := range sent {
		if !m.Deleted || m.Body != "" {
			t.Fatalf("kept: %+v", m)
		}
	}
	// Deleting again changes nothing.
	if err := e.c.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
}

// cancelAfterBegin cancels the caller's context once BeginErasure has
// committed, as an admin's HTTP client that hangs up mid-request does.
type cancelAfterBegin struct {
	store.Store
	cancel context.CancelFunc
}

func (s *cancelAfterBegin) BeginErasure(ctx context.Context, user string, now time.Time) error {
	err := s.Store.BeginErasure(ctx, user, now)
	s.cancel()
	return err
}

// TestDeleteUserFinishesWhenCallerGivesUp: once the tombstone is
// committed, DeleteUser runs its steps to the end although the caller's
// context is cancelled, so no erasure is left pending until a restart.
func TestDeleteUserFinishesWhenCallerGivesUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wrap := &cancelAfterBegin{cancel: cancel}
	e := newCoreEnv(t, Retention{}, func(o *Options) { wrap.Store = o.Store; o.Store = wrap })
	for i := range 70 { // more conversations than one step clears
		p := fmt.Sprintf("p%02d", i)
		if _, err := e.c.CreateUser(e.ctx, p, "password", p); err != nil {
			t.Fatal(err)
		}
		e.send("alice", "", p)
	}
	if err := e.c.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser with the caller gone after the tombstone: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the test's context was not cancelled: the wrapper did not run")
	}
	pending, err := wrap.PendingErasures(e.ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending erasures after DeleteUser: %v, %v", pending, err)
	}
}

package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// A second SIGTERM during the lame-duck window ends the server at once
// (exit status 1) instead of waiting for the window; nothing acknowledged
// is lost by it (the restart serves everything).
func TestSecondSignalForcesExit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	// A long lame-duck window: a graceful stop with connections open takes
	// about a minute, so only the second signal can end it quickly.
	p := newProc(t, "PARLEY_TIMEOUTS_LAME_DUCK=2m", "PARLEY_TIMEOUTS_SHUTDOWN_GRACE=3m", "PARLEY_LOG_LEVEL=warn")
	p.run("user", "add", "alice", "--password", "password-alice")
	p.run("user", "add", "bob", "--password", "password-bob")
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var clients []*parley.Client
	var conv string
	for _, u := range []string{"alice", "bob"} {
		tok, err := (&parley.API{BaseURL: p.url()}).Login(ctx, u, "password-"+u, "phone")
		if err != nil {
			t.Fatal(err)
		}
		c, err := parley.Dial(ctx, parley.Options{URL: p.url(), Token: tok.AccessToken, ReconnectMin: time.Hour, ReconnectMax: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	ack, err := clients[0].Send(ctx, parley.SendOptions{To: "bob", Body: "acked before the stop"})
	if err != nil {
		t.Fatal(err)
	}
	conv = ack.Conv
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The first connection closes at once, the second after half the window:
	// wait until the stop has begun, then signal again.
	waitFor(t, "the graceful stop to begin closing connections", 10*time.Second, func() bool {
		return clients[0].Err() != nil || clients[1].Err() != nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the second signal did not end the server")
	}
	p.cmd = nil
	if code := p.lastExit(); code != 1 {
		t.Fatalf("forced exit status %d, want 1", code)
	}
	p.start()
	api := &parley.API{BaseURL: p.url()}
	tok, err := api.Login(ctx, "bob", "password-bob", "web")
	if err != nil {
		t.Fatal(err)
	}
	api.Token = tok.AccessToken
	h, err := api.History(ctx, conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].ID != ack.ID {
		t.Fatalf("after a forced exit the acknowledged message is missing: %+v", h.Messages)
	}
}

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	parley "github.com/parley-im/parley/sdk/go"
)

// The admin CLI works on the data directory while the server runs; SIGTERM
// stops the server gracefully (connections closed with 3000, "server
// restarting"); after a restart the SDK reconnects by itself and resumes
// with no gap and no duplicate.
func TestGracefulRestartAndCLIWhileRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	p := newProc(t, "PARLEY_TIMEOUTS_LAME_DUCK=200ms", "PARLEY_LOG_LEVEL=warn")
	p.run("user", "add", "alice", "--password", "password-alice")
	p.start()
	// Created while the server runs.
	p.run("user", "add", "bob", "--password", "password-bob")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	login := func(user, device string) string {
		tok, err := (&parley.API{BaseURL: p.url()}).Login(ctx, user, "password-"+user, device)
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		return tok.AccessToken
	}
	dial := func(user, device string) *parley.Client {
		c, err := parley.Dial(ctx, parley.Options{URL: p.url(), Token: login(user, device), ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice := dial("alice", "phone")
	bob := dial("bob", "phone")
	var conv string
	for i := 1; i <= 10; i++ {
		ack, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	checkRun(t, recv(t, bob, 10, 10*time.Second), conv, 1, 10)

	sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
	defer scancel()
	if err := p.stop(sctx); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.lastExit(); code != 0 {
		t.Fatalf("graceful stop exited with %d", code)
	}
	waitFor(t, "bob to see the restart close", 5*time.Second, func() bool {
		return websocket.CloseStatus(bob.Err()) == 3000
	})
	p.start()
	for i := 11; i <= 20; i++ {
		if _, err := alice.Send(ctx, parley.SendOptions{Conv: conv, Body: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	checkRun(t, recv(t, bob, 10, 15*time.Second), conv, 11, 20)
	noMessage(t, bob, 200*time.Millisecond)
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// serveOnce runs a second `parley serve` on p's data directory and returns
// its exit code and standard error once it exits; a server that starts
// instead is stopped when its listening line appears, and fails the test.
func serveOnce(t *testing.T, p *proc) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, "serve", "--data-dir", p.dataDir, "--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), p.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout = &syncWriter{w: &stdout}
	cmd.Stderr = &syncWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		<-done
		t.Fatalf("a second server on the data directory of a running one kept running:\n%s%s", stdout.String(), stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// A second server on the data directory of a running one, and a restore
// under it, are refused with an error naming the running server; the
// running server's data is untouched; both work once it has stopped.
func TestDataDirectoryLockedWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	p := newProc(t, "PARLEY_LOG_LEVEL=warn", "PARLEY_TIMEOUTS_LAME_DUCK=100ms")
	p.run("user", "add", "alice", "--password", "password-alice")
	p.run("user", "add", "bob", "--password", "password-bob")
	p.start()
	pid := p.cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	api := &parley.API{BaseURL: p.url()}
	tok, err := api.Login(ctx, "alice", "password-alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	api.Token = tok.AccessToken
	ack, err := api.Send(ctx, "", parley.SendOptions{To: "bob", Body: "before the backup"})
	if err != nil {
		t.Fatal(err)
	}
	conv := ack.Conv
	backup := filepath.Join(t.TempDir(), "backup.db")
	p.run("backup", backup) // online: allowed

	wantNamed := func(what, msg string) {
		t.Helper()
		for _, w := range []string{"in use", fmt.Sprintf("pid %d", pid), p.url(), "parley serve"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: the error does not name the running server (%q):\n%s", what, w, msg)
			}
		}
	}
	code, stderr := serveOnce(t, p)
	if code == 0 {
		t.Errorf("a second server exited with 0")
	}
	wantNamed("second serve", stderr)

	_, err = p.runErr("restore", backup, "--force")
	if err == nil {
		t.Fatal("restore under a running server succeeded")
	}
	wantNamed("restore", err.Error())
	if !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("restore: the error does not say what to do: %v", err)
	}

	// Commands documented to work beside the server still do.
	p.run("user", "add", "carol", "--password", "password-carol")
	if out := p.run("check"); out != "store ok" {
		t.Fatalf("check beside the server: %q", out)
	}

	// Acknowledged after the refused restore: kept over a restart.
	if _, err := api.Send(ctx, conv, parley.SendOptions{Body: "after the refused restore"}); err != nil {
		t.Fatal(err)
	}
	if err := p.stop(ctx); err != nil {
		t.Fatal(err)
	}
	p.start()
	tok, err = api.Login(ctx, "alice", "password-alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	api.Token = tok.AccessToken
	h, err := api.History(ctx, conv, parley.HistoryOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.Messages); n != 2 || h.Messages[1].Body != "after the refused restore" {
		t.Fatalf("after a restart the conversation has %d messages, want both", n)
	}
	if err := p.stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Stopped: restore works, and a server starts on the restored data.
	if out := p.run("restore", backup, "--force"); !strings.Contains(out, "restored") {
		t.Fatalf("restore after the stop: %q", out)
	}
	p.start()
	// The session of the login above is not in the backup: log in again.
	if tok, err = api.Login(ctx, "alice", "password-alice", "web"); err != nil {
		t.Fatal(err)
	}
	api.Token = tok.AccessToken
	h, err = api.History(ctx, conv, parley.HistoryOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.Messages); n != 1 {
		t.Fatalf("the restored conversation has %d messages, want the one of the backup", n)
	}
}

// A server killed with SIGKILL leaves its lock file behind, but not the
// lock (the kernel releases it): a new server starts at once, and restore
// works after a kill too.
func TestKilledServerDoesNotLockTheDataDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	p := newProc(t, "PARLEY_LOG_LEVEL=warn")
	p.run("user", "add", "alice", "--password", "password-alice")
	p.start()
	backup := filepath.Join(t.TempDir(), "backup.db")
	p.run("backup", backup)
	p.kill()
	if _, err := os.Stat(filepath.Join(p.dataDir, "parley.lock")); err != nil {
		t.Fatalf("lock file: %v", err)
	}
	p.start()
	p.kill()
	if out := p.run("restore", backup, "--force"); !strings.Contains(out, "restored") {
		t.Fatalf("restore after kill -9: %q", out)
	}
	p.start()
}

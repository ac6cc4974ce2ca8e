package child

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestStartAndDone(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	done, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("done not closed after the child exited")
	}
	if _, err := Start(exec.Command(filepath.Join(t.TempDir(), "nothing"))); err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
}

func TestHelpers(t *testing.T) {
	if err := CheckExecutable("/bin/sh"); err != nil {
		t.Errorf("/bin/sh: %v", err)
	}
	if CheckExecutable(t.TempDir()) == nil {
		t.Error("a directory passed as an executable")
	}
	ports, err := FreePorts(3)
	if err != nil || len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts(3) = %v, %v", ports, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if CtxNote(ctx) != "" {
		t.Error("a note for a live context")
	}
	cancel()
	if CtxNote(ctx) != " (context canceled)" {
		t.Errorf("note %q", CtxNote(ctx))
	}
}

func TestCredential(t *testing.T) {
	cred, uid, gid, err := Credential("root")
	if err != nil || uid != 0 || gid != 0 || cred.Uid != 0 || cred.Gid != 0 || !cred.NoSetGroups {
		t.Fatalf("Credential(root) = %+v, %d, %d, %v", cred, uid, gid, err)
	}
	if _, _, _, err := Credential("no-such-user-here"); err == nil {
		t.Fatal("Credential of a missing user succeeded")
	}
}

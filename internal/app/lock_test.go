package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/app"
)

// TestStartLocksTheDataDirectory: while a server runs, a second Start and a
// Restore on its data directory are refused with an error naming it; after
// Shutdown (and after a failed Start) the directory is free again.
func TestStartLocksTheDataDirectory(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	a, err := app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	other := testConfig(t)
	other.DataDir = cfg.DataDir
	b, err := app.Start(context.Background(), other, quiet)
	if err == nil {
		shutdown(t, b)
		shutdown(t, a)
		t.Fatal("a second server started on the data directory of a running one")
	}
	if !errors.Is(err, app.ErrDataDirInUse) {
		t.Errorf("second Start: %v, want ErrDataDirInUse", err)
	}
	for _, w := range []string{cfg.DataDir, fmt.Sprintf("pid %d", os.Getpid()), a.URL(), "--data-dir"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("second Start: %q does not mention %q", err, w)
		}
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := app.Backup(context.Background(), cfg, backup, quiet); err != nil {
		t.Fatalf("backup beside the server: %v", err)
	}
	if err := app.Restore(context.Background(), cfg, backup, true); !errors.Is(err, app.ErrDataDirInUse) || !strings.Contains(err.Error(), a.URL()) {
		t.Errorf("Restore beside the server: %v, want ErrDataDirInUse naming it", err)
	}
	if err := shutdown(t, a); err != nil {
		t.Fatal(err)
	}
	if err := app.Restore(context.Background(), cfg, backup, true); err != nil {
		t.Fatalf("Restore after Shutdown: %v", err)
	}
	a, err = app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if err := shutdown(t, a); err != nil {
		t.Fatal(err)
	}
}

// TestLockHolderRecord: the lock file names its holder while it is held
// and is emptied when released.
func TestLockHolderRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := app.LockDataDir(dir, "restore")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Update(func(h *app.Holder) { h.HTTP = "http://127.0.0.1:1" }); err != nil {
		t.Fatal(err)
	}
	_, err = app.LockDataDir(dir, "serve")
	var le *app.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second lock: %v, want a LockedError", err)
	}
	if le.Holder.PID != os.Getpid() || le.Holder.Command != "restore" || le.Holder.HTTP != "http://127.0.0.1:1" {
		t.Errorf("holder = %+v", le.Holder)
	}
	l.Release()
	l.Release() // idempotent
	if b, err := os.ReadFile(filepath.Join(dir, app.LockFile)); err != nil || len(b) != 0 {
		t.Errorf("lock file after release: %q, %v; want it empty", b, err)
	}
	l, err = app.LockDataDir(dir, "serve")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l.Release()
}

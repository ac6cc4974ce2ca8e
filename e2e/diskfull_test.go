package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// mountSmallFS mounts a tmpfs of size bytes for the test, or skips the test
// where mounting is not allowed (not root, no tmpfs).
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small filesystem here (%v: %s); the full-disk test needs root", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// BAD_INPUTS S3: on a full disk sends fail with a clear error and no
// acknowledgement, nothing acknowledged is lost or half-written, and the
// service recovers when space returns.
func TestFullDiskFailsSendsAndRecovers(t *testing.T) {
	t.Parallel()
	dir := mountSmallFS(t, "4m")
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *config.Config) { c.DataDir = filepath.Join(dir, "data") })
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	api := s.login("alice", "web")
	body := strings.Repeat("d", 60_000)
	var acked []protocol.Ack
	var failure error
	for i := 0; i < 200 && failure == nil; i++ {
		ack, err := api.Send(ctx, "", parley.SendOptions{To: "bob", Body: body})
		if err != nil {
			failure = err
			break
		}
		acked = append(acked, ack)
	}
	if failure == nil {
		t.Fatal("200 sends of 60 KB fit in a 4 MiB filesystem: the disk never filled")
	}
	var pe *protocol.Error
	if !errors.As(failure, &pe) || pe.Code != protocol.CodeUnavailable {
		t.Fatalf("send on a full disk: %v, want a 503 error", failure)
	}
	if len(acked) == 0 {
		t.Fatal("no send succeeded before the disk filled")
	}
	// Space returns: the service recovers without a restart.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	after, err := api.Send(ctx, "", parley.SendOptions{To: "bob", Body: "after"})
	if err != nil {
		t.Fatalf("send after space returned: %v", err)
	}
	if after.Seq != acked[len(acked)-1].Seq+1 {
		t.Fatalf("seq after recovery %d, want %d (no gap, nothing half-written)", after.Seq, acked[len(acked)-1].Seq+1)
	}
	bob := s.login("bob", "web")
	// Pages stop at 1 MiB: page forward from the start.
	var h protocol.Page
	for from := uint64(0); ; {
		p, err := bob.History(ctx, after.Conv, parley.HistoryOptions{After: parley.Seq(from), Limit: 300})
		if err != nil {
			t.Fatal(err)
		}
		h.Messages = append(h.Messages, p.Messages...)
		if !p.More || len(p.Messages) == 0 {
			break
		}
		from = p.Messages[len(p.Messages)-1].Seq
	}
	if len(h.Messages) != len(acked)+1 {
		t.Fatalf("history has %d messages, want the %d acknowledged plus one", len(h.Messages), len(acked))
	}
	for i, a := range acked {
		if h.Messages[i].ID != a.ID || h.Messages[i].Body != body {
			t.Fatalf("message %d differs from its acknowledgement", i)
		}
	}
}

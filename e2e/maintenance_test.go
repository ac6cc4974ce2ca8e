package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// Operators: `parley backup` takes a consistent copy while the server runs
// and sends flow; `parley check` passes on it; `parley restore` puts it
// back (refusing to overwrite without --force); a damaged database stops
// `parley serve` with a clear error instead of serving a shortened history.
func TestBackupRestoreCheckAndDamagedDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	p := newProc(t, "PARLEY_LOG_LEVEL=warn")
	p.run("user", "add", "alice", "--password", "password-alice")
	p.run("user", "add", "bob", "--password", "password-bob")
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := &parley.API{BaseURL: p.url()}
	tok, err := api.Login(ctx, "alice", "password-alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	api.Token = tok.AccessToken
	var conv string
	for i := 0; i < 20; i++ {
		ack, err := api.Send(ctx, "", parley.SendOptions{To: "bob", Body: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	backup := filepath.Join(t.TempDir(), "parley-backup.db")
	if out := p.run("backup", backup); !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %q", out)
	}
	if out := p.run("check"); out != "store ok" {
		t.Fatalf("check on a running server: %q", out)
	}
	// More messages after the backup: the restore goes back to 20.
	if _, err := api.Send(ctx, conv, parley.SendOptions{Body: "after the backup"}); err != nil {
		t.Fatal(err)
	}
	if err := p.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.runErr("restore", backup); err == nil {
		t.Fatal("restore over an existing database without --force should fail")
	}
	p.run("restore", backup, "--force")
	p.start()
	tok, err = api.Login(ctx, "alice", "password-alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	api.Token = tok.AccessToken
	h, err := api.History(ctx, conv, parley.HistoryOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 20 || h.Messages[19].Body != "19" {
		t.Fatalf("restored history has %d messages", len(h.Messages))
	}
	if err := p.stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Damage the database file: the server refuses to start.
	db := filepath.Join(p.dataDir, "parley.db")
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := p.runErr("check")
	if err == nil {
		t.Fatalf("check on a truncated database passed: %s", out)
	}
	if err := p.tryStart(); err == nil {
		p.kill()
		t.Fatal("the server started on a truncated database")
	} else if !strings.Contains(err.Error(), "corrupt") && !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("start on a truncated database: the error does not say why: %v", err)
	}
}

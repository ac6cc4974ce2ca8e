package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// A backup taken while sends commit is a consistent snapshot that restores
// to a database with every message acknowledged before the backup began.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for _, u := range []string{"a", "b"} {
		if err := db.CreateUser(ctx, store.User{ID: u, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.EnsureDirect(ctx, "d_ab", "a", "b", now); err != nil {
		t.Fatal(err)
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := db.Append(ctx, []store.Append{{Conv: "d_ab", Sender: "a", Kind: protocol.KindMessage, Body: "x"}}, time.Now()); err != nil {
				t.Error(err)
				return
			}
		}
	}
	send(50)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); send(200) }() // keeps committing during the backup
	backup := filepath.Join(dir, "backup.db")
	if err := db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := db.Backup(ctx, backup); err == nil {
		t.Fatal("backup over an existing file should fail")
	}

	target := filepath.Join(dir, "restored.db")
	if err := sqlite.Restore(ctx, backup, target); err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.Open(target, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := r.Conversation(ctx, "d_ab")
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeq < 50 || c.LastSeq > 250 {
		t.Fatalf("restored last seq %d, want between 50 and 250", c.LastSeq)
	}
	msgs, err := r.Range(ctx, "d_ab", 0, 0, 300, true)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(msgs)) != c.LastSeq {
		t.Fatalf("restored %d messages for last seq %d: the snapshot is not consistent", len(msgs), c.LastSeq)
	}
	if err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreRefusesADamagedBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte("this is not a database, just some bytes to fill a header page"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Restore(context.Background(), bad, filepath.Join(dir, "t.db")); err == nil {
		t.Fatal("restoring a damaged backup should fail")
	}
}

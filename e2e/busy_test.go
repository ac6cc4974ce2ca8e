package e2e

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// BAD_INPUTS S3: while another process holds SQLite's write lock longer
// than store.busy_timeout, sends fail with 503 and no acknowledgement;
// when the lock is released the service recovers, with no gap in seq.
func TestLockedDatabaseFailsSendsAndRecovers(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Store.BusyTimeout = 200 * time.Millisecond })
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	api := s.login("alice", "web")
	first, err := api.Send(ctx, "", parley.SendOptions{To: "bob", Body: "before the lock"})
	if err != nil {
		t.Fatal(err)
	}
	// An operator's shell takes the write lock and keeps it.
	other, err := sql.Open("sqlite3", "file:"+filepath.Join(s.cfg.DataDir, "parley.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := other.Conn(lctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(lctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	_, err = api.Send(ctx, "", parley.SendOptions{To: "bob", Body: "while locked"})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable {
		conn.ExecContext(lctx, "ROLLBACK")
		t.Fatalf("send while the database is locked: %v, want 503", err)
	}
	if _, err := conn.ExecContext(lctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	after, err := api.Send(ctx, "", parley.SendOptions{To: "bob", Body: "after the lock"})
	if err != nil {
		t.Fatalf("send after the lock was released: %v", err)
	}
	if after.Seq != first.Seq+1 {
		t.Fatalf("seq after the lock %d, want %d: the refused send must not be stored", after.Seq, first.Seq+1)
	}
}

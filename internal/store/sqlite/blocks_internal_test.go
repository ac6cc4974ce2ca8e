package sqlite

import (
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// TestBlockDropsTheBlockedUsersRequest checks what the conformance suite
// cannot yet reach through store methods: a block deletes the pending
// friend request from the blocked user to the blocker in its transaction,
// and leaves the blocker's own request and others' alone; blockedEither
// sees a block in either direction inside a transaction.
func TestBlockDropsTheBlockedUsersRequest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := Open(filepath.Join(t.TempDir(), "p.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	now := time.UnixMilli(1_767_225_600_000)
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := db.CreateUser(ctx, store.User{ID: u, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][2]string{{"bob", "alice"}, {"alice", "bob"}, {"carol", "alice"}} {
		if _, err := db.w.ExecContext(ctx, "INSERT INTO friend_requests (from_user, to_user, created_at) VALUES (?, ?, ?)",
			r[0], r[1], ms(now)); err != nil {
			t.Fatal(err)
		}
	}
	either := func(a, b string) bool {
		t.Helper()
		var got bool
		if err := db.view(ctx, func(tx *sql.Tx) error {
			var err error
			got, err = blockedEither(ctx, tx, a, b)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if either("alice", "bob") {
		t.Fatal("blockedEither before any block")
	}
	if _, err := db.Block(ctx, "alice", "bob", 0, now); err != nil {
		t.Fatal(err)
	}
	left, err := queryStrings(ctx, db.r, "SELECT from_user || '>' || to_user FROM friend_requests ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != "alice>bob" || left[1] != "carol>alice" {
		t.Fatalf("requests after alice blocked bob: %v, want [alice>bob carol>alice]", left)
	}
	if !either("alice", "bob") || !either("bob", "alice") || either("alice", "carol") {
		t.Fatal("blockedEither does not see the block in both directions, or sees one that is not there")
	}
}

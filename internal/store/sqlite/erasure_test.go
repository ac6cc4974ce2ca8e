package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// TestErasureResumesAfterReopen erases a user whose history takes many
// steps (many conversations, and one longer than a step), stops after the
// first step as a crash would, reopens the file and finishes: the result is
// the whole erasure.
func TestErasureResumesAfterReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := sqlite.Open(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.UnixMilli(1_767_225_600_000).UTC()
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := db.CreateUser(ctx, store.User{ID: u, DisplayName: u, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.CreateGroup(ctx, store.Conversation{ID: "g_big", Kind: protocol.ConvGroup, Name: "big", CreatedBy: "alice", CreatedAt: now},
		[]store.Member{{User: "alice", Role: protocol.RoleOwner}, {User: "bob", Role: protocol.RoleMember}, {User: "carol", Role: protocol.RoleMember}}); err != nil {
		t.Fatal(err)
	}
	send := func(conv string, n int, senders ...string) {
		t.Helper()
		for i := 0; i < n; i += 500 {
			var es []store.Append
			for j := i; j < min(n, i+500); j++ {
				es = append(es, store.Append{Conv: conv, Sender: senders[j%len(senders)], ClientMsgID: fmt.Sprintf("%s-%d", conv, j),
					Kind: protocol.KindMessage, ContentType: "text/plain", Body: "b"})
			}
			res, err := db.Append(ctx, es, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
		}
	}
	send("g_big", 9000, "alice", "bob") // 4500 each, beyond one step
	convs := []string{"g_big"}
	for i := range 100 {
		p := fmt.Sprintf("u%03d", i)
		if err := db.CreateUser(ctx, store.User{ID: p, DisplayName: p, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		d, err := db.EnsureDirect(ctx, fmt.Sprintf("d_%03d", i), "alice", p, now)
		if err != nil {
			t.Fatal(err)
		}
		send(d.ID, 4, "alice", p)
		convs = append(convs, d.ID)
	}

	if err := db.BeginErasure(ctx, "alice", now); err != nil {
		t.Fatal(err)
	}
	if _, done, err := db.EraseStep(ctx, "alice", now); err != nil || done {
		t.Fatalf("first step: done=%v, %v; want more to do", done, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, path)
	if p, err := db.PendingErasures(ctx); err != nil || len(p) != 1 || p[0] != "alice" {
		t.Fatalf("PendingErasures after reopen = %v, %v", p, err)
	}
	events, err := db.DeleteUser(ctx, "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Member.Action != protocol.MemberRole || events[0].Member.User != "bob" ||
		events[1].Member.Action != protocol.MemberLeft || events[1].Seq != events[0].Seq+1 {
		t.Fatalf("events = %+v", events)
	}
	if p, err := db.PendingErasures(ctx); err != nil || len(p) != 0 {
		t.Fatalf("PendingErasures after = %v, %v", p, err)
	}
	var kept int
	for m, err := range sentBy(ctx, db, "alice") {
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == protocol.KindMessage && (!m.Deleted || m.Body != "") {
			kept++
			t.Logf("kept: %+v", m)
		}
	}
	if kept != 0 {
		t.Fatalf("%d messages of alice kept their bodies", kept)
	}
	for _, c := range []struct {
		conv, user string
		unread     int
	}{{"g_big", "carol", 4500}, {"g_big", "bob", 0}, {"d_007", "u007", 0}} {
		if n, err := db.Unread(ctx, c.conv, c.user, 0); err != nil || n != c.unread {
			t.Fatalf("Unread(%s, %s) = %d, %v; want %d", c.conv, c.user, n, err, c.unread)
		}
	}
	for _, conv := range convs {
		if _, err := db.Member(ctx, conv, "alice"); err == nil {
			t.Fatalf("alice is still a member of %s", conv)
		}
	}
}

// sentBy yields every message user sent, through SentMessages.
func sentBy(ctx context.Context, db *sqlite.DB, user string) func(func(protocol.Message, error) bool) {
	return func(yield func(protocol.Message, error) bool) {
		conv, seq := "", uint64(0)
		for {
			page, err := db.SentMessages(ctx, user, conv, seq, 1000)
			if err != nil {
				yield(protocol.Message{}, err)
				return
			}
			for _, m := range page {
				if !yield(m, nil) {
					return
				}
			}
			if len(page) < 1000 {
				return
			}
			conv, seq = page[len(page)-1].Conv, page[len(page)-1].Seq
		}
	}
}

// TestMigrateFromVersion6 opens a file written with schema version 6 and
// checks migration 7: no erasure pending, and an erasure runs in steps.
func TestMigrateFromVersion6(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v6.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, name := range []string{"0001_init.sql", "0002_retention_erasure.sql", "0003_mqtt.sql",
		"0004_unread_counts.sql", "0005_token_floors.sql", "0006_packet_keys.sql"} {
		b, err := os.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, string(b))
	}
	for _, q := range append(steps,
		"PRAGMA user_version = 6",
		`INSERT INTO users (id, display_name, created_at) VALUES ('alice', 'Alice', 1), ('bob', 'Bob', 1)`,
		`INSERT INTO users (id, display_name, created_at, disabled, deleted, deleted_at) VALUES ('old', '', 1, 1, 1, 2)`,
		`INSERT INTO conversations (id, kind, name, created_by, created_at, last_seq, updated_at, purged_seq) VALUES
		 ('d_1', 'direct', '', 'alice', 1, 2, 1, 0)`,
		`INSERT INTO directs (user_lo, user_hi, conv_id) VALUES ('alice', 'bob', 'd_1')`,
		`INSERT INTO members (conv_id, user_id, role, joined_seq, read_seq) VALUES
		 ('d_1', 'alice', 'member', 0, 0), ('d_1', 'bob', 'member', 0, 0)`,
		`INSERT INTO participants (user_id, conv_id) VALUES ('alice', 'd_1'), ('bob', 'd_1')`,
		`INSERT INTO messages (conv_id, seq, id, sender, kind, body, target, member, created_at, deleted) VALUES
		 ('d_1', 1, 'd1', 'alice', 'msg', 'x', 0, NULL, 1, 0),
		 ('d_1', 2, 'd2', 'bob', 'msg', 'y', 0, NULL, 1, 0)`,
	) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("build a version 6 file: %v", err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openDB(t, path)
	ctx := t.Context()
	if got := sqlite.SchemaVersion(); got < 7 {
		t.Fatalf("SchemaVersion = %d, want at least 7", got)
	}
	if p, err := db.PendingErasures(ctx); err != nil || len(p) != 0 {
		t.Fatalf("PendingErasures after migration = %v, %v", p, err)
	}
	if _, err := db.DeleteUser(ctx, "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteUser(ctx, "alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	if ms, err := db.SentMessages(ctx, "alice", "", 0, 10); err != nil || len(ms) != 1 || ms[0].Body != "" || !ms[0].Deleted {
		t.Fatalf("alice's messages = %+v, %v", ms, err)
	}
	if _, err := db.Member(ctx, "d_1", "alice"); err == nil {
		t.Fatal("alice is still a member of d_1")
	}
	if p, err := db.PendingErasures(ctx); err != nil || len(p) != 0 {
		t.Fatalf("PendingErasures after = %v, %v", p, err)
	}
}

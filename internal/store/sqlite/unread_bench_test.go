package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// BenchmarkUnread measures what a read costs the store after SetRead: the
// unread count of the conversation at the reader's position (Unread) and
// the reader's total over all conversations (ListConversations with a page
// of one, as core.Read asks for it). The reader has 100 or 10,000 unread
// messages: in one conversation, or spread over 100; with deleted=10%,
// every tenth of them is deleted again.
func BenchmarkUnread(b *testing.B) {
	for _, bc := range []struct {
		unread, convs int
		deleted       bool
	}{{100, 1, false}, {10_000, 1, false}, {10_000, 100, false}, {10_000, 1, true}} {
		unread := bc.unread
		name := fmt.Sprintf("unread=%d/convs=%d", bc.unread, bc.convs)
		if bc.deleted {
			name += "/deleted=10%"
		}
		b.Run(name, func(b *testing.B) {
			db := openDB(b, filepath.Join(b.TempDir(), "bench.db"))
			ctx := b.Context()
			seedUnread(b, db, bc.convs, unread/bc.convs, bc.deleted)
			want := unread
			if bc.deleted {
				want -= unread / 10
			}
			read := uint64(1) // the seq of bob's "added" event
			for b.Loop() {
				n, err := db.Unread(ctx, "g_0", "bob", read)
				if err != nil || n != want/bc.convs {
					b.Fatalf("unread = %d, %v; want %d", n, err, want/bc.convs)
				}
				_, _, total, err := db.ListConversations(ctx, "bob", "", 1)
				if err != nil || total != want {
					b.Fatalf("total unread = %d, %v; want %d", total, err, want)
				}
			}
		})
	}
}

// seedUnread creates groups g_0..g_(convs-1) of alice (owner) and bob, each
// with perConv content messages from alice, which bob has not read; with
// deleted, alice deletes every tenth of them.
func seedUnread(b *testing.B, db *sqlite.DB, convs, perConv int, deleted bool) {
	b.Helper()
	ctx := b.Context()
	now := time.UnixMilli(1_767_225_600_000)
	if err := db.SeedGroups(ctx, "g_", convs, []string{"alice", "bob"}, now); err != nil {
		b.Fatal(err)
	}
	// SeedGroups writes no events: bob's read position starts at 0. One
	// event makes the benchmark read from a stored row, as a member does.
	var entries []store.Append
	for c := range convs {
		entries = append(entries, store.Append{Conv: fmt.Sprint("g_", c), Sender: "alice",
			Kind: protocol.KindSystem, Member: &protocol.MemberChange{Name: "bench"}})
	}
	body := strings.Repeat("x", 100)
	for i := range perConv {
		for c := range convs {
			entries = append(entries, store.Append{Conv: fmt.Sprint("g_", c), Sender: "alice",
				ClientMsgID: fmt.Sprint("c", c, "_", i), Kind: protocol.KindMessage, ContentType: "text/plain", Body: body})
		}
	}
	if deleted {
		for i := 0; i < perConv; i += 10 {
			for c := range convs {
				entries = append(entries, store.Append{Conv: fmt.Sprint("g_", c), Sender: "alice",
					Kind: protocol.KindDelete, Target: uint64(i + 2)})
			}
		}
	}
	for len(entries) > 0 {
		n := min(len(entries), 256)
		res, err := db.Append(ctx, entries[:n], now)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatalf("seed: %v", r.Err)
			}
		}
		entries = entries[n:]
	}
	for c := range convs {
		if _, err := db.SetRead(ctx, fmt.Sprint("g_", c), "bob", 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelete measures a deletion: one Append (one synced transaction)
// per iteration that deletes one of alice's earlier messages, oldest
// first, in a group of 20,000 of them. It reports the process CPU time per
// deletion (cpu-µs/op, user+system, where the platform tells it); run it
// with -benchtime of at most 20000x.
func BenchmarkDelete(b *testing.B) {
	const stored = 20_000
	db := openDB(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := b.Context()
	seedUnread(b, db, 1, stored, false)
	now := time.UnixMilli(1_767_225_600_000)
	next := uint64(2) // seq 1 is the seed's rename event
	cpu0 := cpuTime()
	for b.Loop() {
		if next > stored+1 {
			b.Fatal("no message left to delete: use -benchtime of at most 20000x")
		}
		res, err := db.Append(ctx, []store.Append{{Conv: "g_0", Sender: "alice", Kind: protocol.KindDelete, Target: next}}, now)
		if err != nil || res[0].Err != nil {
			b.Fatalf("delete %d: %v, %+v", next, err, res)
		}
		next++
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(next-2), "cpu-µs/op")
	}
}

// BenchmarkMigrateFromVersion3 measures the first start after an upgrade
// to schema version 4: Open of a schema-3 file with 1,000,000 messages of
// 100 bytes over 1,000 conversations, one in fifty of them deleted (built
// by SQL, outside the timer). Migration 4 writes every row's running count.
func BenchmarkMigrateFromVersion3(b *testing.B) {
	const msgs = 1_000_000
	var steps []string
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_retention_erasure.sql", "migrations/0003_mqtt.sql"} {
		text, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		steps = append(steps, string(text))
	}
	steps = append(steps, "PRAGMA user_version = 3",
		`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i < 999)
		 INSERT INTO conversations (id, kind, created_by, created_at, last_seq, updated_at)
		 SELECT 'g_'||i, 'group', 'u'||(i%2), 1, `+fmt.Sprint(msgs/1000)+`, 1 FROM c`,
		`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i < 999)
		 INSERT INTO members (conv_id, user_id, role, read_seq) SELECT 'g_'||i, 'u'||(i%2), 'owner', 0 FROM c`,
		`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i < `+fmt.Sprint(msgs-1)+`)
		 INSERT INTO messages (conv_id, seq, id, sender, kind, body, created_at, deleted)
		 SELECT 'g_'||(i%1000), i/1000+1, 'm'||i, 'v', CASE WHEN i%10 = 0 THEN 'member' ELSE 'msg' END,
		 printf('%.100c', 'x'), 1, i%50 = 1 FROM c`)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), fmt.Sprint("v3-", i, ".db"))
		raw, err := sql.Open("sqlite3", path+"?_journal_mode=WAL")
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range steps {
			if _, err := raw.Exec(q); err != nil {
				b.Fatalf("build a version 3 file: %v", err)
			}
		}
		if err := raw.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		db, err := sqlite.Open(path, quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/(msgs/1e6), "s/million-msgs")
}

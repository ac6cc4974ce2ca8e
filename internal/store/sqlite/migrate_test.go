package sqlite_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// TestMigrateFromVersion1 opens a file written with schema version 1 only
// and checks what migration 2 adds: no retention and no deletion on the
// existing rows, and participants filled from members and from the senders
// of stored messages (carol left the group, her message stays hers).
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_767_225_600_000).UTC()
	for _, q := range []string{
		string(v1),
		"PRAGMA user_version = 1",
		`INSERT INTO users (id, display_name, created_at) VALUES ('alice', 'Alice', 1), ('bob', 'Bob', 1), ('carol', 'Carol', 1)`,
		`INSERT INTO conversations (id, kind, name, created_by, created_at, last_seq, updated_at)
		 VALUES ('g_1', 'group', 'G', 'alice', 1, 3, 1)`,
		`INSERT INTO members (conv_id, user_id, role) VALUES ('g_1', 'alice', 'owner'), ('g_1', 'bob', 'member')`,
		`INSERT INTO messages (conv_id, seq, id, sender, kind, body, created_at) VALUES
		 ('g_1', 1, 'm1', 'carol', 'msg', 'from carol', 1),
		 ('g_1', 2, 'm2', 'carol', 'member', '', 1),
		 ('g_1', 3, 'm3', 'alice', 'msg', 'from alice', 1)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("build a version 1 file: %v", err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openDB(t, path)
	ctx := t.Context()
	c, err := db.Conversation(ctx, "g_1")
	if err != nil || c.MaxAge != 0 || c.PurgedSeq != 0 || c.LastSeq != 3 {
		t.Fatalf("migrated conversation = %+v, %v", c, err)
	}
	u, err := db.User(ctx, "carol")
	if err != nil || u.Deleted || !u.DeletedAt.IsZero() || u.DisplayName != "Carol" {
		t.Fatalf("migrated user = %+v, %v", u, err)
	}
	sent, err := db.SentMessages(ctx, "carol", "", 0, 10)
	if err != nil || len(sent) != 2 || sent[0].ID != "m1" || sent[1].ID != "m2" {
		t.Fatalf("carol's messages after migration = %+v, %v", sent, err)
	}
	if _, err := db.DeleteUser(ctx, "carol", now); err != nil {
		t.Fatal(err)
	}
	msgs, err := db.Range(ctx, "g_1", 0, 0, 10, true)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("messages = %+v, %v", msgs, err)
	}
	if m := msgs[0]; !m.Deleted || m.Body != "" {
		t.Fatalf("carol's message after her deletion = %+v", m)
	}
	if m := msgs[1]; m.Deleted || m.Kind != protocol.KindMember {
		t.Fatalf("carol's membership event = %+v", m)
	}
	if m := msgs[2]; m.Deleted || m.Body != "from alice" {
		t.Fatalf("alice's message = %+v", m)
	}
	// Purging works on the migrated rows (times in ms since 1970).
	if n, err := db.Purge(ctx, now, time.Hour, 10); err != nil || n != 3 {
		t.Fatalf("purge = %d, %v", n, err)
	}
	if got := sqlite.SchemaVersion(); got < 2 {
		t.Fatalf("SchemaVersion = %d, want at least 2", got)
	}
}

// TestMigrateFromVersion2 opens a file written with schema version 2 and
// checks what migration 3 adds: MQTT sessions work for the existing devices
// and go with them. (A stored message's client message id stays its
// dedupe key; packet keys are migration 6's, TestMigratePacketKeys.)
func TestMigrateFromVersion2(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v2.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_retention_erasure.sql"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, string(b))
	}
	for _, q := range append(steps,
		"PRAGMA user_version = 2",
		`INSERT INTO users (id, display_name, created_at) VALUES ('alice', 'Alice', 1), ('bob', 'Bob', 1)`,
		`INSERT INTO devices (user_id, id, created_at, last_seen) VALUES ('alice', 'phone', 1, 1), ('bob', 'phone', 1, 1)`,
		`INSERT INTO conversations (id, kind, name, created_by, created_at, last_seq, updated_at)
		 VALUES ('d_1', 'direct', '', 'alice', 1, 1, 1)`,
		`INSERT INTO directs (user_lo, user_hi, conv_id) VALUES ('alice', 'bob', 'd_1')`,
		`INSERT INTO members (conv_id, user_id, role) VALUES ('d_1', 'alice', 'member'), ('d_1', 'bob', 'member')`,
		`INSERT INTO participants (user_id, conv_id) VALUES ('alice', 'd_1'), ('bob', 'd_1')`,
		`INSERT INTO messages (conv_id, seq, id, sender, client_msg_id, kind, body, created_at)
		 VALUES ('d_1', 1, 'm1', 'alice', 'q2:x:7', 'msg', 'before', 1)`,
	) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("build a version 2 file: %v", err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openDB(t, path)
	ctx := t.Context()
	now := time.UnixMilli(1_767_225_600_000).UTC()
	if got := sqlite.SchemaVersion(); got < 3 {
		t.Fatalf("SchemaVersion = %d, want at least 3", got)
	}
	for _, user := range []string{"alice", "bob"} {
		s := store.MQTTSession{User: user, Device: "phone",
			Subscriptions: []store.MQTTSubscription{{Filter: user + "/#", QoS: 2}}}
		if err := db.PutMQTTSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := db.MQTTSession(ctx, "alice", "phone", now); err != nil ||
		len(s.Subscriptions) != 1 || s.Subscriptions[0] != (store.MQTTSubscription{Filter: "alice/#", QoS: 2}) {
		t.Fatalf("mqtt session on a migrated file = %+v, %v", s, err)
	}
	if err := db.ReleasePacketKey(ctx, "alice", "q2:x:7"); err != nil {
		t.Fatalf("release on a migrated file: %v", err)
	}
	res, err := db.Append(ctx, []store.Append{
		{Conv: "d_1", Sender: "alice", ClientMsgID: "q2:x:7", Kind: protocol.KindMessage, Body: "retry"},
		{Conv: "d_1", Sender: "alice", PacketKey: "q2:x:7", Kind: protocol.KindMessage, Body: "after"},
	}, now)
	if err != nil || !res[0].Duplicate || res[0].Message.ID != "m1" || res[1].Duplicate || res[1].Message.Seq != 2 {
		t.Fatalf("appends after release = %+v, %v", res, err)
	}
	if n, err := db.ExpireDevices(ctx, now); err != nil || n != 2 {
		t.Fatalf("expire devices = %d, %v", n, err)
	}
	for _, user := range []string{"alice", "bob"} {
		if _, err := db.MQTTSession(ctx, user, "phone", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("mqtt session of %s's expired device: %v", user, err)
		}
	}
}

// TestMigrateFromVersion3 opens a file written with schema version 3 and
// checks what migration 4 adds: the running content counts and the deleted
// tree of existing messages give the same unread counts as counting the
// messages, in a group with a deleted message and a member who joined
// late, and in a conversation whose oldest messages retention purged (one
// reader below PurgedSeq); a member whose read position was below its own
// message is raised to it; sends and deletions after the upgrade keep the
// counts exact.
func TestMigrateFromVersion3(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v3.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_retention_erasure.sql", "migrations/0003_mqtt.sql"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, string(b))
	}
	for _, q := range append(steps,
		"PRAGMA user_version = 3",
		`INSERT INTO users (id, display_name, created_at) VALUES ('alice', 'Alice', 1), ('bob', 'Bob', 1), ('carol', 'Carol', 1)`,
		`INSERT INTO conversations (id, kind, name, created_by, created_at, last_seq, updated_at, purged_seq) VALUES
		 ('g_1', 'group', 'G', 'alice', 1, 9, 1, 0),
		 ('d_1', 'direct', '', 'alice', 1, 5, 1, 2)`,
		`INSERT INTO directs (user_lo, user_hi, conv_id) VALUES ('alice', 'bob', 'd_1')`,
		// bob's read position in g_1 is below his own messages 8 and 9.
		`INSERT INTO members (conv_id, user_id, role, joined_seq, read_seq) VALUES
		 ('g_1', 'alice', 'owner', 0, 5), ('g_1', 'bob', 'member', 0, 2), ('g_1', 'carol', 'member', 2, 2),
		 ('d_1', 'alice', 'member', 0, 5), ('d_1', 'bob', 'member', 0, 0)`,
		`INSERT INTO participants (user_id, conv_id) VALUES
		 ('alice', 'g_1'), ('bob', 'g_1'), ('carol', 'g_1'), ('alice', 'd_1'), ('bob', 'd_1')`,
		`INSERT INTO messages (conv_id, seq, id, sender, kind, body, target, member, created_at, deleted) VALUES
		 ('g_1', 1, 'g1', 'alice', 'msg', 'a1', 0, NULL, 1, 0),
		 ('g_1', 2, 'g2', 'bob', 'msg', 'b1', 0, NULL, 1, 0),
		 ('g_1', 3, 'g3', 'alice', 'member', '', 0, '{"user":"carol","action":"added","role":"member"}', 1, 0),
		 ('g_1', 4, 'g4', 'alice', 'msg', '', 0, NULL, 1, 1),
		 ('g_1', 5, 'g5', 'alice', 'msg', 'a3', 0, NULL, 1, 0),
		 ('g_1', 6, 'g6', 'alice', 'edit', 'a3 v2', 5, NULL, 1, 0),
		 ('g_1', 7, 'g7', 'alice', 'delete', '', 4, NULL, 1, 0),
		 ('g_1', 8, 'g8', 'bob', 'msg', 'b2', 0, NULL, 1, 0),
		 ('g_1', 9, 'g9', 'bob', 'msg', '', 0, NULL, 1, 1),
		 ('d_1', 3, 'd3', 'alice', 'msg', 'x', 0, NULL, 1, 0),
		 ('d_1', 4, 'd4', 'alice', 'msg', '', 0, NULL, 1, 1),
		 ('d_1', 5, 'd5', 'alice', 'msg', 'y', 0, NULL, 1, 0)`,
	) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("build a version 3 file: %v", err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openDB(t, path)
	ctx := t.Context()
	now := time.UnixMilli(1_767_225_600_000).UTC()
	if got := sqlite.SchemaVersion(); got < 4 {
		t.Fatalf("SchemaVersion = %d, want at least 4", got)
	}
	if m, err := db.Member(ctx, "g_1", "bob"); err != nil || m.ReadSeq != 9 {
		t.Fatalf("bob in g_1 after migration = %+v, %v; want read position 9", m, err)
	}
	type want struct {
		conv, user string
		unread     int
	}
	check := func(when string, wants []want, totals map[string]int) {
		t.Helper()
		for _, w := range wants {
			m, err := db.Member(ctx, w.conv, w.user)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := db.Unread(ctx, w.conv, w.user, max(m.ReadSeq, m.JoinedSeq)); err != nil || n != w.unread {
				t.Fatalf("%s: Unread(%s, %s) = %d, %v; want %d", when, w.conv, w.user, n, err, w.unread)
			}
		}
		for user, total := range totals {
			page, _, n, err := db.ListConversations(ctx, user, "", 10)
			if err != nil || n != total {
				t.Fatalf("%s: total unread of %s = %d, %v; want %d", when, user, n, err, total)
			}
			for _, s := range page {
				for _, w := range wants {
					if w.conv == s.ID && w.user == user && s.Unread != w.unread {
						t.Fatalf("%s: %s's summary of %s: unread %d, want %d", when, user, s.ID, s.Unread, w.unread)
					}
				}
			}
		}
	}
	// g_1: alice has b2 (one deletion below her position, one above);
	// carol (joined at 2) has a3 and b2, the deleted 4 and 9 do not count. d_1: bob, below the purged 2, has x and y.
	check("after migration", []want{{"g_1", "alice", 1}, {"g_1", "bob", 0}, {"g_1", "carol", 2},
		{"d_1", "alice", 0}, {"d_1", "bob", 2}}, map[string]int{"alice": 1, "bob": 2, "carol": 2})
	// Below a reader's position the user's own messages are still left out.
	if n, err := db.Unread(ctx, "g_1", "alice", 0); err != nil || n != 2 {
		t.Fatalf("Unread(g_1, alice, 0) = %d, %v; want 2 (b1, b2)", n, err)
	}

	res, err := db.Append(ctx, []store.Append{
		{Conv: "g_1", Sender: "alice", Kind: protocol.KindDelete, Target: 5},
		{Conv: "g_1", Sender: "alice", Kind: protocol.KindMessage, Body: "a4"},
		{Conv: "d_1", Sender: "alice", Kind: protocol.KindMessage, Body: "z"},
		{Conv: "d_1", Sender: "alice", Kind: protocol.KindDelete, Target: 3},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("append after migration: %+v", r)
		}
	}
	// g_1: a3 is gone, a4 (seq 11) came, and alice read up to it by
	// sending. d_1: x is gone, z (seq 6) came.
	check("after sends and deletions", []want{{"g_1", "alice", 0}, {"g_1", "bob", 1}, {"g_1", "carol", 2},
		{"d_1", "alice", 0}, {"d_1", "bob", 2}}, map[string]int{"alice": 0, "bob": 3, "carol": 2})
	// Past 16, the top of g_1's deleted tree at the upgrade, the migrated
	// deletions (4, 9) and the new one (5) still count below a reader, and
	// a deletion above it (17) counts for it.
	var more []store.Append
	for range 6 {
		more = append(more, store.Append{Conv: "g_1", Sender: "alice", Kind: protocol.KindMessage, Body: "more"})
	}
	more = append(more, store.Append{Conv: "g_1", Sender: "alice", Kind: protocol.KindDelete, Target: 17})
	if _, err := db.Append(ctx, more, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRead(ctx, "g_1", "carol", 16); err != nil {
		t.Fatal(err)
	}
	check("past the tree's top", []want{{"g_1", "alice", 0}, {"g_1", "bob", 6}, {"g_1", "carol", 0},
		{"d_1", "alice", 0}, {"d_1", "bob", 2}}, map[string]int{"alice": 0, "bob": 8, "carol": 0})
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

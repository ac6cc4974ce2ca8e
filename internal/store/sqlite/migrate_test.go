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

package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// TestMigratePacketKeys opens a file written with every schema version
// before packet keys (migration 6) and checks what it does with the QoS 2
// messages stored before it: one whose client_msg_id still is its packet
// key ("q2:<16 hex>:<packet id>", not released yet) keeps that
// client_msg_id, and its key holds until released; one released before
// (a random suffix) and any other client_msg_id hold no packet key.
func TestMigratePacketKeys(t *testing.T) {
	t.Parallel()
	names, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	version := 0
	for _, name := range names {
		if strings.HasPrefix(filepath.Base(name), "0006_") {
			break
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, string(b))
		version++
	}
	if version != 5 {
		t.Fatalf("%d migrations before 0006_packet_keys.sql, want 5", version)
	}
	const dev = "q2:0123456789abcdef:"
	path := filepath.Join(t.TempDir(), "v5.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(steps,
		"PRAGMA user_version = 5",
		`INSERT INTO users (id, display_name, created_at) VALUES ('alice', 'Alice', 1), ('bob', 'Bob', 1)`,
		`INSERT INTO conversations (id, kind, name, created_by, created_at, last_seq, updated_at)
		 VALUES ('d_1', 'direct', '', 'alice', 1, 6, 1)`,
		`INSERT INTO directs (user_lo, user_hi, conv_id) VALUES ('alice', 'bob', 'd_1')`,
		`INSERT INTO members (conv_id, user_id, role) VALUES ('d_1', 'alice', 'member'), ('d_1', 'bob', 'member')`,
		`INSERT INTO participants (user_id, conv_id) VALUES ('alice', 'd_1'), ('bob', 'd_1')`,
		`INSERT INTO messages (conv_id, seq, id, sender, client_msg_id, kind, body, created_at) VALUES
		 ('d_1', 1, 'm1', 'alice', '`+dev+`7', 'msg', 'held', 1),
		 ('d_1', 2, 'm2', 'alice', '`+dev+`8:a1b2c3d4e5f6', 'msg', 'released', 1),
		 ('d_1', 3, 'm3', 'bob', '`+dev+`7', 'msg', 'bob held', 1),
		 ('d_1', 4, 'm4', 'alice', 'q2:0123456789ABCDEF:5', 'msg', 'not a key', 1),
		 ('d_1', 5, 'm5', 'alice', '`+dev+`65535', 'msg', 'held too', 1),
		 ('d_1', 6, 'm6', 'alice', 'c-1', 'msg', 'client id', 1)`,
	) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("build a version 5 file: %v", err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openDB(t, path)
	ctx := t.Context()
	now := time.UnixMilli(1_767_225_600_000).UTC()
	send := func(sender, key string) store.AppendResult {
		t.Helper()
		res, err := db.Append(ctx, []store.Append{{Conv: "d_1", Sender: sender, PacketKey: key,
			Kind: protocol.KindMessage, Body: "new " + key}}, now)
		if err != nil || res[0].Err != nil {
			t.Fatalf("append with packet key %s by %s: %+v, %v", key, sender, res, err)
		}
		return res[0]
	}
	for _, c := range []struct {
		sender, key string
		holder      string // "" for none
	}{
		{"alice", dev + "7", "m1"},
		{"bob", dev + "7", "m3"},
		{"alice", dev + "65535", "m5"},
		{"alice", dev + "8", ""},
		{"alice", "q2:0123456789ABCDEF:5", ""},
		{"alice", "c-1", ""},
	} {
		r := send(c.sender, c.key)
		if r.Duplicate != (c.holder != "") || c.holder != "" && r.Message.ID != c.holder {
			t.Fatalf("packet key %s of %s: duplicate %v of %s, want held by %q", c.key, c.sender, r.Duplicate, r.Message.ID, c.holder)
		}
	}
	if err := db.ReleasePacketKey(ctx, "alice", dev+"7"); err != nil {
		t.Fatal(err)
	}
	if r := send("alice", dev+"7"); r.Duplicate {
		t.Fatalf("the released key is still held by %s", r.Message.ID)
	}
	msgs, err := db.Range(ctx, "d_1", 0, 7, 10, true)
	if err != nil || len(msgs) != 6 {
		t.Fatalf("messages = %+v, %v", msgs, err)
	}
	for i, want := range []string{dev + "7", dev + "8:a1b2c3d4e5f6", dev + "7", "q2:0123456789ABCDEF:5", dev + "65535", "c-1"} {
		if msgs[i].ClientMsgID != want {
			t.Fatalf("message %d: client_msg_id %q, want %q as stored before", msgs[i].Seq, msgs[i].ClientMsgID, want)
		}
	}
}

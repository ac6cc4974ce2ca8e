package storetest

import (
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// purge runs Purge and fails on an error or on more than limit deletions.
func (f *fx) purge(now time.Time, global time.Duration, limit int) int {
	f.Helper()
	n, err := f.s.Purge(f.ctx, now, global, limit)
	f.must(err, "purge")
	if n < 0 || (limit > 0 && n > limit) || (limit <= 0 && n != 0) {
		f.Fatalf("Purge(limit %d) = %d", limit, n)
	}
	return n
}

// stored checks that conv keeps exactly the seqs PurgedSeq+1..LastSeq, and
// that PurgedSeq and LastSeq are the given ones.
func (f *fx) stored(conv string, purged, last uint64) {
	f.Helper()
	c := f.conv(conv)
	if c.PurgedSeq != purged || c.LastSeq != last {
		f.Fatalf("%s: PurgedSeq %d LastSeq %d, want %d and %d", conv, c.PurgedSeq, c.LastSeq, purged, last)
	}
	var want []uint64
	if last > purged {
		want = span(purged+1, last)
	}
	f.sameSeqs(seqs(f.all(conv)), want, conv+" after purge")
	newest, err := f.s.Range(f.ctx, conv, 0, 0, 1000, false)
	f.must(err, "range descending")
	if len(newest) != len(want) {
		f.Fatalf("%s: %d messages descending, %d ascending", conv, len(newest), len(want))
	}
}

// at1h is the time at which a message stored at t is exactly one hour old.
func at1h(m protocol.Message) time.Time { return time.UnixMilli(m.Time).Add(time.Hour) }

var retentionTests = []test{
	{"retention/purge deletes an old prefix, seqs go on", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		var sent []protocol.Message
		for range 5 {
			sent = append(sent, f.send(c.ID, "alice", "old"))
		}
		// At sent[2]'s first hour: sent[0] and sent[1] are older than an
		// hour, sent[2] is exactly an hour old and stays.
		if n := f.purge(at1h(sent[2]), time.Hour, 100); n != 2 {
			f.Fatalf("purged %d, want 2", n)
		}
		f.stored(c.ID, 2, 5)
		if n := f.purge(at1h(sent[2]), time.Hour, 100); n != 0 {
			f.Fatalf("purging again at the same time deleted %d", n)
		}
		page, _, _, err := f.s.ListConversations(f.ctx, "bob", "", 10)
		f.must(err, "list")
		if len(page) != 1 || page[0].PurgedSeq != 2 || page[0].LastSeq != 5 || page[0].Last == nil || page[0].Last.Seq != 5 {
			f.Fatalf("summary after purge = %+v", page)
		}
		if u, err := f.s.Unread(f.ctx, c.ID, "bob", 0); err != nil || u != 3 {
			f.Fatalf("Unread from 0 = %d, %v; want 3 (the purged are gone)", u, err)
		}

		// The next message continues the sequence: seqs are never reused.
		m6 := f.send(c.ID, "bob", "new")
		if m6.Seq != 6 {
			f.Fatalf("seq after purge = %d, want 6", m6.Seq)
		}
		// Everything goes: the conversation is empty but keeps its seq.
		if n := f.purge(at1h(m6).Add(time.Millisecond), time.Hour, 100); n != 4 {
			f.Fatalf("purged %d, want 4", n)
		}
		f.stored(c.ID, 6, 6)
		page, _, _, err = f.s.ListConversations(f.ctx, "bob", "", 10)
		f.must(err, "list")
		if len(page) != 1 || page[0].PurgedSeq != 6 || page[0].Last != nil || page[0].Unread != 0 {
			f.Fatalf("summary of a purged conversation = %+v", page)
		}
		if m := f.send(c.ID, "alice", "after"); m.Seq != 7 {
			f.Fatalf("seq after a full purge = %d, want 7", m.Seq)
		}
		f.stored(c.ID, 6, 7)
		// Global 0 keeps everything forever.
		if n := f.purge(f.now.Add(1000*time.Hour), 0, 100); n != 0 {
			f.Fatalf("purged %d with retention off", n)
		}
		if n := f.purge(f.now.Add(1000*time.Hour), time.Hour, 0); n != 0 {
			f.Fatalf("purged %d with limit 0", n)
		}
		f.stored(c.ID, 6, 7)
	}},
	{"retention/only a prefix: a younger message keeps all after it", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		base := f.now.Add(time.Hour)
		// The clock steps back between seq 2 and seq 3.
		for _, at := range []time.Duration{100, 200, 50, 60} {
			_, err := f.s.Append(f.ctx, []store.Append{msg(c.ID, "alice", "m")}, base.Add(at*time.Second))
			f.must(err, "append")
		}
		// Cutoff 150s: seq 1 is older, seq 2 younger; 3 and 4 are older
		// but behind seq 2, so they stay (no hole).
		if n := f.purge(base.Add(150*time.Second+time.Hour), time.Hour, 100); n != 1 {
			f.Fatalf("purged %d, want 1", n)
		}
		f.stored(c.ID, 1, 4)
		if n := f.purge(base.Add(201*time.Second+time.Hour), time.Hour, 100); n != 3 {
			f.Fatalf("purged %d once seq 2 is old, want 3", n)
		}
		f.stored(c.ID, 4, 4)
	}},
	{"retention/limit bounds each call", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		c := f.direct("alice", "bob")
		f.group("g_1", "alice", "bob", "carol") // seq 1
		for range 7 {
			f.send(c.ID, "alice", "d")
			f.send("g_1", "bob", "g")
		}
		total := 0
		for calls := 0; ; calls++ {
			if calls > 20 {
				f.Fatal("purge does not finish")
			}
			n := f.purge(f.now.Add(2*time.Hour), time.Hour, 3)
			total += n
			for _, conv := range []string{c.ID, "g_1"} {
				cv := f.conv(conv)
				f.stored(conv, cv.PurgedSeq, cv.LastSeq)
			}
			if n < 3 {
				break
			}
		}
		if total != 7+8 {
			f.Fatalf("purged %d in total, want 15", total)
		}
		f.stored(c.ID, 7, 7)
		f.stored("g_1", 8, 8)
	}},
	{"retention/a conversation's own setting overrides the global one", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		a := f.direct("alice", "bob")
		b := f.direct("alice", "carol")
		c := f.direct("alice", "dave")
		f.must(f.s.SetRetention(f.ctx, a.ID, 10*time.Second), "set a")
		f.must(f.s.SetRetention(f.ctx, c.ID, 1000*time.Hour), "set c")
		if got := f.conv(a.ID).MaxAge; got != 10*time.Second {
			f.Fatalf("MaxAge = %v, want 10s", got)
		}
		if got := f.conv(b.ID).MaxAge; got != 0 {
			f.Fatalf("MaxAge without a setting = %v, want 0", got)
		}
		for _, cv := range []store.Conversation{a, b, c} {
			f.send(cv.ID, "alice", "hi")
		}
		now := f.now.Add(time.Minute) // every message is over a minute old

		// Global off: only a's own 10s applies.
		if n := f.purge(now, 0, 100); n != 1 {
			f.Fatalf("purged %d with global off, want 1", n)
		}
		f.stored(a.ID, 1, 1)
		f.stored(b.ID, 0, 1)
		f.stored(c.ID, 0, 1)
		// Global 30s: b too; c's own 1000h wins over the shorter global.
		if n := f.purge(now, 30*time.Second, 100); n != 1 {
			f.Fatalf("purged %d with global 30s, want 1", n)
		}
		f.stored(b.ID, 1, 1)
		f.stored(c.ID, 0, 1)
		// Back to the global setting.
		f.must(f.s.SetRetention(f.ctx, c.ID, 0), "reset c")
		if got := f.conv(c.ID).MaxAge; got != 0 {
			f.Fatalf("MaxAge after reset = %v", got)
		}
		if n := f.purge(now, 30*time.Second, 100); n != 1 {
			f.Fatalf("purged %d after reset, want 1", n)
		}
		f.stored(c.ID, 1, 1)
		// A listed conversation carries its setting.
		page, _, _, err := f.s.ListConversations(f.ctx, "bob", "", 10)
		f.must(err, "list")
		if len(page) != 1 || page[0].MaxAge != 10*time.Second || page[0].PurgedSeq != 1 {
			f.Fatalf("summary = %+v", page)
		}

		f.wantErr(f.s.SetRetention(f.ctx, "d_nope", time.Hour), store.ErrNotFound, "unknown conversation")
		f.wantErr(f.s.SetRetention(f.ctx, a.ID, -time.Second), store.ErrInvalid, "negative")
		if got := f.conv(a.ID).MaxAge; got != 10*time.Second {
			f.Fatalf("a refused setting changed MaxAge to %v", got)
		}
	}},
	{"retention/members, positions and unread stay consistent", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		f.group("g_1", "alice", "bob", "carol") // seq 1
		var sent []protocol.Message
		for range 3 {
			sent = append(sent, f.send("g_1", "alice", "m")) // seq 2, 3, 4
		}
		_, err := f.s.SetRead(f.ctx, "g_1", "bob", 2)
		f.must(err, "read")
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{{User: "bob", Device: "phone", Conv: "g_1", Seq: 3}}), "ack")
		// seq 1..3 are older than an hour at sent[2]'s hour; seq 4 is not.
		if n := f.purge(at1h(sent[2]), time.Hour, 100); n != 3 {
			f.Fatalf("purged %d, want 3", n)
		}
		f.stored("g_1", 3, 4)
		ms, err := f.s.Members(f.ctx, "g_1")
		f.must(err, "members")
		if len(ms) != 3 || ms[0].Role != protocol.RoleOwner {
			f.Fatalf("members after purging their events = %+v", ms)
		}
		if m := f.member("g_1", "bob"); m.ReadSeq != 2 || m.DeliveredSeq != 3 {
			f.Fatalf("bob = %+v, want read 2 delivered 3", m)
		}
		pos, err := f.s.DevicePositions(f.ctx, "bob", "phone")
		f.must(err, "positions")
		if pos["g_1"] != 3 {
			f.Fatalf("bob's phone position = %v", pos)
		}
		if u, err := f.s.Unread(f.ctx, "g_1", "bob", 2); err != nil || u != 1 {
			f.Fatalf("Unread = %d, %v; want 1", u, err)
		}
		// A purged message can be neither edited nor deleted.
		res := f.appendAll(edit("g_1", "alice", 2, "too late"), del("g_1", "alice", 3))
		f.wantErr(res[0].Err, store.ErrNotFound, "edit of a purged message")
		f.wantErr(res[1].Err, store.ErrNotFound, "delete of a purged message")
		// Joining after a purge: JoinedSeq is LastSeq, as always.
		added := f.ok(memberEvent("g_1", "alice", "dave", protocol.MemberAdded, ""))
		if added.Seq != 5 || f.member("g_1", "dave").JoinedSeq != 4 {
			f.Fatalf("dave joined at %d with %+v", added.Seq, f.member("g_1", "dave"))
		}
		f.stored("g_1", 3, 5)
	}},
}

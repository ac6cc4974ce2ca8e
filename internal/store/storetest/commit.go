package storetest

import (
	"reflect"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// commit runs Commit at a new clock tick and checks the result counts.
func (f *fx) commit(entries []store.Append, w store.Writes) store.CommitResult {
	f.Helper()
	res, err := f.s.Commit(f.ctx, entries, w, f.tick())
	f.must(err, "commit")
	if len(res.Appends) != len(entries) || len(res.Reads) != len(w.Reads) || len(res.Releases) != len(w.Releases) {
		f.Fatalf("commit: %d/%d/%d results for %d entries, %d reads, %d releases",
			len(res.Appends), len(res.Reads), len(res.Releases), len(entries), len(w.Reads), len(w.Releases))
	}
	return res
}

// lastSeen returns when a device of user was last seen; ok is false if the
// user has no such device.
func (f *fx) lastSeen(user, device string) (time.Time, bool) {
	f.Helper()
	devs, err := f.s.Devices(f.ctx, user)
	f.must(err, "devices of "+user)
	for _, d := range devs {
		if d.ID == device {
			return d.LastSeen, true
		}
	}
	return time.Time{}, false
}

var commitTests = []test{
	{"commit/appends and small writes in one call", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		first := f.ok(withKey(c.ID, "alice", "c1", "q2:x:1", "first"))
		f.send(c.ID, "alice", "second")
		seen := f.now.Add(time.Minute)
		res := f.commit([]store.Append{msg(c.ID, "alice", "third")}, store.Writes{
			Acks:     []store.DeviceAck{{User: "bob", Device: "phone", Conv: c.ID, Seq: 2}},
			Touches:  []store.DeviceTouch{{User: "bob", Device: "phone", At: seen}},
			Reads:    []store.ReadPosition{{Conv: c.ID, User: "bob", Seq: 2}},
			Releases: []store.Release{{Sender: "alice", PacketKey: "q2:x:1"}},
		})
		if r := res.Appends[0]; r.Err != nil || r.Duplicate || r.Message.Seq != 3 {
			f.Fatalf("append result = %+v, want seq 3", r)
		}
		if r := res.Reads[0]; r.Err != nil || r.Seq != 2 {
			f.Fatalf("read result = %+v, want seq 2", r)
		}
		if res.Releases[0] != nil {
			f.Fatalf("release: %v", res.Releases[0])
		}
		if len(res.Expired) != 0 {
			f.Fatalf("expired %v without ExpireBefore", res.Expired)
		}
		m := f.member(c.ID, "bob")
		if m.ReadSeq != 2 || m.DeliveredSeq != 2 {
			f.Fatalf("bob: ReadSeq %d, DeliveredSeq %d, want 2 and 2", m.ReadSeq, m.DeliveredSeq)
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "bob", "phone"); !reflect.DeepEqual(pos, map[string]uint64{c.ID: 2}) {
			f.Fatalf("phone positions = %v", pos)
		}
		if at, ok := f.lastSeen("bob", "phone"); !ok || !at.Equal(seen) {
			f.Fatalf("phone last seen %v (registered %v), want %v", at, ok, seen)
		}
		// The sender's own message raised alice's read position, as Append.
		if m := f.member(c.ID, "alice"); m.ReadSeq != 3 {
			f.Fatalf("alice's ReadSeq = %d, want 3", m.ReadSeq)
		}
		// The released key is free for a new message; the first keeps its
		// client message id.
		again := f.ok(withKey(c.ID, "alice", "c2", "q2:x:1", "new"))
		if again.Seq != 4 || again.ID == first.ID {
			f.Fatalf("after the release: %+v, want a new message with seq 4", again)
		}
		if got := f.at(c.ID, first.Seq); got.ClientMsgID != "c1" {
			f.Fatalf("the released message's client_msg_id = %q, want c1", got.ClientMsgID)
		}
	}},
	{"commit/a read of a message committed in the same call", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		res := f.commit([]store.Append{msg(c.ID, "alice", "one"), msg(c.ID, "alice", "two")}, store.Writes{
			Reads: []store.ReadPosition{{Conv: c.ID, User: "bob", Seq: 2}, {Conv: c.ID, User: "bob", Seq: 9}},
			Acks:  []store.DeviceAck{{User: "bob", Device: "phone", Conv: c.ID, Seq: 2}},
		})
		// The writes come after the entries: nothing is clamped below them.
		if res.Reads[0].Seq != 2 || res.Reads[1].Seq != 2 {
			f.Fatalf("read results = %+v, want 2 and 2 (clamped to LastSeq)", res.Reads)
		}
		if m := f.member(c.ID, "bob"); m.ReadSeq != 2 || m.DeliveredSeq != 2 {
			f.Fatalf("bob = %+v, want ReadSeq and DeliveredSeq 2", m)
		}
		n, err := f.s.Unread(f.ctx, c.ID, "bob", 2)
		f.must(err, "unread")
		if n != 0 {
			f.Fatalf("unread = %d, want 0", n)
		}
	}},
	{"commit/per-item failures leave the rest", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.user("carol")
		c := f.direct("alice", "bob")
		f.ok(withKey(c.ID, "alice", "", "k1", "one"))
		f.ok(withKey(c.ID, "alice", "", "k2", "two"))
		res := f.commit([]store.Append{msg("d_absent", "alice", "x"), msg(c.ID, "alice", "three")}, store.Writes{
			Reads: []store.ReadPosition{
				{Conv: c.ID, User: "carol", Seq: 1}, // not a member
				{Conv: "g_absent", User: "bob", Seq: 1},
				{Conv: c.ID, User: "bob", Seq: 1},
			},
			Releases: []store.Release{
				{Sender: "alice", PacketKey: ""}, // no key: nothing
				{Sender: "alice", PacketKey: "absent"},
				{Sender: "bob", PacketKey: "k1"}, // alice's key, not bob's
				{Sender: "alice", PacketKey: "k2"},
				{Sender: "alice", PacketKey: "k2"}, // twice: nothing more
			},
		})
		if res.Appends[0].Err == nil || res.Appends[1].Err != nil || res.Appends[1].Message.Seq != 3 {
			f.Fatalf("append results = %+v", res.Appends)
		}
		f.wantErr(res.Reads[0].Err, store.ErrNotFound, "read of a non-member")
		f.wantErr(res.Reads[1].Err, store.ErrNotFound, "read in an absent conversation")
		if r := res.Reads[2]; r.Err != nil || r.Seq != 1 {
			f.Fatalf("bob's read = %+v, want seq 1", r)
		}
		for i, err := range res.Releases {
			if err != nil {
				f.Fatalf("release %d: %v", i, err)
			}
		}
		if m := f.member(c.ID, "bob"); m.ReadSeq != 1 {
			f.Fatalf("bob's ReadSeq = %d, want 1", m.ReadSeq)
		}
		// k1 stays held; k2 was released.
		first := f.at(c.ID, 1)
		f.dup(withKey(c.ID, "alice", "", "k1", "again"), first, "k1, not released by bob")
		if m := f.ok(withKey(c.ID, "alice", "", "k2", "new")); m.Seq != 4 {
			f.Fatalf("k2 after its release: seq %d, want 4", m.Seq)
		}
	}},
	{"commit/expiry after the touches and acks of the same call", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		f.send(c.ID, "alice", "hi")
		f.session("s-old", "bob", "old")
		f.session("s-kept", "bob", "kept")
		f.must(f.s.TouchDevice(f.ctx, "bob", "old", t0.Add(-time.Hour)), "touch old")
		f.must(f.s.TouchDevice(f.ctx, "bob", "kept", t0.Add(-time.Hour)), "touch kept")
		cut := f.tick()
		res := f.commit(nil, store.Writes{
			Acks:         []store.DeviceAck{{User: "bob", Device: "old", Conv: c.ID, Seq: 1}},
			Touches:      []store.DeviceTouch{{User: "bob", Device: "kept", At: cut}},
			ExpireBefore: cut,
		})
		if len(res.Expired) != 1 || res.Expired[0].User != "bob" || res.Expired[0].ID != "old" {
			f.Fatalf("expired = %+v, want bob's old", res.Expired)
		}
		if _, ok := f.lastSeen("bob", "old"); ok {
			f.Fatal("the expired device is still there")
		}
		if at, ok := f.lastSeen("bob", "kept"); !ok || !at.Equal(cut) {
			f.Fatalf("kept: last seen %v (there: %v), want %v", at, ok, cut)
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "bob", "old"); len(pos) != 0 {
			f.Fatalf("the expired device's positions, written in the same call: %v", pos)
		}
		if !f.getSession("s-old").Revoked || f.getSession("s-kept").Revoked {
			f.Fatal("the expiry revoked the wrong sessions")
		}
	}},
	{"commit/touches register devices, never for a deleted user", func(f *fx) {
		f.user("alice")
		f.user("gone")
		_, err := f.s.DeleteUser(f.ctx, "gone", f.tick())
		f.must(err, "delete user")
		early, late := f.tick(), f.tick()
		f.commit(nil, store.Writes{Touches: []store.DeviceTouch{
			{User: "alice", Device: "phone", At: late},
			{User: "alice", Device: "phone", At: early}, // never backwards
			{User: "gone", Device: "phone", At: late},
		}})
		if at, ok := f.lastSeen("alice", "phone"); !ok || !at.Equal(late) {
			f.Fatalf("alice's phone: last seen %v (there: %v), want %v", at, ok, late)
		}
		if _, ok := f.lastSeen("gone", "phone"); ok {
			f.Fatal("a touch brought a deleted user's device back")
		}
	}},
	{"commit/nothing to write", func(f *fx) {
		res, err := f.s.Commit(f.ctx, nil, store.Writes{}, f.tick())
		f.must(err, "empty commit")
		if len(res.Appends) != 0 || len(res.Reads) != 0 || len(res.Releases) != 0 || len(res.Expired) != 0 {
			f.Fatalf("empty commit = %+v", res)
		}
	}},
}

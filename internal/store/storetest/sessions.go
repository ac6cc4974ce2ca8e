package storetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// session creates a session of user on device.
func (f *fx) session(id, user, device string) store.Session {
	f.Helper()
	s := store.Session{
		ID: id, User: user, Device: device, RefreshHash: "hash-" + id,
		CreatedAt: f.tick(), ExpiresAt: f.now.Add(30 * 24 * time.Hour),
	}
	f.must(f.s.CreateSession(f.ctx, s), "create session "+id)
	return s
}

// getSession reads a session.
func (f *fx) getSession(id string) store.Session {
	f.Helper()
	s, err := f.s.Session(f.ctx, id)
	f.must(err, "session "+id)
	return s
}

var sessionTests = []test{
	{"sessions/create, get and device registration", func(f *fx) {
		f.user("alice")
		want := f.session("s1", "alice", "phone")
		got := f.getSession("s1")
		if got.ID != want.ID || got.User != want.User || got.Device != want.Device ||
			got.RefreshHash != want.RefreshHash || got.Revoked ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			f.Fatalf("session:\n got  %+v\n want %+v", got, want)
		}
		devs, err := f.s.Devices(f.ctx, "alice")
		f.must(err, "devices")
		if len(devs) != 1 || devs[0].ID != "phone" || devs[0].User != "alice" {
			f.Fatalf("devices after CreateSession = %+v, want phone", devs)
		}
		// A second session on a known device does not duplicate it.
		f.session("s2", "alice", "phone")
		devs, _ = f.s.Devices(f.ctx, "alice")
		if len(devs) != 1 {
			f.Fatalf("devices after a second session = %+v", devs)
		}
		err = f.s.CreateSession(f.ctx, store.Session{ID: "s1", User: "alice", Device: "laptop", CreatedAt: f.now, ExpiresAt: f.now})
		f.wantErr(err, store.ErrExists, "duplicate session id")
		_, err = f.s.Session(f.ctx, "nope")
		f.wantErr(err, store.ErrNotFound, "absent session")
	}},
	{"sessions/rotate refresh", func(f *fx) {
		f.user("alice")
		s := f.session("s1", "alice", "phone")
		exp := f.now.Add(60 * 24 * time.Hour)
		f.wantErr(f.s.RotateRefresh(f.ctx, "s1", "wrong", "h2", exp), store.ErrNotFound, "rotate with wrong old hash")
		if got := f.getSession("s1"); got.RefreshHash != s.RefreshHash {
			f.Fatalf("a failed rotation changed the hash to %q", got.RefreshHash)
		}
		f.must(f.s.RotateRefresh(f.ctx, "s1", s.RefreshHash, "h2", exp), "rotate")
		got := f.getSession("s1")
		if got.RefreshHash != "h2" || !got.ExpiresAt.Equal(exp) {
			f.Fatalf("after rotate: %+v", got)
		}
		// Replaying the old refresh token fails.
		f.wantErr(f.s.RotateRefresh(f.ctx, "s1", s.RefreshHash, "h3", exp), store.ErrNotFound, "rotate with replayed hash")
		f.wantErr(f.s.RotateRefresh(f.ctx, "absent", "h2", "h3", exp), store.ErrNotFound, "rotate absent session")
		f.must(f.s.RevokeSession(f.ctx, "s1"), "revoke")
		f.wantErr(f.s.RotateRefresh(f.ctx, "s1", "h2", "h3", exp), store.ErrNotFound, "rotate revoked session")
	}},
	{"sessions/concurrent rotations: exactly one wins", func(f *fx) {
		f.user("alice")
		s := f.session("s1", "alice", "phone")
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = f.s.RotateRefresh(f.ctx, "s1", s.RefreshHash, fmt.Sprintf("new-%d", i), f.now.Add(time.Hour))
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				f.Fatalf("rotations %d and %d both succeeded from the same old hash", winner, i)
			case err == nil:
				winner = i
			default:
				f.wantErr(err, store.ErrNotFound, "losing rotation")
			}
		}
		if winner < 0 {
			f.Fatal("no rotation succeeded")
		}
		if got := f.getSession("s1"); got.RefreshHash != fmt.Sprintf("new-%d", winner) {
			f.Fatalf("hash = %q, want the winner's new-%d", got.RefreshHash, winner)
		}
	}},
	{"sessions/revoke session and user", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.session("a1", "alice", "phone")
		f.session("a2", "alice", "laptop")
		f.session("a3", "alice", "tablet")
		f.session("b1", "bob", "phone")
		f.must(f.s.RevokeSession(f.ctx, "a1"), "revoke")
		f.must(f.s.RevokeSession(f.ctx, "a1"), "revoke twice")
		if !f.getSession("a1").Revoked || f.getSession("a2").Revoked {
			f.Fatal("RevokeSession revoked the wrong sessions")
		}
		f.must(f.s.RevokeUser(f.ctx, "alice"), "revoke user")
		for _, id := range []string{"a1", "a2", "a3"} {
			if !f.getSession(id).Revoked {
				f.Fatalf("session %s not revoked by RevokeUser", id)
			}
		}
		if f.getSession("b1").Revoked {
			f.Fatal("RevokeUser revoked another user's session")
		}
	}},
}

var deviceTests = []test{
	{"devices/touch registers and orders by id", func(f *fx) {
		f.user("alice")
		f.user("bob")
		first := f.tick()
		for _, d := range []string{"tablet", "laptop", "phone"} {
			f.must(f.s.TouchDevice(f.ctx, "alice", d, first), "touch "+d)
		}
		// Device ids are scoped to their user.
		f.must(f.s.TouchDevice(f.ctx, "bob", "phone", first), "touch bob's phone")
		later := f.tick()
		f.must(f.s.TouchDevice(f.ctx, "alice", "phone", later), "touch again")
		devs, err := f.s.Devices(f.ctx, "alice")
		f.must(err, "devices")
		if len(devs) != 3 || devs[0].ID != "laptop" || devs[1].ID != "phone" || devs[2].ID != "tablet" {
			f.Fatalf("devices = %+v, want laptop, phone, tablet", devs)
		}
		if !devs[1].CreatedAt.Equal(first) || !devs[1].LastSeen.Equal(later) {
			f.Fatalf("phone = %+v, want created %v, last seen %v", devs[1], first, later)
		}
		if !devs[0].LastSeen.Equal(first) {
			f.Fatalf("laptop last seen = %v, want %v", devs[0].LastSeen, first)
		}
		bobs, _ := f.s.Devices(f.ctx, "bob")
		if len(bobs) != 1 || bobs[0].User != "bob" || !bobs[0].LastSeen.Equal(first) {
			f.Fatalf("bob's devices = %+v", bobs)
		}
		none, err := f.s.Devices(f.ctx, "nobody")
		f.must(err, "devices of nobody")
		if len(none) != 0 {
			f.Fatalf("devices of nobody = %+v", none)
		}
	}},
	{"devices/add is capped, atomically, and a deleted device frees its slot", func(f *fx) {
		f.user("alice")
		f.user("bob")
		first := f.tick()
		add := func(user, device string, at time.Time, max int) error {
			_, err := f.s.AddDevice(f.ctx, user, device, at, max)
			return err
		}
		for _, d := range []string{"a", "b", "c"} {
			created, err := f.s.AddDevice(f.ctx, "alice", d, first, 3)
			if err != nil || !created {
				f.Fatalf("add %s = %v, %v; want created", d, created, err)
			}
		}
		// A known device is admitted at the cap and left as it was.
		if created, err := f.s.AddDevice(f.ctx, "alice", "b", f.tick(), 3); err != nil || created {
			f.Fatalf("add known b at the cap = %v, %v; want not created, no error", created, err)
		}
		f.wantErr(add("alice", "d", f.tick(), 3), store.ErrLimit, "a fourth device with max 3")
		devs, err := f.s.Devices(f.ctx, "alice")
		f.must(err, "devices")
		if len(devs) != 3 || devs[1].ID != "b" || !devs[1].CreatedAt.Equal(first) || !devs[1].LastSeen.Equal(first) {
			f.Fatalf("devices = %+v, want a, b, c, all created and seen at %v", devs, first)
		}
		// The cap is per user; max <= 0 is no cap.
		f.must(add("bob", "d", f.tick(), 3), "bob's device")
		f.wantErr(add("bob", "e", f.tick(), 1), store.ErrLimit, "bob's second device with max 1")
		f.must(add("alice", "d", f.tick(), 0), "no cap")
		f.must(f.s.DeleteDevice(f.ctx, "alice", "d"), "delete d")
		f.must(f.s.DeleteDevice(f.ctx, "alice", "a"), "delete a")
		f.must(add("alice", "e", f.tick(), 3), "a slot freed by deleting a device")
		// Concurrent new devices never overshoot the cap.
		f.user("carol")
		errs := make(chan error, 20)
		for i := range 20 {
			go func() { errs <- add("carol", fmt.Sprint("dev", i), f.now, 5) }()
		}
		admitted := 0
		for range 20 {
			switch err := <-errs; {
			case err == nil:
				admitted++
			case !errors.Is(err, store.ErrLimit):
				f.Fatalf("concurrent add: %v", err)
			}
		}
		if devs, _ := f.s.Devices(f.ctx, "carol"); admitted != 5 || len(devs) != 5 {
			f.Fatalf("%d concurrent adds admitted, %d devices stored; want 5 and 5", admitted, len(devs))
		}
		_, err = f.s.DeleteUser(f.ctx, "bob", f.tick())
		f.must(err, "delete bob")
		f.wantErr(add("bob", "f", f.tick(), 0), store.ErrNotFound, "a device of a deleted user")
	}},
	{"devices/delete revokes sessions and drops positions", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		f.send(c.ID, "bob", "one")
		f.send(c.ID, "bob", "two")
		f.session("phone-1", "alice", "phone")
		f.session("laptop-1", "alice", "laptop")
		f.session("bob-1", "bob", "phone")
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{
			{User: "alice", Device: "phone", Conv: c.ID, Seq: 2},
			{User: "alice", Device: "laptop", Conv: c.ID, Seq: 1},
			{User: "bob", Device: "phone", Conv: c.ID, Seq: 2},
		}), "save acks")

		f.must(f.s.DeleteDevice(f.ctx, "alice", "phone"), "delete device")
		devs, _ := f.s.Devices(f.ctx, "alice")
		if len(devs) != 1 || devs[0].ID != "laptop" {
			f.Fatalf("devices after delete = %+v", devs)
		}
		if !f.getSession("phone-1").Revoked {
			f.Fatal("the deleted device's session is not revoked")
		}
		if f.getSession("laptop-1").Revoked || f.getSession("bob-1").Revoked {
			f.Fatal("DeleteDevice revoked another device's session")
		}
		pos, err := f.s.DevicePositions(f.ctx, "alice", "phone")
		f.must(err, "positions")
		if len(pos) != 0 {
			f.Fatalf("positions of the deleted device = %v", pos)
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "alice", "laptop"); pos[c.ID] != 1 {
			f.Fatalf("laptop positions = %v, want %s:1", pos, c.ID)
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "bob", "phone"); pos[c.ID] != 2 {
			f.Fatalf("bob's phone (same device id) positions = %v, want %s:2", pos, c.ID)
		}
		f.wantErr(f.s.DeleteDevice(f.ctx, "alice", "phone"), store.ErrNotFound, "delete twice")
		f.wantErr(f.s.DeleteDevice(f.ctx, "nobody", "phone"), store.ErrNotFound, "delete absent")
	}},
	{"devices/expire old devices", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		f.send(c.ID, "bob", "hi")
		f.session("old-1", "alice", "old")
		f.session("new-1", "alice", "new")
		f.must(f.s.TouchDevice(f.ctx, "alice", "old", t0), "touch old")
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{{User: "alice", Device: "old", Conv: c.ID, Seq: 1}}), "ack")
		f.must(f.s.TouchDevice(f.ctx, "bob", "ancient", t0.Add(-time.Hour)), "touch ancient")
		cut := f.tick()
		f.must(f.s.TouchDevice(f.ctx, "alice", "new", f.tick()), "touch new")

		n, err := f.s.ExpireDevices(f.ctx, cut)
		f.must(err, "expire")
		if n != 2 {
			f.Fatalf("expired %d devices, want 2", n)
		}
		devs, _ := f.s.Devices(f.ctx, "alice")
		if len(devs) != 1 || devs[0].ID != "new" {
			f.Fatalf("alice's devices = %+v, want new", devs)
		}
		if devs, _ := f.s.Devices(f.ctx, "bob"); len(devs) != 0 {
			f.Fatalf("bob's devices = %+v, want none", devs)
		}
		if !f.getSession("old-1").Revoked || f.getSession("new-1").Revoked {
			f.Fatal("ExpireDevices revoked the wrong sessions")
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "alice", "old"); len(pos) != 0 {
			f.Fatalf("positions of an expired device = %v", pos)
		}
		n, err = f.s.ExpireDevices(f.ctx, cut)
		f.must(err, "expire again")
		if n != 0 {
			f.Fatalf("expired %d devices on the second run, want 0", n)
		}
	}},
}

package storetest

import (
	"reflect"

	"github.com/parley-im/parley/internal/store"
)

var positionTests = []test{
	{"positions/a start position is stored without raising delivered", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		for range 3 {
			f.send(c.ID, "alice", "x")
		}
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{{User: "bob", Device: "new", Conv: c.ID, Seq: 2, Start: true}}), "start")
		pos, err := f.s.DevicePositions(f.ctx, "bob", "new")
		f.must(err, "positions")
		if pos[c.ID] != 2 {
			f.Fatalf("start position %v, want 2", pos)
		}
		if m := f.member(c.ID, "bob"); m.DeliveredSeq != 0 {
			f.Fatalf("a start position raised DeliveredSeq to %d", m.DeliveredSeq)
		}
		// An acknowledgement after it does raise it.
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{{User: "bob", Device: "new", Conv: c.ID, Seq: 3}}), "ack")
		if m := f.member(c.ID, "bob"); m.DeliveredSeq != 3 {
			f.Fatalf("DeliveredSeq %d after an ack of 3", m.DeliveredSeq)
		}
	}},
	{"positions/acks keep the maximum and raise delivered", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		g := "g_1"
		f.group(g, "alice", "bob") // seq 1
		for range 6 {
			f.send(c.ID, "alice", "x")
			f.send(g, "alice", "y")
		}
		ack := func(device, conv string, seq uint64) store.DeviceAck {
			return store.DeviceAck{User: "bob", Device: device, Conv: conv, Seq: seq}
		}
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{ack("phone", c.ID, 3), ack("phone", g, 4)}), "acks")
		if m := f.member(c.ID, "bob"); m.DeliveredSeq != 3 {
			f.Fatalf("DeliveredSeq = %d, want 3", m.DeliveredSeq)
		}
		// An older ack does not lower the position; several acks of one
		// device and conversation in one call keep the maximum.
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{ack("phone", c.ID, 2), ack("phone", g, 6), ack("phone", g, 5)}), "older acks")
		pos, err := f.s.DevicePositions(f.ctx, "bob", "phone")
		f.must(err, "positions")
		if want := map[string]uint64{c.ID: 3, g: 6}; !reflect.DeepEqual(pos, want) {
			f.Fatalf("phone positions = %v, want %v", pos, want)
		}
		// Another device: its own position; the member's delivered seq is
		// the highest of its devices.
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{ack("laptop", c.ID, 5)}), "laptop ack")
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{ack("phone", c.ID, 4)}), "phone ack")
		if m := f.member(c.ID, "bob"); m.DeliveredSeq != 5 {
			f.Fatalf("DeliveredSeq = %d, want 5 (the laptop's)", m.DeliveredSeq)
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "bob", "phone"); pos[c.ID] != 4 {
			f.Fatalf("phone position = %d, want 4", pos[c.ID])
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "bob", "laptop"); !reflect.DeepEqual(pos, map[string]uint64{c.ID: 5}) {
			f.Fatalf("laptop positions = %v", pos)
		}
		if m := f.member(g, "bob"); m.DeliveredSeq != 6 {
			f.Fatalf("group DeliveredSeq = %d, want 6", m.DeliveredSeq)
		}
		if m := f.member(c.ID, "alice"); m.DeliveredSeq != 0 {
			f.Fatalf("bob's acks changed alice's DeliveredSeq to %d", m.DeliveredSeq)
		}
		// Acks do not move the read position.
		if m := f.member(c.ID, "bob"); m.ReadSeq != 0 {
			f.Fatalf("ReadSeq = %d after acks, want 0", m.ReadSeq)
		}
		pos, err = f.s.DevicePositions(f.ctx, "bob", "tablet")
		f.must(err, "positions of an unknown device")
		if len(pos) != 0 {
			f.Fatalf("unknown device positions = %v", pos)
		}
		f.must(f.s.SaveAcks(f.ctx, nil), "no acks")
	}},
}

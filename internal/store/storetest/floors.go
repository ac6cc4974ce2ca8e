package storetest

import "time"

var floorTests = []test{
	{"token floors/rise and never fall, user-wide and per device", func(f *fx) {
		if got, err := f.s.TokenFloor(f.ctx, "alice", "phone"); err != nil || !got.IsZero() {
			f.Fatalf("floor of a device never revoked: %v %v, want zero", got, err)
		}
		t1 := f.tick()
		if err := f.s.RaiseTokenFloor(f.ctx, "alice", "phone", t1); err != nil {
			f.Fatal(err)
		}
		if got, err := f.s.TokenFloor(f.ctx, "alice", "phone"); err != nil || !got.Equal(t1) {
			f.Fatalf("floor %v %v, want %v", got, err, t1)
		}
		if got, _ := f.s.TokenFloor(f.ctx, "alice", "laptop"); !got.IsZero() {
			f.Fatalf("another device got the phone's floor: %v", got)
		}
		if got, _ := f.s.TokenFloor(f.ctx, "bob", "phone"); !got.IsZero() {
			f.Fatalf("another user's device got alice's floor: %v", got)
		}
		// Lowering is ignored.
		if err := f.s.RaiseTokenFloor(f.ctx, "alice", "phone", t1.Add(-time.Hour)); err != nil {
			f.Fatal(err)
		}
		if got, _ := f.s.TokenFloor(f.ctx, "alice", "phone"); !got.Equal(t1) {
			f.Fatalf("floor lowered to %v", got)
		}
		// The user's floor covers every device; the later one wins.
		t2 := f.tick()
		if err := f.s.RaiseTokenFloor(f.ctx, "alice", "", t2); err != nil {
			f.Fatal(err)
		}
		for _, d := range []string{"phone", "laptop", "new"} {
			if got, _ := f.s.TokenFloor(f.ctx, "alice", d); !got.Equal(t2) {
				f.Fatalf("floor of %s after the user-wide one: %v, want %v", d, got, t2)
			}
		}
	}},
}

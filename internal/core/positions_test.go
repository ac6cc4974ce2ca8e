package core

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// devKey names one buffered position.
type devKey struct{ user, device, conv string }

func sortedAcks(acks []store.DeviceAck) []store.DeviceAck {
	out := slices.Clone(acks)
	slices.SortFunc(out, func(a, b store.DeviceAck) int {
		for _, c := range [][2]string{{a.User, b.User}, {a.Device, b.Device}, {a.Conv, b.Conv}} {
			if c[0] != c[1] {
				if c[0] < c[1] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	return out
}

func wantPending(t *testing.T, b *ackBuffer, user, device, conv string, seq uint64, ok bool) {
	t.Helper()
	got, gotOK := b.pending(user, device, conv)
	if got != seq || gotOK != ok {
		t.Errorf("pending(%s, %s, %s) = %d, %v; want %d, %v", user, device, conv, got, gotOK, seq, ok)
	}
}

func TestAckBufferAddOnlyRaises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		seq  uint64
		want bool
		pos  uint64
	}{
		{5, true, 5},
		{3, false, 5},
		{5, false, 5},
		{6, true, 6},
		{1, false, 6},
		{100, true, 100},
	}
	b := newAckBuffer()
	wantPending(t, b, "u", "d", "g_c", 0, false)
	for _, tt := range tests {
		if got := b.add("u", "d", "g_c", tt.seq); got != tt.want {
			t.Errorf("add(%d) = %v, want %v", tt.seq, got, tt.want)
		}
		wantPending(t, b, "u", "d", "g_c", tt.pos, true)
	}
}

func TestAckBufferKeysAreIndependent(t *testing.T) {
	t.Parallel()
	b := newAckBuffer()
	for _, k := range []devKey{{"u", "d", "g_a"}, {"u", "d", "g_b"}, {"u", "e", "g_a"}, {"v", "d", "g_a"}} {
		if !b.add(k.user, k.device, k.conv, 7) {
			t.Errorf("add %v refused: another key's position leaked into it", k)
		}
	}
	if got := len(b.take()); got != 4 {
		t.Errorf("take returned %d positions, want 4", got)
	}
}

func TestAckBufferTakeAndDone(t *testing.T) {
	t.Parallel()
	b := newAckBuffer()
	if acks := b.take(); acks != nil {
		t.Fatalf("take on an empty buffer = %v, want nil", acks)
	}
	b.add("u", "d", "g_a", 4)
	b.add("u", "d", "g_b", 9)
	acks := b.take()
	want := []store.DeviceAck{{User: "u", Device: "d", Conv: "g_a", Seq: 4}, {User: "u", Device: "d", Conv: "g_b", Seq: 9}}
	if !slices.Equal(sortedAcks(acks), want) {
		t.Fatalf("take = %v, want %v", acks, want)
	}
	if again := b.take(); again != nil {
		t.Errorf("second take = %v, want nil: taken positions are in flight", again)
	}
	// In flight: still reported, and still the floor for add.
	wantPending(t, b, "u", "d", "g_a", 4, true)
	if b.add("u", "d", "g_a", 4) || b.add("u", "d", "g_a", 2) {
		t.Error("add at or below an in-flight position succeeded")
	}
	b.done(acks, false)
	wantPending(t, b, "u", "d", "g_a", 0, false)
	wantPending(t, b, "u", "d", "g_b", 0, false)
	if b.take() != nil {
		t.Error("a stored flush left positions behind")
	}
}

func TestAckBufferFailedFlushPutsBack(t *testing.T) {
	t.Parallel()
	b := newAckBuffer()
	b.add("u", "d", "g_a", 4)
	b.add("u", "d", "g_b", 9)
	acks := b.take()
	b.add("u", "d", "g_b", 12) // acked while the flush ran
	b.done(acks, true)

	wantPending(t, b, "u", "d", "g_a", 4, true)
	wantPending(t, b, "u", "d", "g_b", 12, true) // not lowered back to 9
	retry := sortedAcks(b.take())
	want := []store.DeviceAck{{User: "u", Device: "d", Conv: "g_a", Seq: 4}, {User: "u", Device: "d", Conv: "g_b", Seq: 12}}
	if !slices.Equal(retry, want) {
		t.Fatalf("retry take = %v, want %v", retry, want)
	}
	b.done(retry, false)
	if b.take() != nil {
		t.Error("positions left after the retry was stored")
	}
}

// TestAckBufferPendingMergesInflight: while one flush runs with seq 6 and a
// newer ack of 8 is pending, pending reports 8; an older flush finishing
// does not clear a newer flush's in-flight position.
func TestAckBufferPendingMergesInflight(t *testing.T) {
	t.Parallel()
	b := newAckBuffer()
	b.add("u", "d", "g_a", 6)
	first := b.take()
	wantPending(t, b, "u", "d", "g_a", 6, true)
	if !b.add("u", "d", "g_a", 8) {
		t.Fatal("add above the in-flight position refused")
	}
	wantPending(t, b, "u", "d", "g_a", 8, true)
	second := b.take() // 8 in flight too
	wantPending(t, b, "u", "d", "g_a", 8, true)
	b.done(first, false)
	wantPending(t, b, "u", "d", "g_a", 8, true)
	if b.add("u", "d", "g_a", 7) {
		t.Error("add below the newer in-flight position succeeded after the older flush ended")
	}
	b.done(second, false)
	wantPending(t, b, "u", "d", "g_a", 0, false)
}

func TestAckBufferDrop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		device string
		kept   []devKey
	}{
		{"one device", "phone", []devKey{{"alice", "web", "g_a"}, {"bob", "phone", "g_a"}}},
		{"every device of the user", "", []devKey{{"bob", "phone", "g_a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newAckBuffer()
			b.add("alice", "phone", "g_a", 3)
			b.add("alice", "phone", "g_b", 4)
			b.add("alice", "web", "g_a", 5)
			b.add("bob", "phone", "g_a", 6)
			b.drop("alice", tt.device)
			wantPending(t, b, "alice", "phone", "g_a", 0, false)
			wantPending(t, b, "alice", "phone", "g_b", 0, false)
			var got []devKey
			for _, a := range sortedAcks(b.take()) {
				got = append(got, devKey{a.User, a.Device, a.Conv})
			}
			if !slices.Equal(got, tt.kept) {
				t.Errorf("after drop, take = %v, want %v", got, tt.kept)
			}
			// A dropped device starts over: a low position is accepted again.
			if !b.add("alice", "phone", "g_a", 1) {
				t.Error("add after drop refused")
			}
		})
	}
}

// TestAckBufferDropForgetsInflight: a device revoked while a flush holds
// its positions must not get them back. RevokeDevice drops the buffer and
// then deletes the device's stored positions; if the running flush fails,
// done(failed) must not put the revoked device's positions back (the next
// flush would re-create them in the store), and pending must not offer
// them to a new connection of a device with the same id.
func TestAckBufferDropForgetsInflight(t *testing.T) {
	t.Parallel()
	b := newAckBuffer()
	b.add("alice", "phone", "g_a", 7)
	b.add("bob", "phone", "g_a", 3)
	inflight := b.take()
	b.drop("alice", "phone")
	wantPending(t, b, "alice", "phone", "g_a", 0, false)
	b.done(inflight, true)
	for _, a := range b.take() {
		if a.User == "alice" {
			t.Errorf("dropped position %+v came back after a failed flush", a)
		}
	}
}

// TestAckBufferConcurrent exercises the buffer from many goroutines under
// -race, with flushes that sometimes fail: the highest position of every
// key survives.
func TestAckBufferConcurrent(t *testing.T) {
	t.Parallel()
	b := newAckBuffer()
	stored := map[devKey]uint64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	const devices, acks = 8, 200
	for d := range devices {
		wg.Go(func() {
			for s := uint64(1); s <= acks; s++ {
				b.add("u", string(rune('a'+d)), "g_c", s)
			}
		})
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			taken := b.take()
			failed := i%3 == 0
			if !failed {
				mu.Lock()
				for _, a := range taken {
					k := devKey{a.User, a.Device, a.Conv}
					stored[k] = max(stored[k], a.Seq)
				}
				mu.Unlock()
			}
			b.done(taken, failed)
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	final := b.take() // what is left after the last flush
	for _, a := range final {
		k := devKey{a.User, a.Device, a.Conv}
		stored[k] = max(stored[k], a.Seq)
	}
	for d := range devices {
		k := devKey{"u", string(rune('a' + d)), "g_c"}
		if stored[k] != acks {
			t.Errorf("device %s: stored %d, want %d", k.device, stored[k], acks)
		}
	}
}

// flushingStore runs the core's ack flush right after every read of a
// device's stored positions: the flusher wins the race with a resume.
type flushingStore struct {
	store.Store
	core  atomic.Pointer[Core]
	reads atomic.Int64
}

func (s *flushingStore) DevicePositions(ctx context.Context, user, device string) (map[string]uint64, error) {
	pos, err := s.Store.DevicePositions(ctx, user, device)
	if c := s.core.Load(); c != nil {
		s.reads.Add(1)
		if ferr := c.flushWrites(ctx); ferr != nil {
			return nil, ferr
		}
	}
	return pos, err
}

// TestResumeSeesAckFlushedDuringIt: an acknowledged position that a flush
// moves from the buffer to the store while a resume reads the device's
// positions is still where the resume starts; nothing acknowledged is
// delivered again (it was, before the buffered positions were read first).
func TestResumeSeesAckFlushedDuringIt(t *testing.T) {
	t.Parallel()
	fs := &flushingStore{}
	e := newCoreEnv(t, Retention{}, func(o *Options) {
		fs.Store = o.Store
		o.Store = fs
		o.Timeouts.AckFlushInterval = time.Hour // only the store's flushes
	})
	fs.core.Store(e.c)
	conv := e.send("alice", "", "bob").Conv
	e.send("alice", conv, "")
	if err := e.c.Ack(e.ctx, Identity{User: "bob", Device: "phone"}, conv, 2); err != nil {
		t.Fatal(err)
	}
	wantPending(t, e.c.acks, "bob", "phone", conv, 2, true)

	tr := newFakeTransport()
	cl, err := e.c.Attach(Identity{User: "bob", Device: "phone"}, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "test over")
	cl.Resume("r1", nil)
	for {
		ev := tr.next(t, protocol.TypeResumed)
		if ev.ID != "r1" {
			continue
		}
		if r, _ := ev.Data.(*protocol.Resumed); r == nil || r.Messages != 0 {
			t.Fatalf("resumed %+v; want 0 messages (both were acknowledged)", ev.Data)
		}
		break
	}
	for len(tr.events) > 0 {
		if ev := <-tr.events; ev.Type == protocol.TypePage || ev.Type == protocol.TypeMsg {
			t.Fatalf("an acknowledged message was delivered again: %s %+v", ev.Type, ev.Data)
		}
	}
	if fs.reads.Load() == 0 {
		t.Fatal("the resume never read the stored positions: the race was not exercised")
	}
	wantPending(t, e.c.acks, "bob", "phone", conv, 0, false)
}

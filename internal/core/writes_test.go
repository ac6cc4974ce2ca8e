package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// txStore counts the write transactions the core runs: every call of a
// store method that writes in a transaction of its own. Once armed, the
// first such call waits until the test releases it, so that what the core
// queues meanwhile piles up behind one running transaction.
type txStore struct {
	store.Store
	n        atomic.Int64 // write transactions
	expiries atomic.Int64 // device expiries (Commit with ExpireBefore, ExpireDevices)
	gate     atomic.Pointer[txGate]
	failNext atomic.Bool // the next Commit fails, storing nothing
}

type txGate struct {
	entered chan struct{} // closed when the held transaction has started
	release chan struct{} // closed by the test
}

// arm makes the next write transaction wait for the gate's release.
func (s *txStore) arm() *txGate {
	g := &txGate{entered: make(chan struct{}), release: make(chan struct{})}
	s.gate.Store(g)
	return g
}

func (s *txStore) write() {
	s.n.Add(1)
	if g := s.gate.Swap(nil); g != nil {
		close(g.entered)
		<-g.release
	}
}

func (s *txStore) Append(ctx context.Context, entries []store.Append, now time.Time) ([]store.AppendResult, error) {
	if len(entries) > 0 {
		s.write()
	}
	return s.Store.Append(ctx, entries, now)
}

func (s *txStore) Commit(ctx context.Context, entries []store.Append, w store.Writes, now time.Time) (store.CommitResult, error) {
	if len(entries) > 0 || !w.Empty() {
		s.write()
	}
	if !w.ExpireBefore.IsZero() {
		defer s.expiries.Add(1)
	}
	if s.failNext.CompareAndSwap(true, false) {
		return store.CommitResult{}, errors.New("disk on fire")
	}
	return s.Store.Commit(ctx, entries, w, now)
}

func (s *txStore) SetRead(ctx context.Context, conv, user string, seq uint64) (uint64, error) {
	s.write()
	return s.Store.SetRead(ctx, conv, user, seq)
}

func (s *txStore) SaveAcks(ctx context.Context, acks []store.DeviceAck) error {
	if len(acks) > 0 {
		s.write()
	}
	return s.Store.SaveAcks(ctx, acks)
}

func (s *txStore) TouchDevice(ctx context.Context, user, device string, t time.Time) error {
	s.write()
	return s.Store.TouchDevice(ctx, user, device, t)
}

func (s *txStore) TouchUser(ctx context.Context, id string, t time.Time) error {
	s.write()
	return s.Store.TouchUser(ctx, id, t)
}

func (s *txStore) ExpireDevices(ctx context.Context, before time.Time) (int, error) {
	s.write()
	defer s.expiries.Add(1)
	return s.Store.ExpireDevices(ctx, before)
}

func (s *txStore) ReleasePacketKey(ctx context.Context, sender, key string) error {
	if key != "" {
		s.write()
	}
	return s.Store.ReleasePacketKey(ctx, sender, key)
}

func (s *txStore) CreateSession(ctx context.Context, sess store.Session) error {
	s.write()
	return s.Store.CreateSession(ctx, sess)
}

// newTxEnv is a running core whose store counts write transactions; the
// write buffer is flushed only when a test asks (AckFlushInterval: an hour).
func newTxEnv(t *testing.T, opts ...func(*Options)) (*coreEnv, *txStore) {
	t.Helper()
	ts := &txStore{}
	e := newCoreEnv(t, Retention{}, append([]func(*Options){func(o *Options) {
		ts.Store = o.Store
		o.Store = ts
		o.Timeouts.AckFlushInterval = time.Hour
	}}, opts...)...)
	return e, ts
}

// reopen opens the env's SQLite file a second time: what it shows was
// committed, synced, and survives a crash of the core.
func (e *coreEnv) reopen() *sqlite.DB {
	e.t.Helper()
	db, err := sqlite.Open(e.path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatalf("reopen the store: %v", err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

// TestRepliedWritesShareCommits: read positions and QoS 2 releases, which
// the client is answered only once they are durable, ride in the
// committer's transaction with the sends of the moment instead of one
// synced transaction each; every reply is durable when it is given.
func TestRepliedWritesShareCommits(t *testing.T) {
	t.Parallel()
	e, ts := newTxEnv(t)
	ctx := e.ctx
	alice := Identity{User: "alice", Device: "phone"}
	const readers, releases, sends = 60, 40, 20
	members := make([]string, readers)
	for i := range members {
		members[i] = fmt.Sprintf("m%02d", i)
		if _, err := e.c.CreateUser(ctx, members[i], "", ""); err != nil {
			t.Fatal(err)
		}
	}
	g, err := e.c.CreateGroup(ctx, alice, "reads", members)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, releases)
	keySeq := make([]uint64, releases)
	for i := range keys {
		keys[i] = fmt.Sprintf("q2:test:%d", i)
		ack, err := e.c.Send(ctx, alice, SendRequest{Conv: g.ID, ClientMsgID: fmt.Sprintf("c%d", i), PacketKey: keys[i], Body: "qos 2"})
		if err != nil {
			t.Fatal(err)
		}
		keySeq[i] = ack.Seq
	}
	last := keySeq[releases-1]

	// A send holds the committer inside its transaction while the reads,
	// releases and other sends arrive.
	gate := ts.arm()
	held := make(chan error, 1)
	go func() {
		_, err := e.c.Send(ctx, alice, SendRequest{Conv: g.ID, Body: "held"})
		held <- err
	}()
	<-gate.entered
	base := ts.n.Load()

	var wg sync.WaitGroup
	reads := make([]protocol.ReadState, readers)
	errs := make([]error, readers+releases+sends)
	for i := range readers {
		wg.Go(func() {
			reads[i], errs[i] = e.c.Read(ctx, Identity{User: members[i], Device: "d"}, g.ID, last-uint64(i%releases))
		})
	}
	for i := range releases {
		wg.Go(func() { errs[readers+i] = e.c.ReleasePacketKey(ctx, "alice", keys[i]) })
	}
	for i := range sends {
		wg.Go(func() {
			_, errs[readers+releases+i] = e.c.Send(ctx, alice, SendRequest{Conv: g.ID, Body: "during"})
		})
	}
	waitUntil(t, "every read, release and send queued to the committer", 10*time.Second, func() bool {
		if n := ts.n.Load() - base; n > 0 {
			close(gate.release)
			t.Fatalf("%d write transactions ran beside the committer's held one (one per read or release)", n)
		}
		return len(e.c.commit.queue) == readers+releases+sends
	})
	close(gate.release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := ts.n.Load() - base; n != 1 {
		t.Fatalf("%d reads, %d releases and %d sends took %d write transactions after the held one, want 1", readers, releases, sends, n)
	}

	// Every reply was durable when given.
	db := e.reopen()
	for i, r := range reads {
		want := last - uint64(i%releases)
		if r.Seq != want {
			t.Fatalf("%s read %d, want %d", members[i], r.Seq, want)
		}
		m, err := db.Member(ctx, g.ID, members[i])
		if err != nil {
			t.Fatal(err)
		}
		if m.ReadSeq != r.Seq {
			t.Fatalf("%s: stored read position %d, replied %d", members[i], m.ReadSeq, r.Seq)
		}
		unread, err := db.Unread(ctx, g.ID, members[i], m.ReadSeq)
		if err != nil {
			t.Fatal(err)
		}
		if unread != r.Unread {
			t.Fatalf("%s: stored unread %d, replied %d", members[i], unread, r.Unread)
		}
	}
	for i, k := range keys {
		res, err := db.Append(ctx, []store.Append{{Conv: g.ID, Sender: "alice", PacketKey: k, Kind: protocol.KindMessage, Body: "after"}}, e.clock())
		if err != nil || res[0].Err != nil || res[0].Duplicate {
			t.Fatalf("packet key %s after its release: %+v, %v", k, res, err)
		}
		msgs, err := db.Range(ctx, g.ID, keySeq[i]-1, keySeq[i]+1, 1, true)
		if err != nil || len(msgs) != 1 || msgs[0].ClientMsgID != fmt.Sprintf("c%d", i) {
			t.Fatalf("message %d after its release: %+v %v", keySeq[i], msgs, err)
		}
	}
}

// TestReconnectStormCostsOneTransaction: after a restart, N devices that
// authenticate and attach at once are marked seen by one flush of the
// write buffer, not by two synced transactions each.
func TestReconnectStormCostsOneTransaction(t *testing.T) {
	t.Parallel()
	e, ts := newTxEnv(t)
	ctx := e.ctx
	const devices = 300
	tokens := make([]string, devices)
	for i := range tokens {
		tok, err := e.c.OpenSession(ctx, "alice", fmt.Sprintf("dev%03d", i), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok.AccessToken
	}
	if err := e.c.flushWrites(ctx); err != nil {
		t.Fatal(err)
	}
	// The restart: the core no longer remembers which devices it marked
	// seen, and the clock has moved on.
	e.c.seenMu.Lock()
	e.c.lastSeen = make(map[devID]time.Time)
	e.c.seenMu.Unlock()
	e.advance(time.Hour)
	base := ts.n.Load()

	var wg sync.WaitGroup
	clients := make([]*Client, devices)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < devices; i += 4 {
				id, err := e.c.Authenticate(ctx, tokens[i], "")
				if err != nil {
					t.Error(err)
					return
				}
				if clients[i], err = e.c.Attach(id, newFakeTransport()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	defer func() {
		for _, cl := range clients {
			cl.Close(protocol.CloseShutdown, "test over")
		}
	}()
	if err := e.c.flushWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ts.n.Load() - base; n != 1 {
		t.Fatalf("a reconnect storm of %d devices took %d write transactions, want 1", devices, n)
	}
	devs, err := e.reopen().Devices(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != devices {
		t.Fatalf("%d devices stored, want %d", len(devs), devices)
	}
	for _, d := range devs {
		if !d.LastSeen.Equal(e.clock()) {
			t.Fatalf("device %s last seen %v, want %v", d.ID, d.LastSeen, e.clock())
		}
	}
}

// TestDeviceExpiryPassTakesFewTransactions: the expiry pass marks every
// connected device seen and expires the others in one transaction per
// maxTouchesPerCommit connected devices, not one per device.
func TestDeviceExpiryPassTakesFewTransactions(t *testing.T) {
	t.Parallel()
	const expiry = 30 * 24 * time.Hour
	e, ts := newTxEnv(t, func(o *Options) { o.Timeouts.DeviceExpiry = expiry })
	ctx := e.ctx
	waitUntil(t, "the expiry pass at start", 10*time.Second, func() bool { return ts.expiries.Load() > 0 })
	const connected = maxTouchesPerCommit + 500
	for i := range 10 {
		if err := ts.TouchDevice(ctx, "bob", fmt.Sprintf("old%d", i), e.clock()); err != nil {
			t.Fatal(err)
		}
	}
	clients := make([]*Client, connected)
	for i := range clients {
		cl, err := e.c.Attach(Identity{User: "alice", Device: fmt.Sprintf("dev%04d", i)}, newFakeTransport())
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = cl
	}
	defer func() {
		for _, cl := range clients {
			cl.Close(protocol.CloseShutdown, "test over")
		}
	}()
	if err := e.c.flushWrites(ctx); err != nil {
		t.Fatal(err)
	}
	// A month later every device was last stored as seen before the
	// expiry; the connected ones are seen now.
	e.advance(expiry + time.Hour)
	base := ts.n.Load()
	e.c.expireDevices(ctx)
	want := int64(1 + connected/maxTouchesPerCommit)
	if n := ts.n.Load() - base; n > want {
		t.Fatalf("the expiry pass over %d connected devices took %d write transactions, want at most %d", connected, n, want)
	}
	db := e.reopen()
	if devs, err := db.Devices(ctx, "bob"); err != nil || len(devs) != 0 {
		t.Fatalf("bob's unconnected devices after the expiry: %v %v", devs, err)
	}
	devs, err := db.Devices(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != connected {
		t.Fatalf("%d of alice's %d connected devices are left", len(devs), connected)
	}
	for _, d := range devs {
		if !d.LastSeen.Equal(e.clock()) {
			t.Fatalf("connected device %s last seen %v, want %v", d.ID, d.LastSeen, e.clock())
		}
	}
}

// TestExpiredDeviceAcksAreNotStoredAgain: acknowledgements buffered for a
// device that the expiry removes do not bring its positions back.
func TestExpiredDeviceAcksAreNotStoredAgain(t *testing.T) {
	t.Parallel()
	const expiry = 30 * 24 * time.Hour
	e, ts := newTxEnv(t, func(o *Options) { o.Timeouts.DeviceExpiry = expiry })
	ctx := e.ctx
	waitUntil(t, "the expiry pass at start", 10*time.Second, func() bool { return ts.expiries.Load() > 0 })
	conv := e.send("alice", "", "bob").Conv
	old := Identity{User: "bob", Device: "old"}
	if err := ts.TouchDevice(ctx, "bob", "old", e.clock()); err != nil {
		t.Fatal(err)
	}
	e.advance(expiry + time.Hour)
	if err := e.c.Ack(ctx, old, conv, 1); err != nil {
		t.Fatal(err)
	}
	e.c.expireDevices(ctx)
	if err := e.c.flushWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, err := e.st.DevicePositions(ctx, "bob", "old"); err != nil || len(pos) != 0 {
		t.Fatalf("positions of an expired device: %v %v", pos, err)
	}
	if devs, err := e.st.Devices(ctx, "bob"); err != nil || len(devs) != 0 {
		t.Fatalf("bob's devices after the expiry: %v %v", devs, err)
	}
}

// TestRevokeDeviceKnownOnlyToTheBuffer: a device whose first touch is still
// buffered can be revoked, and the flush does not register it again.
func TestRevokeDeviceKnownOnlyToTheBuffer(t *testing.T) {
	t.Parallel()
	e, _ := newTxEnv(t)
	ctx := e.ctx
	cl, err := e.c.Attach(Identity{User: "alice", Device: "tablet"}, newFakeTransport())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "test over")
	if err := e.c.RevokeDevice(ctx, "alice", "tablet"); err != nil {
		t.Fatalf("revoke a device seen but not yet stored: %v", err)
	}
	if err := e.c.flushWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if devs, err := e.st.Devices(ctx, "alice"); err != nil || len(devs) != 0 {
		t.Fatalf("alice's devices after the revocation: %+v %v", devs, err)
	}
	if err := e.c.RevokeDevice(ctx, "alice", "tablet"); err == nil {
		t.Fatal("revoking an unknown device succeeded")
	}
}

// TestReadOfANonMember: a read position of a user who is not a member
// fails alone, as before, without failing the batch it rode in.
func TestReadOfANonMember(t *testing.T) {
	t.Parallel()
	e, _ := newTxEnv(t)
	conv := e.send("alice", "", "bob").Conv
	if _, err := e.c.Read(e.ctx, Identity{User: "carol", Device: "d"}, conv, 1); err == nil {
		t.Fatal("a non-member's read succeeded")
	} else if ToProtocol(err).Code != protocol.CodeNotFound {
		t.Fatalf("a non-member's read: %v, want not found", err)
	}
	st, err := e.c.Read(e.ctx, Identity{User: "bob", Device: "d"}, conv, 1)
	if err != nil || st.Seq != 1 || st.Unread != 0 {
		t.Fatalf("bob's read = %+v, %v", st, err)
	}
}

// TestFailedFlushKeepsTheWrites: acks and device touches whose commit
// failed stay buffered and are stored by the next flush; a read whose
// commit failed is answered with an error, not with a position.
func TestFailedFlushKeepsTheWrites(t *testing.T) {
	t.Parallel()
	e, ts := newTxEnv(t)
	ctx := e.ctx
	conv := e.send("alice", "", "bob").Conv
	bob := Identity{User: "bob", Device: "phone"}
	if err := e.c.Ack(ctx, bob, conv, 1); err != nil {
		t.Fatal(err)
	}
	cl, err := e.c.Attach(bob, newFakeTransport())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(protocol.CloseShutdown, "test over")
	ts.failNext.Store(true)
	if err := e.c.flushWrites(ctx); err == nil {
		t.Fatal("a failed flush reported success")
	}
	ts.failNext.Store(true)
	if _, err := e.c.Read(ctx, bob, conv, 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a read whose commit failed: %v, want ErrUnavailable", err)
	}
	if m, _ := e.st.Member(ctx, conv, "bob"); m.ReadSeq != 0 || m.DeliveredSeq != 0 {
		t.Fatalf("bob after the failed commits: %+v", m)
	}
	if err := e.c.flushWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, err := e.st.DevicePositions(ctx, "bob", "phone"); err != nil || pos[conv] != 1 {
		t.Fatalf("bob's phone positions after the retried flush: %v %v", pos, err)
	}
	if devs, err := e.st.Devices(ctx, "bob"); err != nil || len(devs) != 1 || !devs[0].LastSeen.Equal(e.clock()) {
		t.Fatalf("bob's devices after the retried flush: %+v %v", devs, err)
	}
}

package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// gatedStore records the size of every Append batch. While gate is set, the
// first Append waits until the test releases it, so that concurrent senders
// pile up behind one running transaction, deterministically.
type gatedStore struct {
	store.Store
	gate    chan struct{} // nil: no gate
	entered chan struct{} // closed when the first Append has started
	first   atomic.Bool

	mu    sync.Mutex
	sizes []int
}

func (g *gatedStore) Append(ctx context.Context, entries []store.Append, now time.Time) ([]store.AppendResult, error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(entries))
	g.mu.Unlock()
	if g.gate != nil && g.first.CompareAndSwap(false, true) {
		close(g.entered)
		<-g.gate
	}
	return g.Store.Append(ctx, entries, now)
}

func (g *gatedStore) batches() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sizes)
}

// committerEnv is a committer on a fresh SQLite store with users alice, bob
// and mallory and the direct conversation of alice and bob.
type committerEnv struct {
	st   *gatedStore
	cm   *committer
	m    *Metrics
	conv string
	stop func() // cancels run and waits for it; idempotent

	mu        sync.Mutex
	published []uint64 // seqs passed to committed, in order
}

func newCommitterEnv(t *testing.T, gated bool) *committerEnv {
	t.Helper()
	// The gate makes these batches deterministic; the gatherer, which
	// waits on the clock, has its own tests (and runs in the others').
	return newCommitterEnvWait(t, gated, 0)
}

// newCommitterEnvWait is newCommitterEnv whose batches wait up to maxWait
// for more requests.
func newCommitterEnvWait(t *testing.T, gated bool, maxWait time.Duration) *committerEnv {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	now := time.Now()
	for _, u := range []string{"alice", "bob", "mallory"} {
		if err := db.CreateUser(ctx, store.User{ID: u, CreatedAt: now}); err != nil {
			t.Fatalf("create user: %v", err)
		}
	}
	conv := DirectID("alice", "bob")
	if _, err := db.EnsureDirect(ctx, conv, "alice", "bob", now); err != nil {
		t.Fatalf("ensure direct: %v", err)
	}
	env := &committerEnv{st: &gatedStore{Store: db}, m: NewMetrics(nil), conv: conv}
	if gated {
		env.st.gate = make(chan struct{})
		env.st.entered = make(chan struct{})
	}
	env.cm = newCommitter(env.st, env.m, time.Now, slog.New(slog.DiscardHandler), maxWait, func(answer func(), ms ...*protocol.Message) {
		env.mu.Lock()
		for _, m := range ms {
			env.published = append(env.published, m.Seq)
		}
		env.mu.Unlock()
		answer()
	})
	runCtx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() { defer close(exited); env.cm.run(runCtx) }()
	var once sync.Once
	env.stop = func() {
		once.Do(func() {
			if env.st.gate != nil {
				select {
				case <-env.st.gate:
				default:
					close(env.st.gate)
				}
			}
			cancel()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Error("committer did not stop within 10s")
			}
		})
	}
	t.Cleanup(env.stop)
	return env
}

func (env *committerEnv) release() { close(env.st.gate) }

func (env *committerEnv) publishedSeqs() []uint64 {
	env.mu.Lock()
	defer env.mu.Unlock()
	return slices.Clone(env.published)
}

func msg(conv, sender, cmid string) store.Append {
	return store.Append{Conv: conv, Sender: sender, ClientMsgID: cmid, Kind: protocol.KindMessage, ContentType: "text/plain", Body: "body of " + cmid}
}

// waitUntil polls cond every millisecond until it holds or timeout passes.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// histogram reads a histogram's sample count and sum.
func histogram(t *testing.T, h interface{ Write(*dto.Metric) error }) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// TestCommitterBatches: senders that arrive while a transaction runs share
// the next one, and each gets its own result.
func TestCommitterBatches(t *testing.T) {
	t.Parallel()
	env := newCommitterEnv(t, true)
	const n = 64
	type outcome struct {
		res store.AppendResult
		err error
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	send := func(i int) {
		sender := []string{"alice", "bob"}[i%2]
		res, err := env.cm.append(ctx, msg(env.conv, sender, fmt.Sprintf("m-%02d", i)))
		results[i] = outcome{res, err}
	}
	// Sender 0's entry goes alone into a transaction that blocks; then the
	// others send at once and queue behind it.
	wg.Go(func() { send(0) })
	select {
	case <-env.st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no transaction started")
	}
	for i := 1; i < n; i++ {
		wg.Go(func() { send(i) })
	}
	waitUntil(t, "all other senders to queue", 10*time.Second, func() bool { return len(env.cm.queue) == n-1 })
	env.release()
	wg.Wait()

	seqs := map[uint64]int{}
	for i, o := range results {
		if o.err != nil || o.res.Err != nil {
			t.Fatalf("sender %d: %v / %v", i, o.err, o.res.Err)
		}
		m := o.res.Message
		if want := fmt.Sprintf("m-%02d", i); m.ClientMsgID != want || m.Body != "body of "+want {
			t.Errorf("sender %d got the result of %q (%q)", i, m.ClientMsgID, m.Body)
		}
		if want := []string{"alice", "bob"}[i%2]; m.From != want {
			t.Errorf("sender %d: from %q, want %q", i, m.From, want)
		}
		if o.res.Duplicate {
			t.Errorf("sender %d: duplicate", i)
		}
		if prev, dup := seqs[m.Seq]; dup {
			t.Errorf("senders %d and %d both got seq %d", prev, i, m.Seq)
		}
		seqs[m.Seq] = i
	}
	for s := uint64(1); s <= n; s++ {
		if _, ok := seqs[s]; !ok {
			t.Errorf("seq %d was not assigned: seqs must be gap-free", s)
		}
	}

	sizes := env.st.batches()
	if !slices.Equal(sizes, []int{1, n - 1}) {
		t.Errorf("batch sizes = %v, want [1 %d]", sizes, n-1)
	}
	count, sum := histogram(t, env.m.CommitBatch)
	if sum != n || count != uint64(len(sizes)) || count >= n {
		t.Errorf("CommitBatch histogram: %d samples summing to %v; want %d samples (fewer than %d) summing to %d", count, sum, len(sizes), n, n)
	}
	if got := env.publishedSeqs(); len(got) != n || !slices.IsSorted(got) {
		t.Errorf("committed callback saw seqs %v, want 1..%d in order", got, n)
	}
}

// TestCommitterConcurrent runs without a gate: whatever the batching (and
// whether batches wait for more), every sender gets its own message and
// seqs are gap-free.
func TestCommitterConcurrent(t *testing.T) {
	t.Parallel()
	for _, wait := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprint("max_wait=", wait), func(t *testing.T) {
			t.Parallel()
			testCommitterConcurrent(t, newCommitterEnvWait(t, false, wait))
		})
	}
}

func testCommitterConcurrent(t *testing.T, env *committerEnv) {
	const n = 100
	got := make([]protocol.Message, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		wg.Go(func() {
			res, err := env.cm.append(ctx, msg(env.conv, "alice", fmt.Sprint("c-", i)))
			if err == nil {
				err = res.Err
			}
			got[i], errs[i] = res.Message, err
		})
	}
	wg.Wait()
	var seqs []uint64
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("sender %d: %v", i, errs[i])
		}
		if got[i].ClientMsgID != fmt.Sprint("c-", i) {
			t.Errorf("sender %d got message %q", i, got[i].ClientMsgID)
		}
		seqs = append(seqs, got[i].Seq)
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("sorted seqs = %v, want 1..%d", seqs, n)
		}
	}
	_, sum := histogram(t, env.m.CommitBatch)
	if sum != n {
		t.Errorf("CommitBatch sum = %v, want %d", sum, n)
	}
}

// TestCommitterOrder: entries enqueued one after another by one goroutine
// (a connection pipelining its sends) get increasing seqs in that order.
func TestCommitterOrder(t *testing.T) {
	t.Parallel()
	for _, wait := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprint("max_wait=", wait), func(t *testing.T) {
			t.Parallel()
			testCommitterOrder(t, newCommitterEnvWait(t, false, wait))
		})
	}
}

func testCommitterOrder(t *testing.T, env *committerEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var pending []*pendingAppend
	for i := range 50 {
		p, err := env.cm.enqueue(ctx, msg(env.conv, "alice", fmt.Sprint("o-", i)))
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	var last uint64
	for i, p := range pending {
		res, err := waitOne(p)
		if err != nil || res.Err != nil {
			t.Fatalf("entry %d: %v / %v", i, err, res.Err)
		}
		if res.Message.ClientMsgID != fmt.Sprint("o-", i) {
			t.Fatalf("entry %d got %q", i, res.Message.ClientMsgID)
		}
		if res.Message.Seq != last+1 {
			t.Fatalf("entry %d got seq %d after %d: not in enqueue order", i, res.Message.Seq, last)
		}
		last = res.Message.Seq
	}
}

// TestCommitterPerEntryResults: in one batch, a duplicate and a refused
// entry get their own outcome and do not disturb the others.
func TestCommitterPerEntryResults(t *testing.T) {
	t.Parallel()
	env := newCommitterEnv(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The first entry occupies the gated transaction; the rest form one batch.
	first, err := env.cm.enqueue(ctx, msg(env.conv, "alice", "first"))
	if err != nil {
		t.Fatal(err)
	}
	<-env.st.entered
	entries := []store.Append{
		msg(env.conv, "alice", "a1"),
		msg(env.conv, "mallory", "x1"), // not a member
		msg(env.conv, "alice", "a1"),   // repeat of a1 in the same batch
		msg(env.conv, "bob", "a1"),     // same client id, other sender: new
		msg(env.conv, "alice", "first"),
	}
	var pending []*pendingAppend
	for _, e := range entries {
		p, err := env.cm.enqueue(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	env.release()
	if res, err := waitOne(first); err != nil || res.Err != nil || res.Message.Seq != 1 {
		t.Fatalf("first: %+v, %v", res, err)
	}
	res := make([]store.AppendResult, len(pending))
	for i, p := range pending {
		r, err := waitOne(p)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		res[i] = r
	}
	if res[0].Err != nil || res[0].Duplicate || res[0].Message.Seq != 2 {
		t.Errorf("a1: %+v, want seq 2", res[0])
	}
	if !errors.Is(res[1].Err, store.ErrNotMember) {
		t.Errorf("mallory: err %v, want ErrNotMember", res[1].Err)
	}
	if res[2].Err != nil || !res[2].Duplicate || res[2].Message.Seq != 2 {
		t.Errorf("repeated a1: %+v, want the duplicate of seq 2", res[2])
	}
	if res[3].Err != nil || res[3].Duplicate || res[3].Message.Seq != 3 || res[3].Message.From != "bob" {
		t.Errorf("bob's a1: %+v, want a new message with seq 3", res[3])
	}
	if res[4].Err != nil || !res[4].Duplicate || res[4].Message.Seq != 1 {
		t.Errorf("repeated first: %+v, want the duplicate of seq 1", res[4])
	}
	if got := env.publishedSeqs(); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("committed callback saw %v, want [1 2 3]: only new messages are fanned out", got)
	}
}

// TestCommitterShutdown: after shutdown a send is answered ErrUnavailable at
// once; entries queued behind the last transaction are either committed
// (and acknowledged) or refused (and not stored); nobody hangs.
func TestCommitterShutdown(t *testing.T) {
	t.Parallel()
	env := newCommitterEnv(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inTx, err := env.cm.enqueue(ctx, msg(env.conv, "alice", "in-tx"))
	if err != nil {
		t.Fatal(err)
	}
	<-env.st.entered
	const queued = 20
	var pending []*pendingAppend
	for i := range queued {
		p, err := env.cm.enqueue(ctx, msg(env.conv, "alice", fmt.Sprint("q-", i)))
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	// Stop while a transaction runs: stop releases the gate, cancels run
	// and waits for it to return.
	stopped := make(chan struct{})
	go func() { env.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown hung")
	}

	// The running transaction finishes and is acknowledged.
	if res, err := waitResult(t, inTx); err != nil || res.Err != nil || res.Message.Seq != 1 {
		t.Fatalf("entry in the running transaction: %+v, %v; want committed with seq 1", res, err)
	}
	stored := map[string]bool{}
	msgs, err := env.st.Range(ctx, env.conv, 0, 0, 1000, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		stored[m.ClientMsgID] = true
	}
	for i, p := range pending {
		res, err := waitResult(t, p)
		id := fmt.Sprint("q-", i)
		switch {
		case err == nil && res.Err == nil:
			if !stored[id] {
				t.Errorf("%s was acknowledged but is not stored", id)
			}
		case errors.Is(err, ErrUnavailable):
			if stored[id] {
				t.Errorf("%s was refused with %v but is stored", id, err)
			}
		default:
			t.Errorf("%s: unexpected outcome %+v, %v", id, res, err)
		}
	}

	// After shutdown every send is refused promptly, from many goroutines.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			done := make(chan error, 1)
			go func() {
				_, err := env.cm.append(context.Background(), msg(env.conv, "alice", fmt.Sprint("late-", i)))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("send after shutdown: %v, want ErrUnavailable", err)
				}
				if pe := ToProtocol(err); pe.Code != protocol.CodeUnavailable {
					t.Errorf("send after shutdown maps to %d, want 503", pe.Code)
				}
			case <-time.After(5 * time.Second):
				t.Error("send after shutdown hung")
			}
		})
	}
	wg.Wait()
	msgs, err = env.st.Range(ctx, env.conv, 0, 0, 1000, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if len(m.ClientMsgID) > 5 && m.ClientMsgID[:5] == "late-" {
			t.Errorf("%s was stored after shutdown", m.ClientMsgID)
		}
	}
}

// TestCommitterEnqueueContext: a full queue with no committer running
// gives up when the caller's context ends.
func TestCommitterEnqueueContext(t *testing.T) {
	t.Parallel()
	cm := newCommitter(nil, NewMetrics(nil), time.Now, slog.New(slog.DiscardHandler), 0, func(answer func(), _ ...*protocol.Message) { answer() })
	for range cap(cm.queue) {
		if _, err := cm.enqueue(context.Background(), store.Append{}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := cm.enqueue(ctx, store.Append{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enqueue on a full queue: %v, want the context's deadline", err)
	}
}

// waitOne waits for a request of one entry and returns its result.
func waitOne(p *pendingAppend) (store.AppendResult, error) {
	res, err := p.wait()
	if err != nil {
		return store.AppendResult{}, err
	}
	if len(res) != 1 {
		return store.AppendResult{}, fmt.Errorf("%d results for one entry", len(res))
	}
	return res[0], nil
}

func waitResult(t *testing.T, p *pendingAppend) (store.AppendResult, error) {
	t.Helper()
	type r struct {
		res store.AppendResult
		err error
	}
	ch := make(chan r, 1)
	go func() { res, err := waitOne(p); ch <- r{res, err} }()
	select {
	case x := <-ch:
		return x.res, x.err
	case <-time.After(10 * time.Second):
		t.Fatal("wait hung")
		return store.AppendResult{}, nil
	}
}

// TestCommitterMultiEntryRequests: the entries of one request share one
// transaction and get consecutive seqs in order; batches stay within
// maxBatch unless one request alone is larger, which then commits alone.
func TestCommitterMultiEntryRequests(t *testing.T) {
	t.Parallel()
	env := newCommitterEnv(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := env.cm.enqueue(ctx, msg(env.conv, "alice", "first"))
	if err != nil {
		t.Fatal(err)
	}
	<-env.st.entered
	sizes := []int{3, maxBatch - 2, 1, maxBatch + 10, 2}
	var reqs []*pendingAppend
	for r, n := range sizes {
		var entries []store.Append
		for i := range n {
			entries = append(entries, msg(env.conv, "bob", fmt.Sprintf("r%d-%03d", r, i)))
		}
		p, err := env.cm.enqueue(ctx, entries...)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, p)
	}
	env.release()
	if _, err := waitOne(first); err != nil {
		t.Fatal(err)
	}
	total := 1
	for r, p := range reqs {
		res, err := p.wait()
		if err != nil {
			t.Fatalf("request %d: %v", r, err)
		}
		if len(res) != sizes[r] {
			t.Fatalf("request %d: %d results for %d entries", r, len(res), sizes[r])
		}
		for i, x := range res {
			if x.Err != nil || x.Message.ClientMsgID != fmt.Sprintf("r%d-%03d", r, i) {
				t.Fatalf("request %d entry %d: %+v", r, i, x)
			}
			if i > 0 && x.Message.Seq != res[i-1].Message.Seq+1 {
				t.Fatalf("request %d: entry %d got seq %d after %d; one request's seqs must be consecutive",
					r, i, x.Message.Seq, res[i-1].Message.Seq)
			}
		}
		total += sizes[r]
	}
	batches := env.st.batches()
	sum, sawHuge := 0, false
	for _, b := range batches {
		sum += b
		if b == maxBatch+10 {
			sawHuge = true
		} else if b > maxBatch {
			t.Errorf("batch of %d entries, over maxBatch %d", b, maxBatch)
		}
	}
	if sum != total {
		t.Errorf("batches %v hold %d entries, want %d", batches, sum, total)
	}
	if !sawHuge {
		t.Errorf("batches %v: the request of %d entries was not committed in one transaction alone", batches, maxBatch+10)
	}
}

package core

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// maxBatch bounds how many entries share one transaction (a single request
// with more entries still commits alone, in one transaction).
const maxBatch = 256

// commitReq is one caller's entries and writes; they always share one
// transaction.
type commitReq struct {
	entries []store.Append
	// writes are small writes whose caller waits for them to be durable
	// (read positions, QoS 2 releases); only Reads and Releases are used.
	writes store.Writes
	// flush takes the write buffer (acks, device touches; see writeSource)
	// into the transaction.
	flush bool
	// expire, unless zero, expires the devices not seen since then, after
	// the whole write buffer (implies flush).
	expire time.Time
	done   chan commitRes
	at     time.Time // when it was queued
}

// weight is what r counts toward maxBatch.
func (r *commitReq) weight() int {
	return max(1, len(r.entries)+len(r.writes.Reads)+len(r.writes.Releases))
}

type commitRes struct {
	res      []store.AppendResult
	reads    []store.ReadResult // one per writes.Reads
	releases []error            // one per writes.Releases
	expired  []store.Device     // to the request with expire
	err      error
}

// writeSource is the write buffer a flush request takes into its
// transaction: takeWrites returns what is buffered (at most limit device
// touches; limit <= 0: all) and writesDone is called once that transaction
// has ended, failed if it did not commit (the writes are then buffered
// again). No revocation runs between the two (see Core.flushMu).
type writeSource interface {
	takeWrites(limit int) store.Writes
	writesDone(w store.Writes, res store.CommitResult, failed bool)
}

// maxTouchesPerCommit bounds the device touches that one transaction
// carries, so that a flush after a reconnect storm, or the expiry pass over
// every connected device, holds the sends that share it only briefly.
const maxTouchesPerCommit = 2048

// committer batches concurrent appends into one store transaction per flush
// (group commit, DESIGN.md §2.2). Whatever is queued while a transaction
// runs goes into the next one, so the batch size grows with the load; and
// while sends keep arriving, a batch waits up to the gatherer's max for
// more (see gatherer), so a steady stream of sends does not pay one commit
// each. A lone send pays one commit and no wait.
type committer struct {
	st      store.Store
	metrics *Metrics
	now     func() time.Time
	log     *slog.Logger
	queue   chan commitReq
	gather  *gatherer     // owned by run
	stopped chan struct{} // closed when run has returned
	// committed is called after each commit with the newly stored
	// messages in commit order and answer, which answers the batch's
	// senders and must be called exactly once. It must not block: the
	// core's queues the fan-out and calls answer after it (dispatch.go).
	committed func(answer func(), msgs ...*protocol.Message)
	// side is the write buffer of flush requests; nil: none.
	side writeSource
}

// newCommitter makes a committer whose batches wait at most maxWait for
// more requests (0: never).
func newCommitter(st store.Store, m *Metrics, now func() time.Time, log *slog.Logger, maxWait time.Duration, committed func(answer func(), msgs ...*protocol.Message)) *committer {
	return &committer{st: st, metrics: m, now: now, log: log, committed: committed, gather: newGatherer(maxWait),
		queue: make(chan commitReq, 4*maxBatch), stopped: make(chan struct{})}
}

// append stores one entry through the next batch and returns its result
// once the batch has committed.
func (cm *committer) append(ctx context.Context, e store.Append) (store.AppendResult, error) {
	res, err := cm.appendAll(ctx, []store.Append{e})
	if err != nil {
		return store.AppendResult{}, err
	}
	return res[0], nil
}

// appendAll stores entries in one transaction, in order.
func (cm *committer) appendAll(ctx context.Context, entries []store.Append) ([]store.AppendResult, error) {
	p, err := cm.enqueue(ctx, entries...)
	if err != nil {
		return nil, err
	}
	return p.wait()
}

// pendingAppend is a request queued for commit.
type pendingAppend struct {
	cm  *committer
	req commitReq
}

// enqueue queues entries for the next batch without waiting for the
// commit. Requests are committed in the order they are enqueued, so a
// connection that enqueues its sends one after another gets its seqs in
// that order.
func (cm *committer) enqueue(ctx context.Context, entries ...store.Append) (*pendingAppend, error) {
	return cm.submit(ctx, commitReq{entries: entries})
}

// write commits w's read positions and releases with the next batch and
// returns their results once that batch has committed.
func (cm *committer) write(ctx context.Context, w store.Writes) (commitRes, error) {
	p, err := cm.submit(ctx, commitReq{writes: store.Writes{Reads: w.Reads, Releases: w.Releases}})
	if err != nil {
		return commitRes{}, err
	}
	res := p.result()
	return res, res.err
}

// flushBuffered commits the write buffer (or, after a reconnect storm, its
// first maxTouchesPerCommit device touches) with the next batch, and, if
// expire is not zero, then expires the devices not seen since then; it
// waits for the commit.
func (cm *committer) flushBuffered(ctx context.Context, expire time.Time) (commitRes, error) {
	p, err := cm.submit(ctx, commitReq{flush: true, expire: expire})
	if err != nil {
		return commitRes{}, err
	}
	res := p.result()
	return res, res.err
}

// submit queues req for the next batch without waiting for the commit.
func (cm *committer) submit(ctx context.Context, req commitReq) (*pendingAppend, error) {
	req.done, req.at = make(chan commitRes, 1), time.Now()
	select {
	case cm.queue <- req:
		return &pendingAppend{cm: cm, req: req}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("queue append: %w", ctx.Err())
	case <-cm.stopped:
		return nil, fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
}

// wait returns the outcome of the commit. Once queued, the entries may be
// committed whatever the caller's context does, so wait does not give up
// on them: an acknowledgement is never lost to a timeout race.
func (p *pendingAppend) wait() ([]store.AppendResult, error) {
	res := p.result()
	return res.res, res.err
}

// result is wait with every part of the outcome.
func (p *pendingAppend) result() commitRes {
	select {
	case res := <-p.req.done:
		return res
	case <-p.cm.stopped:
		// run returned: every batch it took was answered, so this request
		// was never taken and is not stored.
		select {
		case res := <-p.req.done:
			return res
		default:
			return commitRes{err: fmt.Errorf("%w: shutting down", ErrUnavailable)}
		}
	}
}

func (cm *committer) run(ctx context.Context) {
	var carry *commitReq // taken from the queue but did not fit the last batch
	batch := make([]commitReq, 0, maxBatch)
	entries := make([]store.Append, 0, maxBatch)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	g := cm.gather
	for {
		batch, entries = batch[:0], entries[:0]
		if carry != nil {
			batch = append(batch, *carry)
			carry = nil
		} else {
			select {
			case r := <-cm.queue:
				g.observe(r.at)
				batch = append(batch, r)
			case <-ctx.Done():
				cm.drain()
				close(cm.stopped)
				return
			}
		}
		n := batch[0].weight()
		// take adds r to the batch, or carries it to the next one if it
		// does not fit; it reports whether the batch can take more.
		take := func(r commitReq) bool {
			g.observe(r.at)
			if n+r.weight() > maxBatch {
				carry = &r
				return false
			}
			batch = append(batch, r)
			n += r.weight()
			return n < maxBatch
		}
		more := n < maxBatch
	fill:
		for more {
			select {
			case r := <-cm.queue:
				more = take(r)
			default:
				break fill
			}
		}
		if more && g.try() {
			added := len(batch)
		gather:
			for more {
				d := g.step(batch[0].at, time.Now())
				if d <= 0 {
					break
				}
				wait.Reset(d)
				select {
				case r := <-cm.queue:
					more = take(r)
				case <-wait.C:
					break gather
				case <-ctx.Done():
					break gather // the batch taken is still committed
				}
			}
			wait.Stop()
			g.record(len(batch) - added)
		}
		for _, r := range batch {
			entries = append(entries, r.entries...)
		}
		cm.flush(batch, entries)
		// Let the senders this batch just answered run before the next
		// batch is taken. With one P (the server pinned to one core), a
		// committer that always finds a request waiting never blocks, and
		// the connections it woke — which read the next send — would wait
		// behind every following commit: batches of 1.2 at 256 MQTT
		// senders instead of 45 (docs/performance.md, b4).
		runtime.Gosched()
	}
}

func (cm *committer) flush(batch []commitReq, entries []store.Append) {
	// The small writes ride in the same transaction: the waiting ones of
	// the batch's requests, and the write buffer if a request flushes it.
	var w, taken store.Writes
	side := false
	for i := range batch {
		r := &batch[i]
		w.Reads = append(w.Reads, r.writes.Reads...)
		w.Releases = append(w.Releases, r.writes.Releases...)
		side = side || r.flush || !r.expire.IsZero()
		if r.expire.After(w.ExpireBefore) {
			w.ExpireBefore = r.expire
		}
	}
	if side && cm.side != nil {
		limit := maxTouchesPerCommit
		if !w.ExpireBefore.IsZero() {
			limit = 0 // every touch before the expiry
		}
		taken = cm.side.takeWrites(limit)
		w.Acks, w.Touches = taken.Acks, taken.Touches
	}
	if len(entries) == 0 && w.Empty() {
		if side && cm.side != nil {
			cm.side.writesDone(taken, store.CommitResult{}, false)
		}
		for _, r := range batch {
			r.done <- commitRes{}
		}
		return
	}
	start := time.Now()
	// The transaction is not cancelled with the server's context: a commit
	// that started finishes, so its senders get their acknowledgements.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var cres store.CommitResult
	var err error
	if w.Empty() {
		cres.Appends, err = cm.st.Append(ctx, entries, cm.now())
	} else {
		cres, err = cm.st.Commit(ctx, entries, w, cm.now())
	}
	cancel()
	results := cres.Appends
	cm.metrics.CommitLatency.Observe(time.Since(start).Seconds())
	if len(entries) > 0 {
		cm.metrics.CommitBatch.Observe(float64(len(entries)))
	}
	if err == nil && (len(results) != len(entries) || len(cres.Reads) != len(w.Reads) || len(cres.Releases) != len(w.Releases)) {
		err = fmt.Errorf("store returned %d results for %d entries, %d for %d reads, %d for %d releases",
			len(results), len(entries), len(cres.Reads), len(w.Reads), len(cres.Releases), len(w.Releases))
	}
	if side && cm.side != nil {
		// A store that answered oddly may not have stored them: buffered
		// again, they are written again (acks and touches only raise).
		cm.side.writesDone(taken, cres, err != nil)
	}
	if err != nil {
		cm.metrics.CommitErrors.Inc()
		cm.log.Error("commit failed", "entries", len(entries), "err", err)
		err = fmt.Errorf("%w: store: %v", ErrUnavailable, err)
		for _, r := range batch {
			r.done <- commitRes{err: err}
		}
		return
	}
	stored := make([]*protocol.Message, 0, len(results))
	for i := range results {
		if results[i].Err == nil && !results[i].Duplicate {
			stored = append(stored, &results[i].Message)
		}
	}
	reqs := append([]commitReq(nil), batch...) // run reuses batch
	cm.committed(func() {
		off, reads, releases := 0, 0, 0
		for _, r := range reqs {
			res := commitRes{
				res:      results[off : off+len(r.entries)],
				reads:    cres.Reads[reads : reads+len(r.writes.Reads)],
				releases: cres.Releases[releases : releases+len(r.writes.Releases)],
			}
			if !r.expire.IsZero() {
				res.expired = cres.Expired
			}
			r.done <- res
			off += len(r.entries)
			reads += len(r.writes.Reads)
			releases += len(r.writes.Releases)
		}
	}, stored...)
}

// drain answers queued requests after shutdown began; they were not stored.
func (cm *committer) drain() {
	for {
		select {
		case r := <-cm.queue:
			r.done <- commitRes{err: fmt.Errorf("%w: shutting down", ErrUnavailable)}
		default:
			return
		}
	}
}

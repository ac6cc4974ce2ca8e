package core

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// maxBatch bounds how many entries share one transaction.
const maxBatch = 256

type commitReq struct {
	entry store.Append
	done  chan commitRes
}

type commitRes struct {
	res store.AppendResult
	err error
}

// committer batches concurrent appends into one store transaction per flush
// (group commit, DESIGN.md §2.2). It waits for nothing: whatever is queued
// while a transaction runs goes into the next one, so the batch size grows
// with the load and a lone send pays one commit.
type committer struct {
	st      store.Store
	metrics *Metrics
	now     func() time.Time
	log     *slog.Logger
	queue   chan commitReq
	stopped chan struct{} // closed when run has returned
	// committed is called after each commit, in commit order, with every
	// newly stored message, before any sender is answered.
	committed func(*protocol.Message)
}

func newCommitter(st store.Store, m *Metrics, now func() time.Time, log *slog.Logger, committed func(*protocol.Message)) *committer {
	return &committer{st: st, metrics: m, now: now, log: log, committed: committed,
		queue: make(chan commitReq, 4*maxBatch), stopped: make(chan struct{})}
}

// append stores one entry through the next batch and returns its result
// once the batch has committed.
func (cm *committer) append(ctx context.Context, e store.Append) (store.AppendResult, error) {
	p, err := cm.enqueue(ctx, e)
	if err != nil {
		return store.AppendResult{}, err
	}
	return p.wait()
}

// pendingAppend is an entry queued for commit.
type pendingAppend struct {
	cm  *committer
	req commitReq
}

// enqueue queues e for the next batch without waiting for the commit.
// Entries are committed in the order they are enqueued, so a connection that
// enqueues its sends one after another gets its seqs in that order.
func (cm *committer) enqueue(ctx context.Context, e store.Append) (*pendingAppend, error) {
	req := commitReq{entry: e, done: make(chan commitRes, 1)}
	select {
	case cm.queue <- req:
		return &pendingAppend{cm: cm, req: req}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("queue append: %w", ctx.Err())
	case <-cm.stopped:
		return nil, fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
}

// wait returns the outcome of the commit. Once queued, the entry may be
// committed whatever the caller's context does, so wait does not give up on
// it: an acknowledgement is never lost to a timeout race.
func (p *pendingAppend) wait() (store.AppendResult, error) {
	select {
	case res := <-p.req.done:
		return res.res, res.err
	case <-p.cm.stopped:
		// run returned: every batch it took was answered, so this request
		// was never taken and is not stored.
		select {
		case res := <-p.req.done:
			return res.res, res.err
		default:
			return store.AppendResult{}, fmt.Errorf("%w: shutting down", ErrUnavailable)
		}
	}
}

func (cm *committer) run(ctx context.Context) {
	batch := make([]commitReq, 0, maxBatch)
	entries := make([]store.Append, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-cm.queue:
			batch = append(batch, r)
		case <-ctx.Done():
			cm.drain()
			close(cm.stopped)
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-cm.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		entries = entries[:0]
		for _, r := range batch {
			entries = append(entries, r.entry)
		}
		cm.flush(batch, entries)
	}
}

func (cm *committer) flush(batch []commitReq, entries []store.Append) {
	start := time.Now()
	// The transaction is not cancelled with the server's context: a commit
	// that started finishes, so its senders get their acknowledgements.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	results, err := cm.st.Append(ctx, entries, cm.now())
	cancel()
	cm.metrics.CommitLatency.Observe(time.Since(start).Seconds())
	cm.metrics.CommitBatch.Observe(float64(len(entries)))
	if err != nil {
		cm.metrics.CommitErrors.Inc()
		cm.log.Error("commit failed", "entries", len(entries), "err", err)
		err = fmt.Errorf("%w: store: %v", ErrUnavailable, err)
	}
	if err == nil {
		for i := range results {
			if results[i].Err == nil && !results[i].Duplicate {
				cm.committed(&results[i].Message)
			}
		}
	}
	for i, r := range batch {
		if err != nil {
			r.done <- commitRes{err: err}
			continue
		}
		r.done <- commitRes{res: results[i]}
	}
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

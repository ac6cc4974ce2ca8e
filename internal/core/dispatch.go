package core

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/protocol"
)

// What is committed is published by two ordered stages, each one goroutine
// running jobs in the order they were queued (DESIGN.md §2.14):
//
//   - the dispatcher fans each committed batch out to this node's clients,
//     then answers the batch's senders (so a sender's own copy is queued
//     to its connection before its acknowledgement, and the two are
//     written together), then hands the batch to the bus stage;
//   - the bus stage publishes to the other nodes, where a slow or stuck
//     broker delays only other nodes' copies (they repair from the store).
//
// Neither holds up the committer: it commits the next batch while the
// stages work. The queues are not bounded: they hold what was committed
// and not yet published, which a slow stage lets grow at the commit rate;
// their length is the parley_dispatch_queue gauge.
type stage struct {
	gauge prometheus.Gauge

	mu      sync.Mutex
	queue   []func()
	stopped bool          // run has returned: add runs jobs itself
	wake    chan struct{} // holds a token while the queue is not empty
}

func newStage(gauge prometheus.Gauge) *stage {
	return &stage{gauge: gauge, wake: make(chan struct{}, 1)}
}

// add queues job after those queued before. It never blocks on the stage;
// once the stage has stopped, the caller runs job itself (a commit that
// finished during shutdown still answers its senders).
func (s *stage) add(job func()) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		job()
		return
	}
	s.queue = append(s.queue, job)
	s.gauge.Add(1)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns the queued jobs and empties the queue; with stop, the
// stage stops taking jobs.
func (s *stage) take(stop bool) []func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	s.stopped = s.stopped || stop
	return q
}

// run runs queued jobs in order until ctx ends; what is queued then runs
// before it returns, and later jobs run in the goroutine that adds them.
func (s *stage) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for _, job := range s.take(true) {
				job()
				s.gauge.Sub(1)
			}
			return
		case <-s.wake:
		}
		for _, job := range s.take(false) {
			job()
			s.gauge.Sub(1)
		}
	}
}

// committed is told of each newly stored batch, in commit order, by the
// committer and the other writers. It does at once what must hold from
// then on (the seqs are known to exist, the member cache forgets changed
// memberships) and queues the rest: fan-out, then answer (nil: nobody
// waits), then the bus.
func (c *Core) committed(answer func(), msgs ...*protocol.Message) {
	for _, m := range msgs {
		c.seenSeqs.raise(m.Conv, m.Seq)
		if m.Kind == protocol.KindMember {
			c.members.invalidate(m.Conv)
		}
	}
	c.dispatch.add(func() {
		evs := make([]*Event, 0, len(msgs))
		for _, m := range msgs {
			if ev := c.publishLocal(m); ev != nil {
				evs = append(evs, ev)
			}
		}
		if answer != nil {
			answer()
		}
		if !c.singleNode && len(evs) > 0 {
			c.busOut.add(func() {
				for _, ev := range evs {
					c.publishBus(ev)
				}
			})
		}
	})
}

package core

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/protocol"
)

// dispatcher hands committed messages, in commit order, to one goroutine
// that publishes them (local fan-out, the bus): the only path by which
// anything stored is published (DESIGN.md §2.14). The committer and the
// other writers (group creation, account erasure) only add to its queue,
// so neither fan-out to thousands of clients nor a slow bus holds up the
// next commit.
//
// The queue is not bounded: it holds what was committed and not yet
// published, which a slow bus lets grow at the commit rate; its length is
// the parley_dispatch_queue gauge. Messages still queued at shutdown are
// not published: devices get them when they resume, from the store.
type dispatcher struct {
	publish func(*protocol.Message)
	gauge   prometheus.Gauge

	mu    sync.Mutex
	queue []*protocol.Message
	wake  chan struct{} // holds a token while the queue is not empty
}

func newDispatcher(publish func(*protocol.Message), gauge prometheus.Gauge) *dispatcher {
	return &dispatcher{publish: publish, gauge: gauge, wake: make(chan struct{}, 1)}
}

// add queues messages for publishing after those queued before. It never
// blocks on the publisher.
func (d *dispatcher) add(msgs ...*protocol.Message) {
	if len(msgs) == 0 {
		return
	}
	d.mu.Lock()
	d.queue = append(d.queue, msgs...)
	d.gauge.Set(float64(len(d.queue)))
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// take returns everything queued and empties the queue.
func (d *dispatcher) take() []*protocol.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queue
	d.queue = nil
	d.gauge.Set(0)
	return q
}

// run publishes queued messages in order until ctx ends.
func (d *dispatcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		for _, m := range d.take() {
			d.publish(m)
		}
	}
}

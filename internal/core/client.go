package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Transport is what a gateway gives the core for one connection.
type Transport interface {
	// Send writes one event. It is called from the client's writer goroutine
	// only, and should give up after the write timeout in ctx (or its own,
	// see SelfTimed).
	Send(ctx context.Context, ev *Event) error
	// Close ends the connection with a protocol close code and reason. It may
	// be called from any goroutine, more than once.
	Close(code int, reason string)
}

// Batcher is a Transport that can write several events at once: the
// client's writer calls Hold before a run of queued events and Flush after
// it (at most maxRun events), so that a gateway can write the run with one
// system call instead of one per event.
type Batcher interface {
	Hold()
	Flush() error
}

// SelfTimed is a Transport that may bound each of its writes by the write
// timeout itself (a deadline on its connection). When SelfTimed reports
// true, Send gets a context without a deadline: no timer and no context
// per event, which at 10,000 members is a tenth of a fan-out delivery's
// CPU (docs/performance.md, b2).
type SelfTimed interface {
	SelfTimed() bool
}

// maxRun bounds the events written between Hold and Flush.
const maxRun = 64

// Identity is an authenticated (user, device).
type Identity struct {
	User    string
	Device  string
	Session string // empty for application-signed tokens
	// App is set for an application-signed token; Issued is when it was
	// issued (zero if it says nothing), checked again by Attach against
	// revocations. A password sign-in (MQTT) has neither a session nor App.
	App    bool
	Issued time.Time
}

// Client is one attached connection. Everything written to it goes through
// its bounded queue and its one writer goroutine, which also owns the
// per-conversation delivery cursors: a message is written only if its seq
// follows the cursor; a gap is filled from the store; a repeat is dropped.
type Client struct {
	core  *Core
	id    Identity
	t     Transport
	proto string // the transport's protocol, for the metrics
	// delivered counts this connection's deliveries (Deliveries for its
	// protocol, looked up once rather than per delivery).
	delivered prometheus.Counter

	queue       chan *Event
	queuedBytes atomic.Int64
	live        atomic.Bool // resumed: receives message events
	// catchUpQueued: a catch-up of every conversation (cluster.go) is in
	// the queue.
	catchUpQueued atomic.Bool
	// attached is when Attach made the client (wall clock: nodes compare
	// it in a takeover).
	attached time.Time

	// While syncing (a resume in progress), message events are not queued:
	// their conversations are marked dirty and read from the store after
	// the resume, so a long resume under live traffic cannot overflow the
	// queue.
	syncMu    sync.Mutex
	syncing   bool
	dirty     map[string]bool
	syncHolds int // broadcasts whose copies go through the store, marked dirty too (broadcast.go)
	closeOnce sync.Once
	done      chan struct{}
	exited    chan struct{}

	// owned by the writer goroutine
	cursors map[string]uint64
	fresh   bool // the device had no positions (stored or buffered) at resume
	fromNow bool // a live-only resume is in progress (see ResumeLive)
	stored  map[string]uint64
	subs    map[string]bool
}

// Identity returns who is connected.
func (cl *Client) Identity() Identity { return cl.id }

// takeoverReason is the close reason of a connection another connection
// of its device took over.
const takeoverReason = "another connection of this device took over"

// Attach registers a connection for id. The writer goroutine runs until the
// client is closed. Message events start flowing after Resume.
//
// Attach refuses, with a *ratelimit.Error and without touching t, a device
// that is banned for connecting too often (ratelimit.LimitFlapping) and a
// user who already has rate_limits.connections_per_user connections on this
// node (ratelimit.LimitConnUser); the gateway tells the client and closes.
// A connection of a device that is already connected takes its place (the
// older one is closed with CloseTakeover) and is not refused for the count.
func (c *Core) Attach(id Identity, t Transport) (*Client, error) {
	if c.flapping != nil {
		if wait := c.flapping.Connect(id.User + "/" + id.Device); wait > 0 {
			c.metrics.RateLimited.WithLabelValues(ratelimit.LimitFlapping).Inc()
			return nil, &ratelimit.Error{Limit: ratelimit.LimitFlapping, RetryAfter: wait,
				Msg: fmt.Sprintf("this device connected more than %d times in a minute and may not connect again before retry_after_ms",
					c.rateLimits.FlappingPerMinute)}
		}
	}
	cl := &Client{
		core: c, id: id, t: t, proto: transportProtocol(t), attached: time.Now(),
		delivered: c.metrics.Deliveries.WithLabelValues(transportProtocol(t)),
		queue:     make(chan *Event, c.limits.OutboundQueueMessages),
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
		cursors:   make(map[string]uint64),
		subs:      make(map[string]bool),
	}
	n, replaced, ok := c.hub.add(cl, c.rateLimits.ConnectionsPerUser)
	if !ok {
		c.metrics.RateLimited.WithLabelValues(ratelimit.LimitConnUser).Inc()
		return nil, &ratelimit.Error{Limit: ratelimit.LimitConnUser, RetryAfter: ratelimit.BusyRetry,
			Msg: fmt.Sprintf("this user already has %d connections, the most allowed; close one or retry later", n)}
	}
	if replaced != nil {
		replaced.Close(protocol.CloseTakeover, takeoverReason)
	}
	if !c.singleNode {
		// The device's connections on other nodes, older than this one,
		// are taken over too (an MQTT session moving to this node).
		c.invalidateCluster(invalidation{Close: &closeSel{User: id.User, Device: id.Device,
			Code: protocol.CloseTakeover, Reason: takeoverReason, Before: cl.attached.UnixNano()}})
	}
	if n == 1 {
		c.presence.cameOnline(id.User)
	}
	_ = c.bus.Subscribe(context.Background(), userTopic(id.User))
	c.metrics.Connections.WithLabelValues(cl.proto).Inc()
	go cl.writer()
	if c.revokedSince(id) {
		// Revoked between Authenticate and now (revocation.go): closed
		// as a revocation after attaching is, and not registered again.
		cl.Close(protocol.CloseRevoked, "credentials revoked")
		return cl, nil
	}
	c.touchDevice(id.User, id.Device, c.now()) // with the next flush, no transaction of its own
	return cl, nil
}

// Close detaches the client and closes its transport with code and reason.
// Safe to call more than once and from any goroutine.
func (cl *Client) Close(code int, reason string) {
	cl.closeOnce.Do(func() {
		close(cl.done)
		c := cl.core
		if c.hub.remove(cl) == 0 {
			c.presence.changed(cl.id.User)
		}
		_ = c.bus.Unsubscribe(context.Background(), userTopic(cl.id.User))
		c.metrics.Connections.WithLabelValues(cl.proto).Dec()
		c.metrics.Disconnects.WithLabelValues(closeReason(code)).Inc()
		cl.t.Close(code, reason)
	})
}

// Done is closed when the client is closed.
func (cl *Client) Done() <-chan struct{} { return cl.done }

// Enqueue queues ev for the connection without blocking. If the queue is
// over its message or byte limit the client is disconnected as a slow
// consumer: it resumes from its position, nothing stored is lost.
func (cl *Client) Enqueue(ev *Event) {
	select {
	case <-cl.done:
		return
	default:
	}
	if ev.Type == protocol.TypeMsg && cl.markDirty(ev.Conv) {
		return
	}
	if err := ev.Encode(); err != nil {
		cl.core.log.Error("event dropped", "user", cl.id.User, "device", cl.id.Device, "err", err)
		return
	}
	sz := int64(ev.size())
	if cl.queuedBytes.Add(sz) > int64(cl.core.limits.OutboundQueueBytes) {
		cl.queuedBytes.Add(-sz)
		cl.overflow()
		return
	}
	select {
	case cl.queue <- ev:
	default:
		cl.queuedBytes.Add(-sz)
		cl.overflow()
	}
}

func (cl *Client) overflow() {
	cl.core.metrics.QueueOverflows.Inc()
	cl.Close(protocol.CloseSlowConsumer, "outbound queue full: reconnect and resume")
}

// Reply queues a reply to request id.
func (cl *Client) Reply(id, typ string, data any) {
	cl.Enqueue(&Event{Type: typ, ID: id, Data: data})
}

// ReplyError queues an error reply to request id for err.
func (cl *Client) ReplyError(id string, err error) {
	cl.Enqueue(&Event{Type: protocol.TypeError, ID: id, Err: ToProtocol(err)})
}

// Resume asks for everything the device has not acknowledged, after which
// live messages flow. positions, if not nil, override the stored ones.
// The stream ends with a TypeResumed reply to id.
//
// A resume reads every conversation of the user: it is a query of the
// user's budget, and a refusal is an error reply to id.
func (cl *Client) Resume(id string, positions map[string]uint64) {
	if err := cl.core.budget.spend(cl.id.User, opQuery); err != nil {
		cl.ReplyError(id, err)
		return
	}
	cl.syncMu.Lock()
	cl.syncing = true
	cl.syncMu.Unlock()
	cl.live.Store(true)
	cl.Enqueue(&Event{Type: typeResume, ID: id, Data: positions})
}

// ResumeLive starts live delivery without a catch-up: each conversation's
// cursor starts at its newest message, so the connection receives only what
// is committed from now on (an MQTT clean session: the protocol promises no
// messages from before it subscribed). The device's stored positions are
// left as they are. The stream ends with a TypeResumed reply to id.
func (cl *Client) ResumeLive(id string) {
	cl.syncMu.Lock()
	cl.syncing = true
	cl.syncMu.Unlock()
	cl.live.Store(true)
	cl.Enqueue(&Event{Type: typeResume, ID: id, Data: resumeLive{}})
}

// resumeLive marks a typeResume event of ResumeLive.
type resumeLive struct{}

func (cl *Client) writer() {
	defer close(cl.exited)
	defer cl.unsubscribeAll()
	for {
		select {
		case <-cl.done:
			return
		case ev := <-cl.queue:
			err := cl.writeRun(ev)
			if err != nil {
				cl.core.log.Debug("write failed", "user", cl.id.User, "device", cl.id.Device, "err", err)
				cl.Close(protocol.CloseWriteFailed, "write failed: reconnect and resume")
				return
			}
		}
	}
}

// writeRun writes ev and, through a Batcher, what else is queued (up to
// maxRun events), held together and flushed at the end.
func (cl *Client) writeRun(ev *Event) error {
	b, batching := cl.t.(Batcher)
	if !batching {
		return cl.write(ev)
	}
	write := func(ev *Event) error {
		if ev.Type == typeResume {
			// A resume writes page after page as it reads them: not
			// held, so the first pages do not wait for the last.
			if err := b.Flush(); err != nil {
				return err
			}
			defer b.Hold()
		}
		return cl.write(ev)
	}
	b.Hold()
	err := write(ev)
	for n := 1; err == nil && n < maxRun; n++ {
		select {
		case ev = <-cl.queue:
			err = write(ev)
		default:
			n = maxRun
		}
	}
	if ferr := b.Flush(); err == nil {
		err = ferr
	}
	return err
}

// write writes one event taken from the queue.
func (cl *Client) write(ev *Event) error {
	cl.queuedBytes.Add(-int64(ev.size()))
	switch ev.Type {
	case typeResume:
		pos, _ := ev.Data.(map[string]uint64)
		_, cl.fromNow = ev.Data.(resumeLive)
		return cl.resume(ev.ID, pos)
	case protocol.TypeMsg:
		return cl.deliver(ev)
	case typeSync:
		return cl.syncDirty()
	case typeCatchUp:
		if ev.Conv != "" {
			return cl.catchUpConv(ev.Conv)
		}
		return cl.catchUpAll()
	}
	return cl.send(ev)
}

func (cl *Client) send(ev *Event) error {
	if err := ev.Encode(); err != nil {
		cl.core.log.Error("event dropped", "user", cl.id.User, "device", cl.id.Device, "err", err)
		return nil
	}
	if st, ok := cl.t.(SelfTimed); ok && st.SelfTimed() {
		return cl.t.Send(context.Background(), ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.core.to.WriteTimeout)
	defer cancel()
	return cl.t.Send(ctx, ev)
}

// deliver writes a message event in cursor order, filling a gap from the
// store and dropping a repeat.
func (cl *Client) deliver(ev *Event) error {
	cur, ok, err := cl.cursor(ev.Conv, nil)
	if err != nil || !ok {
		return err
	}
	switch {
	case ev.Seq <= cur:
		return nil
	case ev.Seq == cur+1:
		if err := cl.send(ev); err != nil {
			return err
		}
		cl.cursors[ev.Conv] = ev.Seq
	default:
		if _, err := cl.catchUp(ev.Conv, cur, ev.Seq); err != nil {
			return err
		}
	}
	if m := ev.Msg; m != nil && selfLeft(m, cl.id.User) {
		cl.forget(ev.Conv)
	}
	return nil
}

// cursor returns the delivery cursor of conv, creating it if needed from
// override, else the device's position (see startPosition), never below
// where the user joined nor below what retention purged. ok is false if
// the user is not a member.
func (cl *Client) cursor(conv string, override map[string]uint64) (cur uint64, ok bool, err error) {
	if cur, ok := cl.cursors[conv]; ok {
		return cur, true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.core.to.WriteTimeout)
	defer cancel()
	m, err := cl.core.st.Member(ctx, conv, cl.id.User)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("member %s: %w", conv, err)
	}
	cv, err := cl.core.st.Conversation(ctx, conv)
	if err != nil {
		return 0, false, fmt.Errorf("conversation %s: %w", conv, err)
	}
	pos, given := override[conv]
	switch {
	case cl.fromNow:
		pos = cv.LastSeq
	case !given:
		pos = cl.startPosition(conv, m)
	}
	// A member never gets what was said before they joined, whatever
	// position the client or a stale record names; what was purged is gone
	// (a purge after this point leaves a gap that catchUp steps over).
	pos = max(pos, m.JoinedSeq, cv.PurgedSeq)
	cl.setCursor(conv, pos)
	return pos, true, nil
}

// resume streams, per conversation, everything after the device's position,
// then what arrived meanwhile, then ends with a resumed frame to id.
func (cl *Client) resume(id string, override map[string]uint64) error {
	c := cl.core
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	convs, err := c.st.UserConversations(ctx, cl.id.User)
	if err == nil {
		// The buffered positions first, then the stored ones: a position
		// a flush moves to the store after the first read is in the second.
		buffered := c.acks.device(cl.id.User, cl.id.Device)
		cl.stored, err = c.devicePositions(ctx, cl.id.User, cl.id.Device)
		for conv, p := range buffered {
			if p > cl.stored[conv] {
				cl.stored[conv] = p
			}
		}
		cl.fresh = len(cl.stored) == 0
	}
	cancel()
	if err != nil {
		// Nothing was resumed: back to waiting for a resume, so no live
		// message is written out of order; the client retries.
		cl.live.Store(false)
		cl.syncMu.Lock()
		cl.syncing, cl.dirty = false, nil
		cl.syncMu.Unlock()
		cl.ReplyErrorNow(id, err)
		return nil
	}
	var res protocol.Resumed
	for _, conv := range convs {
		if _, given := override[conv]; given {
			// The client's position wins over one this connection had (a
			// second resume on the same connection).
			delete(cl.cursors, conv)
		}
		cur, ok, err := cl.cursor(conv, override)
		if err != nil {
			return err
		}
		if !ok {
			continue // left since the list was read
		}
		n, err := cl.catchUp(conv, cur, 0)
		if err != nil {
			return err
		}
		if n > 0 {
			res.Conversations++
			res.Messages += n
		}
	}
	// Conversations that appear from now on are new to this device too: it
	// gets them from where the user joined, not from the read position (nor
	// from their newest message: a live-only resume ends here).
	cl.fresh, cl.fromNow = false, false
	// What arrived during the resume was marked dirty: read it from the
	// store until nothing is left, then switch to live delivery.
	for dirty := cl.takeDirty(); dirty != nil; dirty = cl.takeDirty() {
		for conv := range dirty {
			cur, ok, err := cl.cursor(conv, nil)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			n, err := cl.catchUp(conv, cur, 0)
			if err != nil {
				return err
			}
			res.Messages += n
		}
	}
	return cl.send(&Event{Type: protocol.TypeResumed, ID: id, Data: &res})
}

// markDirty records that conv has news while a resume, or a broadcast's
// sync (broadcast.go), is in progress and reports whether it did (false:
// deliver the event normally).
func (cl *Client) markDirty(conv string) bool {
	cl.syncMu.Lock()
	defer cl.syncMu.Unlock()
	if !cl.syncing && cl.syncHolds == 0 {
		return false
	}
	if cl.dirty == nil {
		cl.dirty = make(map[string]bool)
	}
	cl.dirty[conv] = true
	return true
}

// takeDirty returns the conversations marked dirty, or nil, ending the
// sync, if there are none.
// resuming reports whether a resume is in progress.
func (cl *Client) resuming() bool {
	cl.syncMu.Lock()
	defer cl.syncMu.Unlock()
	return cl.syncing
}

func (cl *Client) takeDirty() map[string]bool {
	cl.syncMu.Lock()
	defer cl.syncMu.Unlock()
	d := cl.dirty
	cl.dirty = nil
	if len(d) == 0 {
		cl.syncing = false
		return nil
	}
	return d
}

// ReplyErrorNow writes an error reply from the writer goroutine itself.
func (cl *Client) ReplyErrorNow(id string, err error) {
	_ = cl.send(&Event{Type: protocol.TypeError, ID: id, Err: ToProtocol(err)})
}

// startPosition is where delivery of conv starts for this device, given
// the member record m: its acknowledged position (buffered or stored); for
// a device that never acknowledged anything, the user's read position (and
// that is recorded as its position); otherwise (a conversation the device
// has no position in yet) where the user joined.
func (cl *Client) startPosition(conv string, m store.Member) uint64 {
	c := cl.core
	stored, hasStored := cl.stored[conv]
	if p, ok := c.acks.pending(cl.id.User, cl.id.Device, conv); ok && p > stored {
		return p
	}
	if hasStored {
		return stored
	}
	pos := m.JoinedSeq
	if cl.fresh && m.ReadSeq > pos {
		pos = m.ReadSeq
	}
	c.acks.addStart(cl.id.User, cl.id.Device, conv, pos)
	return pos
}

func (cl *Client) setCursor(conv string, pos uint64) {
	cl.cursors[conv] = pos
	if !cl.subs[conv] {
		cl.subs[conv] = true
		if cl.core.subscribeConv(conv) && !cl.resuming() {
			// A conversation met live (its first message): what followed
			// before the subscription is read from the store, after what
			// the writer is doing now (setCursor is called from it). A
			// resume reads it anyway.
			cl.Enqueue(&Event{Type: typeCatchUp, Conv: conv})
		}
	}
}

func (cl *Client) unsubscribe(conv string) {
	if cl.subs[conv] {
		delete(cl.subs, conv)
		cl.core.unsubscribeConv(conv)
	}
}

func (cl *Client) unsubscribeAll() {
	for conv := range cl.subs {
		cl.unsubscribe(conv)
	}
}

package core

import (
	"context"
	"fmt"
	"sync"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

type devID struct{ user, device string }

// devPositions is one device's positions by conversation.
type devPositions map[string]uint64

// ackBuffer collects device acknowledgements between flushes, keeping the
// highest seq per (user, device, conversation). Positions lost in a crash
// are at most one flush interval old: those messages are delivered again
// and the SDKs drop them by id (DESIGN.md §2.5). Positions are indexed by
// device so that a resume can take a device's snapshot cheaply.
type ackBuffer struct {
	mu       sync.Mutex
	pend     map[devID]devPositions
	inflight map[devID]devPositions // taken by a running flush, not yet stored
	// starts marks the pending positions that are where a new device
	// starts, not acknowledgements: stored without raising DeliveredSeq.
	starts map[devID]map[string]bool
}

func newAckBuffer() *ackBuffer {
	return &ackBuffer{pend: make(map[devID]devPositions), inflight: make(map[devID]devPositions),
		starts: make(map[devID]map[string]bool)}
}

// add records an acknowledged position; it returns false if it does not
// raise the known one.
func (b *ackBuffer) add(user, device, conv string, seq uint64) bool {
	return b.record(user, device, conv, seq, false)
}

// addStart records where a device that acknowledged nothing starts in
// conv: its position, but no acknowledgement (DeliveredSeq stays).
func (b *ackBuffer) addStart(user, device, conv string, seq uint64) {
	b.record(user, device, conv, seq, true)
}

func (b *ackBuffer) record(user, device, conv string, seq uint64, start bool) bool {
	k := devID{user, device}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.pend[k][conv]; ok && old >= seq {
		return false
	}
	if old, ok := b.inflight[k][conv]; ok && old >= seq {
		return false
	}
	positionsOf(b.pend, k)[conv] = seq
	b.markStart(k, conv, start)
	return true
}

// markStart sets or clears the start mark of k's pending position in conv.
func (b *ackBuffer) markStart(k devID, conv string, start bool) {
	if start {
		if b.starts[k] == nil {
			b.starts[k] = make(map[string]bool)
		}
		b.starts[k][conv] = true
		return
	}
	if m := b.starts[k]; m != nil {
		delete(m, conv)
		if len(m) == 0 {
			delete(b.starts, k)
		}
	}
}

// positionsOf returns k's positions in m, adding an empty set if it has none.
func positionsOf(m map[devID]devPositions, k devID) devPositions {
	p := m[k]
	if p == nil {
		p = make(devPositions)
		m[k] = p
	}
	return p
}

// pending returns the unflushed position of a device in a conversation.
func (b *ackBuffer) pending(user, device, conv string) (uint64, bool) {
	k := devID{user, device}
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.pend[k][conv]
	if q, ok2 := b.inflight[k][conv]; ok2 && q > p {
		return q, true
	}
	return p, ok
}

// device returns a copy of every unflushed position of a device. Taken
// before the device's stored positions are read, it closes the window in
// which a flush moves a position from the buffer to the store between the
// two reads (a position is in the buffer until its flush has stored it).
func (b *ackBuffer) device(user, device string) devPositions {
	k := devID{user, device}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(devPositions, len(b.pend[k])+len(b.inflight[k]))
	for _, m := range []devPositions{b.inflight[k], b.pend[k]} {
		for conv, s := range m {
			out[conv] = max(out[conv], s)
		}
	}
	return out
}

// take moves the pending positions to in-flight and returns them.
func (b *ackBuffer) take() []store.DeviceAck {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pend) == 0 {
		return nil
	}
	var out []store.DeviceAck
	for k, m := range b.pend {
		in := positionsOf(b.inflight, k)
		for conv, s := range m {
			out = append(out, store.DeviceAck{User: k.user, Device: k.device, Conv: conv, Seq: s, Start: b.starts[k][conv]})
			in[conv] = max(in[conv], s)
		}
	}
	b.pend = make(map[devID]devPositions)
	b.starts = make(map[devID]map[string]bool)
	return out
}

// done ends a flush: stored positions leave in-flight; failed ones go back
// to pending.
func (b *ackBuffer) done(acks []store.DeviceAck, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range acks {
		k := devID{a.User, a.Device}
		in := b.inflight[k]
		inflight, still := in[a.Conv]
		if !still {
			continue // the device was dropped during the flush
		}
		if failed && a.Seq > b.pend[k][a.Conv] {
			positionsOf(b.pend, k)[a.Conv] = a.Seq
			b.markStart(k, a.Conv, a.Start)
		}
		if inflight <= a.Seq {
			delete(in, a.Conv)
			if len(in) == 0 {
				delete(b.inflight, k)
			}
		}
	}
}

// drop forgets the buffered positions of a device, or of all the user's
// devices if device is "" (after it was revoked or the user erased).
func (b *ackBuffer) drop(user, device string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.starts {
		if k.user == user && (device == "" || k.device == device) {
			delete(b.starts, k)
		}
	}
	for _, m := range []map[devID]devPositions{b.pend, b.inflight} {
		if device != "" {
			delete(m, devID{user, device})
			continue
		}
		for k := range m {
			if k.user == user {
				delete(m, k)
			}
		}
	}
}

// devicePositions returns the device's stored positions (the buffered ones
// are consulted separately, see Client.startPosition).
func (c *Core) devicePositions(ctx context.Context, user, device string) (map[string]uint64, error) {
	pos, err := c.st.DevicePositions(ctx, user, device)
	if err != nil {
		return nil, fmt.Errorf("device positions: %w", err)
	}
	return pos, nil
}

// Ack is a client's explicit acknowledgement (an ack op or request, the
// MQTT ack topic): AckDelivered within the user's operation budget.
func (c *Core) Ack(ctx context.Context, id Identity, conv string, seq uint64) error {
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	return c.AckDelivered(ctx, id, conv, seq)
}

// AckDelivered records that id's device received everything of conv up to
// seq (cumulative). In a direct conversation the peer gets a delivered
// receipt. A gateway calls it directly for the acknowledgement a protocol
// makes of each delivery (an MQTT PUBACK): those are bounded by what was
// delivered, not by a budget.
func (c *Core) AckDelivered(ctx context.Context, id Identity, conv string, seq uint64) error {
	if err := ValidateConvID(conv); err != nil {
		return err
	}
	if seq == 0 {
		return badField("seq", "is required")
	}
	ok, err := c.members.isMember(ctx, conv, id.User)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("conversation %s: %w", conv, store.ErrNotFound)
	}
	// A device cannot acknowledge what does not exist yet. The seqs this
	// node has seen committed or announced answer most acks without a store
	// read; an ack beyond them is checked against the store.
	if seq > c.seenSeqs.get(conv) {
		cv, err := c.st.Conversation(ctx, conv)
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		c.seenSeqs.raise(conv, cv.LastSeq)
		seq = min(seq, cv.LastSeq)
	}
	if seq == 0 || !c.acks.add(id.User, id.Device, conv, seq) {
		return nil
	}
	c.metrics.Acks.Inc()
	if peer, ok := c.directPeer(ctx, conv, id.User); ok && c.raiseDelivered(ctx, id.User, conv, seq) && !c.receiptBlocked(ctx, id.User, peer) {
		c.sendToUser(peer, protocol.TypeReceipt, &protocol.Receipt{Conv: conv, User: id.User, Delivered: seq})
	}
	return nil
}

// raiseDelivered records that one of user's devices has conv up to seq and
// reports whether that raises the user's delivered position (the highest
// over all their devices), so receipts never go backwards.
func (c *Core) raiseDelivered(ctx context.Context, user, conv string, seq uint64) bool {
	k := userConv{user, conv}
	c.deliveredMu.Lock()
	known, ok := c.delivered[k]
	c.deliveredMu.Unlock()
	if !ok {
		if m, err := c.st.Member(ctx, conv, user); err == nil {
			known = m.DeliveredSeq
		}
	}
	c.deliveredMu.Lock()
	defer c.deliveredMu.Unlock()
	if cur := c.delivered[k]; cur > known {
		known = cur
	}
	if seq <= known {
		return false
	}
	if len(c.delivered) >= maxDeliveredCache {
		c.delivered = make(map[userConv]uint64)
	}
	c.delivered[k] = seq
	return true
}

type userConv struct{ user, conv string }

// maxDeliveredCache bounds the in-memory delivered positions; past it the
// cache starts over (and reloads from the store).
const maxDeliveredCache = 1 << 20

// directPeer returns the other member of a direct conversation.
func (c *Core) directPeer(ctx context.Context, conv, user string) (string, bool) {
	if ConvKind(conv) != protocol.ConvDirect {
		return "", false
	}
	ids, err := c.members.get(ctx, conv)
	if err != nil {
		return "", false
	}
	for _, u := range ids {
		if u != user {
			return u, true
		}
	}
	return "", false
}

// Read moves id's user's read position in conv up to seq and tells all of
// the user's devices the new unread counts; a direct peer gets a read
// receipt. It returns the new read state.
func (c *Core) Read(ctx context.Context, id Identity, conv string, seq uint64) (protocol.ReadState, error) {
	if err := ValidateConvID(conv); err != nil {
		return protocol.ReadState{}, err
	}
	if seq == 0 {
		return protocol.ReadState{}, badField("seq", "is required")
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.ReadState{}, err
	}
	// Durable before the reply (it carries the new unread), in the
	// committer's next transaction rather than one of its own.
	pos, err := c.setRead(ctx, conv, id.User, seq)
	if err != nil {
		return protocol.ReadState{}, fmt.Errorf("set read: %w", err)
	}
	unread, err := c.st.Unread(ctx, conv, id.User, pos)
	if err != nil {
		return protocol.ReadState{}, fmt.Errorf("unread: %w", err)
	}
	_, _, total, err := c.st.ListConversations(ctx, id.User, "", 1)
	if err != nil {
		return protocol.ReadState{}, fmt.Errorf("total unread: %w", err)
	}
	st := protocol.ReadState{Conv: conv, Seq: pos, Unread: unread, TotalUnread: total}
	c.sendToUser(id.User, protocol.TypeRead, &st)
	if peer, ok := c.directPeer(ctx, conv, id.User); ok && !c.receiptBlocked(ctx, id.User, peer) {
		c.sendToUser(peer, protocol.TypeReceipt, &protocol.Receipt{Conv: conv, User: id.User, Read: pos})
	}
	return st, nil
}

package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// The small writes (DESIGN.md §2.14, ADR 0006) never run a transaction of
// their own while the server runs: they ride in the committer's.
//
//   - A read position and a QoS 2 release answer the client with their
//     result, so they are durable before the answer: Read and
//     ReleasePacketKey queue them to the committer like a send and wait
//     for the commit of the batch that takes them.
//   - Device acks and device touches (last seen) answer nothing: they are
//     buffered (ackBuffer, touchBuffer) and flushed by a request to the
//     committer every AckFlushInterval, which joins whatever batch is next.
//     A crash loses at most the last interval of them.
//   - The device expiry pass touches every connected device and expires
//     the rest in one such flush (a few, past maxTouchesPerCommit devices).

// touchBuffer collects the devices seen since the last flush, each with the
// latest time it was seen.
type touchBuffer struct {
	mu   sync.Mutex
	pend map[devID]time.Time
}

func newTouchBuffer() *touchBuffer {
	return &touchBuffer{pend: make(map[devID]time.Time)}
}

// add records that the device was seen at t.
func (b *touchBuffer) add(user, device string, t time.Time) {
	k := devID{user, device}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.pend[k]; !ok || t.After(old) {
		b.pend[k] = t
	}
}

// len returns how many devices wait for a flush.
func (b *touchBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pend)
}

// take removes and returns up to limit touches (limit <= 0: all).
func (b *touchBuffer) take(limit int) []store.DeviceTouch {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.pend)
	if limit > 0 {
		n = min(n, limit)
	}
	if n == 0 {
		return nil
	}
	out := make([]store.DeviceTouch, 0, n)
	for k, t := range b.pend {
		if len(out) == n {
			break
		}
		out = append(out, store.DeviceTouch{User: k.user, Device: k.device, At: t})
		delete(b.pend, k)
	}
	return out
}

// putBack returns the touches of a failed flush to the buffer.
func (b *touchBuffer) putBack(ts []store.DeviceTouch) {
	for _, t := range ts {
		b.add(t.User, t.Device, t.At)
	}
}

// drop forgets the pending touch of a device, or of all the user's devices
// if device is "", and reports whether there was one.
func (b *touchBuffer) drop(user, device string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if device != "" {
		k := devID{user, device}
		_, ok := b.pend[k]
		delete(b.pend, k)
		return ok
	}
	found := false
	for k := range b.pend {
		if k.user == user {
			delete(b.pend, k)
			found = true
		}
	}
	return found
}

// empty reports whether no ack waits for a flush.
func (b *ackBuffer) empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pend) == 0
}

// touchDevice marks a device seen at t with the next flush.
func (c *Core) touchDevice(user, device string, t time.Time) {
	c.touches.add(user, device, t)
}

// takeWrites is the committer's writeSource: it takes the buffered acks
// and up to limit touches and holds flushMu until writesDone, so that no
// revocation deletes a device between this take and the commit that might
// write its positions again.
func (c *Core) takeWrites(limit int) store.Writes {
	c.flushMu.Lock()
	return store.Writes{Acks: c.acks.take(), Touches: c.touches.take(limit)}
}

// writesDone ends takeWrites: stored acks leave the ack buffer, failed
// writes go back to the buffers, and an expired device's writes buffered
// meanwhile are forgotten.
func (c *Core) writesDone(w store.Writes, res store.CommitResult, failed bool) {
	defer c.flushMu.Unlock()
	c.acks.done(w.Acks, failed)
	if failed {
		c.touches.putBack(w.Touches)
	}
	for _, d := range res.Expired {
		c.dropBuffered(d.User, d.ID)
		c.seenMu.Lock()
		delete(c.lastSeen, devID{user: d.User, device: d.ID})
		c.seenMu.Unlock()
	}
}

// dropBuffered forgets the buffered acks and touch of a device (device "":
// of all the user's devices) and reports whether a touch was pending. The
// caller holds flushMu.
func (c *Core) dropBuffered(user, device string) (touched bool) {
	c.acks.drop(user, device)
	return c.touches.drop(user, device)
}

func (c *Core) runFlusher(ctx context.Context) {
	t := time.NewTicker(c.to.AckFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c.acks.empty() && c.touches.len() == 0 {
				continue
			}
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := c.flushWrites(fctx); err != nil && ctx.Err() == nil {
				c.log.Warn("flush acks and device touches", "err", err)
			}
			cancel()
		}
	}
}

// flushWrites commits the buffered acks and device touches with the
// committer's next batch and waits for it; past maxTouchesPerCommit
// touches it takes a few batches.
func (c *Core) flushWrites(ctx context.Context) error {
	n := 1 + c.touches.len()/maxTouchesPerCommit
	for range n {
		if _, err := c.commit.flushBuffered(ctx, time.Time{}); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	return nil
}

// flushDirect writes the buffers in a transaction of their own; Run calls
// it once the committer has stopped.
func (c *Core) flushDirect(ctx context.Context) error {
	w := c.takeWrites(0)
	var res store.CommitResult
	var err error
	if !w.Empty() {
		res, err = c.st.Commit(ctx, nil, w, c.now())
	}
	c.writesDone(w, res, err != nil)
	if err != nil {
		return fmt.Errorf("save %d acks and %d device touches: %w", len(w.Acks), len(w.Touches), err)
	}
	return nil
}

// ReleasePacketKey frees user's packet key (SendRequest.PacketKey: an MQTT
// QoS 2 packet id released by PUBREL) with the committer's next batch:
// durable when it returns nil, so that the client, told the id is free
// (PUBCOMP), may use it for a new message at once. The message that held
// it does not change. Releasing a key nothing holds does nothing.
func (c *Core) ReleasePacketKey(ctx context.Context, user, key string) error {
	res, err := c.commit.write(ctx, store.Writes{Releases: []store.Release{{Sender: user, PacketKey: key}}})
	if err == nil {
		err = res.releases[0]
	}
	if err != nil {
		return fmt.Errorf("release packet key: %w", err)
	}
	return nil
}

// setRead raises user's read position in conv to seq with the committer's
// next batch and returns the new position once it is durable.
func (c *Core) setRead(ctx context.Context, conv, user string, seq uint64) (uint64, error) {
	res, err := c.commit.write(ctx, store.Writes{Reads: []store.ReadPosition{{Conv: conv, User: user, Seq: seq}}})
	if err != nil {
		return 0, err
	}
	r := res.reads[0]
	if r.Err != nil {
		return 0, r.Err
	}
	return r.Seq, nil
}

// revokeBuffered drops the buffered writes of a device before deleting it
// with del, under flushMu; a device known only to the touch buffer (seen,
// never stored yet) counts as deleted.
func (c *Core) revokeBuffered(user, device string, del func() error) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	touched := c.dropBuffered(user, device)
	err := del()
	if touched && errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

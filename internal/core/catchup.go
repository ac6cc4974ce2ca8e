package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// resumePageSize is how many messages one resume or gap-repair page carries
// at most; PageMaxBytes bounds it in bytes too.
const resumePageSize = 100

// window is what of one conversation a device may be sent (DESIGN.md
// §2.13), as catchUp learns it page by page. A member sees what follows
// the seq they joined at. Below that, a cursor left from an earlier
// membership may still be followed, contiguously, up to and including the
// user's own removal or leave; after it nothing is sent until the seq of
// the current joining. A jump in seqs there means retention purged where
// the earlier membership ended, so that remainder is given up.
type window struct {
	member bool
	joined uint64 // meaningful when member
	closed bool   // the earlier membership's remainder has ended
	expect uint64 // the next seq of that remainder
}

// loadWindow reads the user's membership of conv for a catch-up that
// starts after from.
func (cl *Client) loadWindow(conv string, from uint64) (window, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cl.core.to.WriteTimeout)
	defer cancel()
	w := window{expect: from + 1}
	m, err := cl.core.st.Member(ctx, conv, cl.id.User)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return w, fmt.Errorf("member %s: %w", conv, err)
	default:
		w.member, w.joined = true, m.JoinedSeq
	}
	return w, nil
}

// leaver returns the user m takes out of its conversation (a removal or a
// leaving), or "" if m is no such event.
func leaver(m *protocol.Message) string {
	if m.Kind == protocol.KindMember && m.Member != nil &&
		(m.Member.Action == protocol.MemberRemoved || m.Member.Action == protocol.MemberLeft) {
		return m.Member.User
	}
	return ""
}

// selfLeft reports whether m is user's own removal from, or leaving of,
// its conversation.
func selfLeft(m *protocol.Message, user string) bool { return user != "" && leaver(m) == user }

// admit reports whether m may be sent, updating w. It re-reads the
// membership when m is the user's own leaving: only a joining after it
// opens the conversation again.
func (cl *Client) admit(w *window, m *protocol.Message) (bool, error) {
	if w.member && m.Seq > w.joined {
		if !selfLeft(m, cl.id.User) {
			return true, nil
		}
		// Removed since the membership was read: what follows is visible
		// only from a later joining on.
		nw, err := cl.loadWindow(m.Conv, m.Seq)
		if err != nil {
			return false, err
		}
		nw.closed = true
		if nw.member && nw.joined < m.Seq {
			nw.member = false // stale read: the removal is newer than it
		}
		*w = nw
		return true, nil
	}
	if w.closed || m.Seq != w.expect {
		w.closed = true
		return false, nil
	}
	w.expect = m.Seq + 1
	if selfLeft(m, cl.id.User) {
		w.closed = true
	}
	return true, nil
}

// catchUp writes the messages of conv with from < seq ≤ to (to 0: up to the
// newest) that the device may see, from the store, in pages of at most
// resumePageSize messages and PageMaxBytes bytes, and advances the cursor.
// When the user is no longer a member it ends at their leaving and drops
// the cursor.
func (cl *Client) catchUp(conv string, from, to uint64) (int, error) {
	c := cl.core
	w, err := cl.loadWindow(conv, from)
	if err != nil {
		return 0, err
	}
	var before uint64
	if to > 0 {
		before = to + 1
	}
	n := 0
	for {
		if w.closed {
			if !w.member {
				cl.forget(conv)
				return n, nil
			}
			from = max(from, w.joined)
		}
		if before > 0 && from+1 >= before {
			return n, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
		msgs, err := c.st.Range(ctx, conv, from, before, resumePageSize+1, true)
		cancel()
		if err != nil {
			return n, fmt.Errorf("catch up %s: %w", conv, err)
		}
		if len(msgs) == 0 {
			return n, nil
		}
		more := len(msgs) > resumePageSize
		if more {
			msgs = msgs[:resumePageSize]
		}
		page := make([]protocol.Message, 0, len(msgs))
		size, last := 0, from
		for i := range msgs {
			m := &msgs[i]
			sz := messageSize(m) + 1
			if len(page) > 0 && size+sz > PageMaxBytes {
				more = true
				break
			}
			ok, err := cl.admit(&w, m)
			if err != nil {
				return n, err
			}
			last = m.Seq
			if ok {
				size += sz
				page = append(page, *m)
			}
			if w.closed && !w.member {
				more = false
				break
			}
		}
		if len(page) > 0 {
			p := &protocol.Page{Conv: conv, Messages: page, More: more}
			if err := cl.send(&Event{Type: protocol.TypePage, Conv: conv, Data: p}); err != nil {
				return n, err
			}
			n += len(page)
			cl.delivered.Add(float64(len(page)))
		}
		from = last
		cl.cursors[conv] = last
		if !more && !w.closed {
			return n, nil
		}
	}
}

// forget drops the delivery state of a conversation the user left, so a
// later joining starts where they joined, not where they left.
func (cl *Client) forget(conv string) {
	delete(cl.cursors, conv)
	delete(cl.stored, conv)
	cl.unsubscribe(conv)
}

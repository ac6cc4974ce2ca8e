package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// NoticeOptions bound system notices and the tags they address
// (configuration notices.*; zero fields take the defaults below).
type NoticeOptions struct {
	// UsersPerSecond bounds the copies stored per second, all notices
	// together, so that a notice to a million users does not starve chat.
	UsersPerSecond int
	// ChunkUsers bounds the copies one store transaction stores.
	ChunkUsers int
	// ChunkTime is what one chunk's transaction should take at most:
	// chunks shrink (not below minChunk) while they take longer, and grow
	// back (up to ChunkUsers) while they take less than half.
	ChunkTime time.Duration
	// PerMinute bounds the notices one admin creates per minute.
	PerMinute int
	// TagsPerUser bounds the tags of one user.
	TagsPerUser int
}

// Defaults of NoticeOptions.
const (
	DefaultNoticeUsersPerSecond = 20_000
	DefaultNoticeChunkUsers     = 1000
	DefaultNoticeChunkTime      = 5 * time.Millisecond
	DefaultNoticesPerMinute     = 10
	DefaultTagsPerUser          = 32
)

// minChunk is the fewest copies a chunk asks for, however slow: on a
// machine short of CPU every chunk is slow, and smaller ones would only
// add their fixed cost (a commit, the notice's row) to each copy.
const minChunk = 100

func (o *NoticeOptions) withDefaults() {
	if o.UsersPerSecond <= 0 {
		o.UsersPerSecond = DefaultNoticeUsersPerSecond
	}
	if o.ChunkUsers <= 0 {
		o.ChunkUsers = DefaultNoticeChunkUsers
	}
	if o.ChunkTime <= 0 {
		o.ChunkTime = DefaultNoticeChunkTime
	}
	if o.PerMinute <= 0 {
		o.PerMinute = DefaultNoticesPerMinute
	}
	if o.TagsPerUser <= 0 {
		o.TagsPerUser = DefaultTagsPerUser
	}
}

// notices sends system notices in the background: one goroutine (run)
// takes the notices being sent in turn, a chunk each, paced to
// UsersPerSecond, and hands each chunk's copies to the dispatcher. A
// notice's progress is in the store, so a restart resumes where the last
// committed chunk left off.
type notices struct {
	c       *Core
	opt     NoticeOptions
	created *ratelimit.Limiter // notices created, per admin
	wake    chan struct{}      // a notice was created

	mu       sync.Mutex
	pending  map[string]int64 // delivered counts not yet in the store
	finished map[string]bool  // notices this node saw end (their counts go to the store alone)
	chunk    int              // the current chunk size (run's)
}

func newNotices(c *Core, opt NoticeOptions) *notices {
	opt.withDefaults()
	return &notices{c: c, opt: opt, wake: make(chan struct{}, 1), pending: make(map[string]int64), finished: make(map[string]bool), chunk: opt.ChunkUsers,
		created: ratelimit.NewLimiter(float64(opt.PerMinute), time.Minute, opt.PerMinute, c.now)}
}

var noticeIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newNoticeID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "n_" + noticeIDEncoding.EncodeToString(b[:])
}

// SendNotice creates a system notice from admin by (who the rate limit is
// kept for) to the users whose tags match r.To when it is created, and
// returns it; it is sent in the background. Refused with a *ratelimit.Error
// beyond notices.per_minute per admin.
func (c *Core) SendNotice(ctx context.Context, by string, r protocol.NoticeRequest) (protocol.Notice, error) {
	to, err := ParseTagExpr(r.To)
	if err != nil {
		return protocol.Notice{}, exprField("to", err)
	}
	if err := c.checkBody(r.Body, r.Payload, r.ContentType); err != nil {
		return protocol.Notice{}, err
	}
	if r.Body == "" && len(r.Payload) == 0 {
		return protocol.Notice{}, badField("body", "is empty (and so is payload)")
	}
	if wait := c.notices.created.Allow(by); wait > 0 {
		c.metrics.RateLimited.WithLabelValues(limitNotices).Inc()
		return protocol.Notice{}, &ratelimit.Error{Limit: limitNotices, RetryAfter: wait,
			Msg: fmt.Sprintf("at most %d notices a minute (notices.per_minute)", c.notices.opt.PerMinute)}
	}
	ct := r.ContentType
	if ct == "" {
		ct = "text/plain"
	}
	n := store.Notice{ID: newNoticeID(), To: to, CreatedBy: by, ContentType: ct, Body: r.Body, Payload: r.Payload, CreatedAt: c.now()}
	if err := c.st.CreateNotice(ctx, n); err != nil {
		return protocol.Notice{}, fmt.Errorf("create notice: %w", err)
	}
	c.log.Info("system notice created", "notice", n.ID, "to", to.String(), "by", by)
	select {
	case c.notices.wake <- struct{}{}:
	default:
	}
	n.State, n.Matched = store.NoticeSending, -1
	return c.notices.wire(n), nil
}

// limitNotices is the limit label of refused notices.
const limitNotices = ratelimit.LimitNotices

// Notice returns a notice and its progress; store.ErrNotFound if there is
// none.
func (c *Core) Notice(ctx context.Context, id string) (protocol.Notice, error) {
	n, err := c.st.Notice(ctx, id)
	if err != nil {
		return protocol.Notice{}, fmt.Errorf("notice %s: %w", id, err)
	}
	return c.notices.wire(n), nil
}

// Notices lists up to limit notices, newest first, from the one after
// before ("" for the newest).
func (c *Core) Notices(ctx context.Context, before string, limit int) (protocol.NoticeList, error) {
	limit = min(max(limit, 1), c.limits.HistoryPageMax)
	ns, err := c.st.ListNotices(ctx, before, limit+1) // one more: is there a next page?
	if err != nil {
		return protocol.NoticeList{}, fmt.Errorf("notices: %w", err)
	}
	var out protocol.NoticeList
	out.Notices, out.Next = keysetPage(ns, limit, c.notices.wire, func(n store.Notice) string { return n.ID })
	return out, nil
}

// CancelNotice stops sending a notice; the copies stored stay. A notice
// that is done is returned as it is.
func (c *Core) CancelNotice(ctx context.Context, id string) (protocol.Notice, error) {
	n, err := c.st.CancelNotice(ctx, id, c.now())
	if err != nil {
		return protocol.Notice{}, fmt.Errorf("cancel notice %s: %w", id, err)
	}
	return c.notices.wire(n), nil
}

// wire is n as the admin API shows it, with the deliveries not yet
// written to the store.
func (ns *notices) wire(n store.Notice) protocol.Notice {
	ns.mu.Lock()
	delivered := n.Delivered + ns.pending[n.ID]
	ns.mu.Unlock()
	p := protocol.Notice{ID: n.ID, To: n.To.String(), Values: nonNil(n.To.Values()), ContentType: n.ContentType, Body: n.Body,
		Payload: n.Payload, CreatedBy: n.CreatedBy, CreatedAt: n.CreatedAt.UnixMilli(), State: n.State,
		Matched: n.Matched, Stored: n.Stored, Skipped: n.Skipped, Delivered: delivered}
	if !n.FinishedAt.IsZero() {
		p.FinishedAt = n.FinishedAt.UnixMilli()
	}
	return p
}

// run sends the notices being sent until ctx ends: in turn, one chunk of
// each, so that a large notice does not hold up the next. It reads the
// list again when one ends or a new one is created.
func (ns *notices) run(ctx context.Context) {
	c := ns.c
	for ctx.Err() == nil {
		ns.flushDelivered(ctx)
		active, err := c.st.SendingNotices(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("notices: list", "err", err)
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		if len(active) == 0 {
			ns.idle(ctx)
			continue
		}
		for len(active) > 0 && ctx.Err() == nil {
			next := active[:0]
			for i := range active {
				n := &active[i]
				sending, err := ns.step(ctx, n)
				if err != nil && ctx.Err() == nil {
					c.log.Warn("notices: chunk", "notice", n.ID, "err", err)
					sleepCtx(ctx, time.Second)
				}
				if sending {
					next = append(next, *n)
				}
			}
			active = next
			select {
			case <-ns.wake:
				active = nil // a new notice: read the list again
			default:
			}
		}
	}
}

// idle waits for a new notice, or a second while delivered counts wait
// to be written.
func (ns *notices) idle(ctx context.Context) {
	ns.mu.Lock()
	wait := time.Hour
	if len(ns.pending) > 0 {
		wait = time.Second
	}
	ns.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-ns.wake:
	case <-t.C:
	}
}

// step sends one chunk of n: it counts the audience first if that was not
// done, stores the chunk, hands its copies to the dispatcher, adapts the
// chunk size to ChunkTime, and waits as long as UsersPerSecond asks.
func (ns *notices) step(ctx context.Context, n *store.Notice) (sending bool, err error) {
	c := ns.c
	if n.Matched < 0 && n.Cursor == "" {
		counted, err := c.st.CountNoticeAudience(ctx, n.ID)
		if err != nil {
			return true, err
		}
		*n = counted
		c.log.Info("system notice sending", "notice", n.ID, "to", n.To.String(), "matched", counted.Matched)
	}
	ns.yield(ctx)
	size := ns.chunk
	delivered := ns.takePending(n.ID)
	start := time.Now()
	copies, after, err := c.st.SendNoticeChunk(ctx, n.ID, size, delivered, c.now())
	took := time.Since(start)
	if err != nil {
		ns.addPending(n.ID, delivered)
		return true, err
	}
	*n = after
	c.metrics.NoticeCopies.Add(float64(len(copies)))
	c.metrics.NoticeChunkSeconds.Observe(took.Seconds())
	ns.adapt(size, len(copies), took)
	ns.dispatch(n.ID, copies)
	if after.State != store.NoticeSending {
		ns.mu.Lock()
		ns.finished[n.ID] = true
		ns.mu.Unlock()
		c.log.Info("system notice "+after.State, "notice", n.ID, "matched", after.Matched, "stored", after.Stored, "skipped", after.Skipped)
	}
	// Pace: len(copies) at UsersPerSecond take this long, the
	// transaction included.
	sleepCtx(ctx, time.Duration(len(copies))*time.Second/time.Duration(ns.opt.UsersPerSecond)-took)
	return after.State == store.NoticeSending, nil
}

// yield lets chat go first: while sends wait for the committer, the next
// chunk waits too, up to a millisecond (it must not starve).
func (ns *notices) yield(ctx context.Context) {
	for range 4 {
		if len(ns.c.commit.queue) == 0 || ctx.Err() != nil {
			return
		}
		time.Sleep(250 * time.Microsecond)
	}
}

// adapt sets the next chunk size from the last one: smaller while chunks
// take longer than ChunkTime, larger while they take less than half, and
// only when the chunk was full (a short one says nothing about size).
func (ns *notices) adapt(size, stored int, took time.Duration) {
	target := ns.opt.ChunkTime
	switch {
	case took > target:
		size = int(float64(size) * float64(target) / float64(took))
	case stored == size && took < target/2:
		size += size/4 + 1
	}
	ns.mu.Lock()
	ns.chunk = min(max(size, minChunk), ns.opt.ChunkUsers)
	ns.mu.Unlock()
}

// dispatch delivers a chunk's copies to the connected devices of their
// users, through the dispatcher (after what was committed before), and
// counts the users reached.
func (ns *notices) dispatch(id string, copies []store.NoticeCopy) {
	c := ns.c
	if len(copies) == 0 {
		return
	}
	for i := range copies {
		if c.hub.online(copies[i].User) {
			c.seenSeqs.raise(copies[i].Message.Conv, copies[i].Message.Seq)
		}
	}
	c.dispatch.add(func() {
		var evs []*Event
		for i := range copies {
			cp := &copies[i]
			clients := c.hub.clients(cp.User)
			if len(clients) == 0 && c.singleNode {
				continue // the user gets it on resume; no encoding for nobody
			}
			ev := NewMessageEvent(&cp.Message)
			if err := ev.Encode(); err != nil {
				c.log.Error("notice copy dropped (devices get it from the store)", "notice", id, "user", cp.User, "err", err)
				continue
			}
			live := false
			for _, cl := range clients {
				if !cl.live.Load() {
					continue
				}
				if !live {
					// Counted before the first device can have it, so
					// that whoever sees the copy arrive and then reads
					// the notice's progress finds it counted.
					ns.addPending(id, 1)
					live = true
				}
				cl.Enqueue(ev)
				cl.delivered.Inc()
			}
			if !c.singleNode {
				evs = append(evs, ev)
			}
		}
		if len(evs) > 0 {
			// Other nodes deliver to their own devices (one bus message
			// per copy: a cluster-mode cost to revisit with the bus).
			c.busOut.add(func() {
				for _, ev := range evs {
					c.publishBus(ev)
				}
			})
		}
	})
}

func (ns *notices) takePending(id string) int64 {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := ns.pending[id]
	delete(ns.pending, id)
	return n
}

func (ns *notices) addPending(id string, n int64) {
	if n == 0 {
		return
	}
	ns.mu.Lock()
	ns.pending[id] += n
	ns.mu.Unlock()
}

// flushDelivered writes the delivered counts of notices that have ended
// (those being sent ride with their next chunk).
func (ns *notices) flushDelivered(ctx context.Context) {
	ns.mu.Lock()
	var ids []string
	for id := range ns.pending {
		if ns.finished[id] {
			ids = append(ids, id)
		}
	}
	ns.mu.Unlock()
	for _, id := range ids {
		d := ns.takePending(id)
		if err := ns.c.st.AddNoticeDelivered(ctx, id, d); err != nil {
			ns.addPending(id, d)
		}
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

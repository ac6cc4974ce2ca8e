package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Broadcasts (docs/protocol.md §2.14, Broadcasts; seed 001 scene 4). One
// request sends one message to many users: to a saved broadcast list of
// the sender's, or to the users it names. Each recipient gets an ordinary
// message from the sender in their direct conversation (created if
// needed), with its own seq, unread count, receipts and resume; nobody
// subscribes to anything. The sender's devices get every copy in its
// direct conversation (sent-sync).
//
// Each recipient passes the checks of a send to them (Direct, SendAsync),
// or is skipped and reported in the result with the error a send to them
// alone would have met: not_found for an unknown, disabled or deleted user
// and for one who blocked the sender (the two look the same), blocked for
// one the sender blocks, not_accepted for one who takes direct messages
// from friends and co-members only, bad_request for the sender.
//
// Idempotence. The copy to user U is stored with the client message id
// "<client_msg_id>/<U>" (copyID): a client's own ids cannot contain "/",
// so no send collides with a copy, and the store's (sender, client message
// id) dedupe recognizes every copy stored before. A broadcast first looks
// the copies up (MessagesByClientID): those found are answered with their
// acknowledgement (duplicate), whatever changed since, and only the others
// are checked and stored. So a retry after a lost answer, a timeout or a
// crash, even one between the transactions of two attempts, stores only
// the copies missing and answers with the same acknowledgements. The
// recipients of a list are read anew on each attempt: a retry reaches
// users added since and reports users removed since no more; skipped
// users are checked again (one who accepts the sender now gets it).
//
// Cost. The copies of one broadcast are queued as one committer request,
// so they commit in one transaction (a request of more than the
// committer's batch commits alone, never split) and fan out like any
// commit; the direct conversations missing are created before, together,
// in one transaction (EnsureDirects). A broadcast of N copies spends N
// from the sender's broadcast budget (BroadcastOptions.CopiesPerHour),
// apart from the send budget: before the checks, for every copy not
// stored yet, whole or not at all (a broadcast larger than what is left is
// refused with a *ratelimit.Error and stores nothing); what turns out not
// to be stored (skipped recipients, copies a concurrent attempt stored) is
// given back. At most maxBroadcastsPreparing broadcasts prepare at once on
// a node; the others wait (DESIGN.md §2.15: a fan-out is bounded in
// concurrency as well as in rate).

// BroadcastOptions bound broadcasts and broadcast lists.
type BroadcastOptions struct {
	// MaxRecipients bounds the recipients of one broadcast and the users
	// of one list; 0: DefaultBroadcastRecipients.
	MaxRecipients int
	// ListsPerUser bounds a user's broadcast lists; 0:
	// DefaultBroadcastListsPerUser.
	ListsPerUser int
	// CopiesPerHour is each user's broadcast budget: copies per hour, in a
	// token bucket holding an hour's worth (at least MaxRecipients, so
	// that the largest broadcast can pass); 0: no limit.
	CopiesPerHour int
}

// Defaults of BroadcastOptions.
const (
	DefaultBroadcastRecipients   = 1000
	DefaultBroadcastListsPerUser = 100
)

// BroadcastPageMax is the largest page of lists or list members.
const BroadcastPageMax = 1000

// maxBroadcastsPreparing bounds the broadcasts that check their
// recipients at once on a node.
const maxBroadcastsPreparing = 4

// broadcasts is the core's state of broadcasts: the budget and the
// preparing slots.
type broadcasts struct {
	opt    BroadcastOptions
	copies *ratelimit.Limiter // nil: no limit
	slots  chan struct{}
}

func newBroadcasts(c *Core, opt BroadcastOptions) *broadcasts {
	if opt.MaxRecipients <= 0 {
		opt.MaxRecipients = DefaultBroadcastRecipients
	}
	if opt.ListsPerUser <= 0 {
		opt.ListsPerUser = DefaultBroadcastListsPerUser
	}
	b := &broadcasts{opt: opt, slots: make(chan struct{}, maxBroadcastsPreparing)}
	if opt.CopiesPerHour > 0 {
		burst := max(opt.CopiesPerHour, opt.MaxRecipients)
		b.copies = ratelimit.NewLimiter(float64(opt.CopiesPerHour), time.Hour, burst, c.now)
	}
	return b
}

// copyID is the client message id of the copy of broadcast id to user.
func copyID(id, user string) string { return id + "/" + user }

// PendingBroadcast is a broadcast whose copies are queued for commit; Wait
// returns its result.
type PendingBroadcast struct {
	c       *Core
	sender  string
	proto   string
	res     protocol.BroadcastResult
	p       *pendingAppend // nil: nothing to store
	queued  []int          // the index in res.Results of each entry of p
	convs   []string       // the conversation each entry of p was sent to
	charged int            // budget tokens still held for the entries of p
	held    []*Client      // the sender's connections syncing through the store (holdSync)
}

// Broadcast sends one message to many (see the Broadcasts role) and
// returns the result once the copies are durable.
func (c *Core) Broadcast(ctx context.Context, id Identity, r protocol.BroadcastRequest) (protocol.BroadcastResult, error) {
	p, err := c.BroadcastAsync(ctx, id, r)
	if err != nil {
		return protocol.BroadcastResult{}, err
	}
	return p.Wait()
}

// BroadcastAsync validates and checks a broadcast, opens the direct
// conversations it needs and queues its copies for commit without waiting
// for it: queued after the caller's earlier sends, so a connection keeps
// its order.
func (c *Core) BroadcastAsync(ctx context.Context, id Identity, r protocol.BroadcastRequest) (*PendingBroadcast, error) {
	b := c.bcasts
	if r.ClientMsgID == "" {
		return nil, badField("client_msg_id", "is required, so that a retry sends nothing twice")
	}
	if err := validClientMsgID(r.ClientMsgID); err != nil {
		return nil, err
	}
	if err := c.checkBody(r.Body, r.Payload, r.ContentType); err != nil {
		return nil, err
	}
	if r.Body == "" && len(r.Payload) == 0 {
		return nil, badField("body", "is empty (and so is payload)")
	}
	users, err := c.broadcastRecipients(ctx, id.User, r)
	if err != nil {
		return nil, err
	}
	select {
	case b.slots <- struct{}{}:
		defer func() { <-b.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}

	pb := &PendingBroadcast{c: c, sender: id.User, proto: protocolOf(ctx),
		res: protocol.BroadcastResult{ClientMsgID: r.ClientMsgID, List: r.List, Results: make([]protocol.BroadcastCopy, len(users))}}
	ids := make([]string, len(users))
	for i, u := range users {
		pb.res.Results[i].User = u
		ids[i] = copyID(r.ClientMsgID, u)
	}
	// The copies stored before: a retry answers them as they are.
	prior, err := c.st.MessagesByClientID(ctx, id.User, ids)
	if err != nil {
		return nil, fmt.Errorf("broadcast copies: %w", err)
	}
	byID := make(map[string]*protocol.Message, len(prior))
	for i := range prior {
		byID[prior[i].ClientMsgID] = &prior[i]
	}
	var todo []int // indexes of the recipients without a copy
	for i, u := range users {
		m := byID[ids[i]]
		switch {
		case m == nil:
			todo = append(todo, i)
		case m.Conv != DirectID(id.User, u):
			// Not a copy of this broadcast: cannot happen with copyID, as
			// client ids cannot hold "/"; kept apart like any reused id.
			pb.skip(i, fmt.Errorf("%w (sent to %s)", ErrClientMsgIDInUse, m.Conv))
		default:
			pb.answer(i, store.AppendResult{Message: *m, Duplicate: true})
		}
	}
	if len(todo) == 0 {
		return pb, nil
	}
	if err := c.spendBroadcast(id.User, len(todo)); err != nil {
		return nil, err
	}
	charged := len(todo)
	refund := func(n int) {
		if b.copies != nil {
			b.copies.ReturnN(id.User, n)
		}
		charged -= n
	}
	defer func() {
		if charged > 0 && pb.p == nil {
			refund(charged) // nothing queued: nothing of it costs
		}
	}()

	// The checks of a send to each (resolveConv, Direct, checkInbound).
	var open []store.DirectPeer
	var openAt []int
	convs := make([]string, len(users))
	passed := todo[:0:0]
	for _, i := range todo {
		conv, create, err := c.broadcastCheck(ctx, id.User, users[i])
		if err != nil {
			if ToProtocol(err).Code >= 500 {
				return nil, fmt.Errorf("broadcast to %s: %w", users[i], err)
			}
			pb.skip(i, err)
			continue
		}
		convs[i] = conv
		if create {
			open = append(open, store.DirectPeer{Peer: users[i], NewID: conv})
			openAt = append(openAt, i)
		}
		passed = append(passed, i)
	}
	if len(open) > 0 {
		got, err := c.st.EnsureDirects(ctx, id.User, open, c.now())
		if err != nil {
			return nil, fmt.Errorf("broadcast: direct conversations: %w", err)
		}
		for k, conv := range got {
			i := openAt[k]
			if conv == "" {
				pb.skip(i, fmt.Errorf("user %s: %w", users[i], store.ErrNotFound))
				convs[i] = ""
				continue
			}
			c.members.invalidate(conv)
			convs[i] = conv
		}
	}

	ct := r.ContentType
	if ct == "" {
		ct = "text/plain"
	}
	var entries []store.Append
	for _, i := range passed {
		if convs[i] == "" {
			continue
		}
		entries = append(entries, store.Append{Conv: convs[i], Sender: id.User, ClientMsgID: ids[i], Kind: protocol.KindMessage,
			ContentType: ct, Body: r.Body, Payload: r.Payload, Encrypted: r.Encrypted})
		pb.queued = append(pb.queued, i)
		pb.convs = append(pb.convs, convs[i])
	}
	refund(charged - len(entries)) // the skipped ones
	if len(entries) == 0 {
		return pb, nil
	}
	held := c.holdSync(id.User)
	p, err := c.commit.enqueue(ctx, entries...)
	if err != nil {
		releaseSync(held)
		return nil, err
	}
	pb.p, pb.charged, pb.held = p, charged, held
	return pb, nil
}

// typeSync is the internal event that ends a broadcast's hold on a
// connection (releaseSync): its writer then reads the conversations
// marked dirty from the store.
const typeSync = "_sync"

// holdSync makes the resumed connections of user on this node get the
// messages committed from now on until releaseSync through the store
// instead of their queues: the dispatcher marks their conversations dirty
// (markDirty), and the typeSync event that releaseSync queues has the
// writer read them, a page per conversation, at the connection's own
// pace. Without it, the N copies of a broadcast, fanned out at once to
// each of the sender's connections (sent-sync), would overflow a queue of
// limits.outbound_queue_messages and close the connection as a slow
// consumer. The recipients' connections get one copy each, as usual.
func (c *Core) holdSync(user string) []*Client {
	var held []*Client
	for _, cl := range c.hub.clients(user) {
		if !cl.live.Load() {
			continue // not resumed: it gets the copies when it resumes
		}
		cl.syncMu.Lock()
		cl.syncHolds++
		cl.syncMu.Unlock()
		held = append(held, cl)
	}
	return held
}

// releaseSync ends holdSync on held, once what was committed under the
// hold has been fanned out.
func releaseSync(held []*Client) {
	for _, cl := range held {
		cl.syncMu.Lock()
		cl.syncHolds--
		cl.syncMu.Unlock()
		cl.Enqueue(&Event{Type: typeSync})
	}
}

// syncDirty writes, from the store, what was marked dirty (writer only).
func (cl *Client) syncDirty() error {
	for dirty := cl.takeDirty(); dirty != nil; dirty = cl.takeDirty() {
		for conv := range dirty {
			if err := cl.catchUpConv(conv); err != nil {
				return err
			}
		}
	}
	return nil
}

// broadcastRecipients returns the recipients of r: the users of the list,
// or of To without repeats, in order.
func (c *Core) broadcastRecipients(ctx context.Context, sender string, r protocol.BroadcastRequest) ([]string, error) {
	maxN := c.bcasts.opt.MaxRecipients
	switch {
	case r.List != "" && len(r.To) > 0:
		return nil, badField("to", "give either list or to, not both")
	case r.List != "":
		if err := validateName("list", r.List); err != nil {
			return nil, err
		}
		users, err := c.st.BroadcastMembers(ctx, sender, r.List, "", maxN+1)
		switch {
		case err != nil:
			return nil, fmt.Errorf("broadcast list %s: %w", r.List, err)
		case len(users) == 0:
			return nil, badField("list", "is empty: add members first")
		case len(users) > maxN:
			return nil, badField("list", "holds more than %d users (limits.broadcast_recipients): remove some", maxN)
		}
		return users, nil
	case len(r.To) > 0:
		if len(r.To) > maxN {
			return nil, badField("to", "names more than %d users (limits.broadcast_recipients)", maxN)
		}
		users := make([]string, 0, len(r.To))
		seen := make(map[string]bool, len(r.To))
		for i, u := range r.To {
			if err := ValidateUserID(u); err != nil {
				return nil, badField(fmt.Sprintf("to[%d]", i), "is not a valid user id")
			}
			if !seen[u] {
				seen[u] = true
				users = append(users, u)
			}
		}
		return users, nil
	}
	return nil, badField("to", "is required (or list)")
}

// broadcastCheck is what a send to user alone would check: the direct
// conversation and whether it needs creating, or the error that send
// would get.
func (c *Core) broadcastCheck(ctx context.Context, sender, user string) (conv string, create bool, err error) {
	if user == sender {
		return "", false, badField("to", "cannot send to yourself")
	}
	if err := c.directBlocked(ctx, sender, user, "user", user); err != nil {
		return "", false, err
	}
	u, err := c.st.User(ctx, user)
	switch {
	case err != nil:
		return "", false, fmt.Errorf("user %s: %w", user, err)
	case u.Disabled || u.Deleted:
		return "", false, fmt.Errorf("user %s: %w", user, store.ErrNotFound)
	}
	if err := c.friends.inbound.allow(ctx, user, sender); err != nil {
		return "", false, err
	}
	conv = DirectID(sender, user)
	ok, err := c.members.isMember(ctx, conv, sender)
	if err != nil {
		return "", false, fmt.Errorf("direct conversation with %s: %w", user, err)
	}
	return conv, !ok, nil
}

// spendBroadcast takes n copies from user's broadcast budget, or returns
// a *ratelimit.Error saying when n will be there.
func (c *Core) spendBroadcast(user string, n int) error {
	b := c.bcasts
	if b.copies == nil {
		return nil
	}
	wait := b.copies.AllowN(user, n)
	if wait == 0 {
		return nil
	}
	c.metrics.RateLimited.WithLabelValues(ratelimit.LimitBroadcast).Inc()
	return &ratelimit.Error{Limit: ratelimit.LimitBroadcast, RetryAfter: wait,
		Msg: fmt.Sprintf("this broadcast needs %d copies and your broadcast budget (%d copies per hour) holds fewer: nothing was stored; retry after retry_after_ms with the same client_msg_id, or send to fewer users",
			n, b.opt.CopiesPerHour)}
}

// skip records that recipient i gets no copy, and why.
func (pb *PendingBroadcast) skip(i int, err error) {
	pb.res.Results[i].Ack, pb.res.Results[i].Error = nil, ToProtocol(err)
}

// answer records the acknowledgement of recipient i's copy.
func (pb *PendingBroadcast) answer(i int, r store.AppendResult) {
	m := r.Message
	pb.res.Results[i].Ack = &protocol.Ack{Conv: m.Conv, Seq: m.Seq, ID: m.ID, ClientMsgID: m.ClientMsgID, Time: m.Time, Duplicate: r.Duplicate}
	pb.res.Results[i].Error = nil
}

// Wait blocks until the copies are committed and returns the result. It
// must be called exactly once. If the commit failed, nothing of this
// attempt was stored and the error says so (503): retry with the same
// client_msg_id.
func (pb *PendingBroadcast) Wait() (protocol.BroadcastResult, error) {
	c := pb.c
	if pb.p != nil {
		res, err := pb.p.wait()
		// The copies are fanned out (the dispatcher answers after its
		// local fan-out): the sender's connections read them now, before
		// they get this result.
		releaseSync(pb.held)
		refund := 0
		if err != nil {
			refund = pb.charged
		}
		if c.bcasts.copies != nil {
			defer func() { c.bcasts.copies.ReturnN(pb.sender, refund) }()
		}
		if err != nil {
			return protocol.BroadcastResult{}, err
		}
		for k, r := range res {
			i := pb.queued[k]
			switch {
			case r.Err != nil:
				refund++
				pb.skip(i, r.Err)
			case r.Duplicate && r.Message.Conv != pb.convs[k]:
				refund++
				pb.skip(i, fmt.Errorf("%w (sent to %s)", ErrClientMsgIDInUse, r.Message.Conv))
			case r.Duplicate:
				refund++ // stored meanwhile by another attempt
				c.metrics.Duplicates.Inc()
				pb.answer(i, r)
			default:
				c.metrics.Sends.WithLabelValues(pb.proto).Inc()
				pb.answer(i, r)
				pb.res.Stored++
			}
		}
	}
	for _, r := range pb.res.Results {
		if r.Ack != nil {
			pb.res.Sent++
		} else {
			pb.res.Skipped++
		}
	}
	return pb.res, nil
}

// Broadcast lists.

// ErrTooManyBroadcastLists refuses a list beyond BroadcastOptions.
// ListsPerUser (403, reason too_many_lists).
var ErrTooManyBroadcastLists = errors.New("too many broadcast lists")

// CreateBroadcastList creates a list of user's, with the id r.List (a
// fresh one if empty) and its first members, who must exist.
func (c *Core) CreateBroadcastList(ctx context.Context, user string, r protocol.BroadcastListCreate) (protocol.BroadcastList, error) {
	if r.List == "" {
		r.List = newBroadcastListID()
	} else if err := validateName("list", r.List); err != nil {
		return protocol.BroadcastList{}, err
	}
	if err := checkListName(r.Name); err != nil {
		return protocol.BroadcastList{}, err
	}
	if err := c.budget.spend(user, opCheap); err != nil {
		return protocol.BroadcastList{}, err
	}
	if err := c.checkListUsers(ctx, user, "members", r.Members); err != nil {
		return protocol.BroadcastList{}, err
	}
	o := c.bcasts.opt
	l, err := c.st.CreateBroadcastList(ctx, store.BroadcastList{Owner: user, ID: r.List, Name: r.Name, CreatedAt: c.now()},
		r.Members, o.ListsPerUser, o.MaxRecipients)
	switch {
	case errors.Is(err, store.ErrLimit) && len(r.Members) > o.MaxRecipients:
		return protocol.BroadcastList{}, badField("members", "holds more than %d users (limits.broadcast_recipients)", o.MaxRecipients)
	case errors.Is(err, store.ErrLimit):
		return protocol.BroadcastList{}, fmt.Errorf("%w: at most %d", ErrTooManyBroadcastLists, o.ListsPerUser)
	case err != nil:
		return protocol.BroadcastList{}, fmt.Errorf("create broadcast list: %w", err)
	}
	return toProtocolList(l), nil
}

// BroadcastList returns one of user's lists.
func (c *Core) BroadcastList(ctx context.Context, user, list string) (protocol.BroadcastList, error) {
	if err := validateName("list", list); err != nil {
		return protocol.BroadcastList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.BroadcastList{}, err
	}
	l, err := c.st.BroadcastList(ctx, user, list)
	if err != nil {
		return protocol.BroadcastList{}, fmt.Errorf("broadcast list %s: %w", list, err)
	}
	return toProtocolList(l), nil
}

// BroadcastLists pages user's lists by id, after the id after; limit 0 is
// 100, at most BroadcastPageMax.
func (c *Core) BroadcastLists(ctx context.Context, user, after string, limit int) (protocol.BroadcastListPage, error) {
	limit, err := broadcastPage(after, limit)
	if err != nil {
		return protocol.BroadcastListPage{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.BroadcastListPage{}, err
	}
	ls, err := c.st.BroadcastLists(ctx, user, after, limit+1)
	if err != nil {
		return protocol.BroadcastListPage{}, fmt.Errorf("broadcast lists: %w", err)
	}
	var out protocol.BroadcastListPage
	out.Lists, out.Next = keysetPage(ls, limit, toProtocolList, func(l store.BroadcastList) string { return l.ID })
	return out, nil
}

// RenameBroadcastList renames one of user's lists.
func (c *Core) RenameBroadcastList(ctx context.Context, user, list, name string) (protocol.BroadcastList, error) {
	if err := validateName("list", list); err != nil {
		return protocol.BroadcastList{}, err
	}
	if err := checkListName(name); err != nil {
		return protocol.BroadcastList{}, err
	}
	if err := c.budget.spend(user, opCheap); err != nil {
		return protocol.BroadcastList{}, err
	}
	l, err := c.st.RenameBroadcastList(ctx, user, list, name, c.now())
	if err != nil {
		return protocol.BroadcastList{}, fmt.Errorf("broadcast list %s: %w", list, err)
	}
	return toProtocolList(l), nil
}

// ChangeBroadcastList adds users, who must exist, to one of user's lists
// and removes others, in one step.
func (c *Core) ChangeBroadcastList(ctx context.Context, user, list string, ch protocol.BroadcastListChange) (protocol.BroadcastList, error) {
	if err := validateName("list", list); err != nil {
		return protocol.BroadcastList{}, err
	}
	maxN := c.bcasts.opt.MaxRecipients
	if len(ch.Remove) > maxN {
		return protocol.BroadcastList{}, badField("remove", "names more than %d users", maxN)
	}
	for i, u := range ch.Remove {
		if ValidateUserID(u) != nil {
			return protocol.BroadcastList{}, badField(fmt.Sprintf("remove[%d]", i), "is not a valid user id")
		}
	}
	if err := c.budget.spend(user, opCheap); err != nil {
		return protocol.BroadcastList{}, err
	}
	if err := c.checkListUsers(ctx, user, "add", ch.Add); err != nil {
		return protocol.BroadcastList{}, err
	}
	l, err := c.st.ChangeBroadcastMembers(ctx, user, list, ch.Add, ch.Remove, maxN, c.now())
	switch {
	case errors.Is(err, store.ErrLimit):
		return protocol.BroadcastList{}, badField("add", "would make the list hold more than %d users (limits.broadcast_recipients)", maxN)
	case err != nil:
		return protocol.BroadcastList{}, fmt.Errorf("broadcast list %s: %w", list, err)
	}
	return toProtocolList(l), nil
}

// BroadcastMembers pages the users of one of user's lists, by id.
func (c *Core) BroadcastMembers(ctx context.Context, user, list, after string, limit int) (protocol.BroadcastMemberPage, error) {
	if err := validateName("list", list); err != nil {
		return protocol.BroadcastMemberPage{}, err
	}
	limit, err := broadcastPage(after, limit)
	if err != nil {
		return protocol.BroadcastMemberPage{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.BroadcastMemberPage{}, err
	}
	us, err := c.st.BroadcastMembers(ctx, user, list, after, limit+1)
	if err != nil {
		return protocol.BroadcastMemberPage{}, fmt.Errorf("broadcast list %s: %w", list, err)
	}
	out := protocol.BroadcastMemberPage{Members: us[:min(len(us), limit)]}
	if len(us) > limit {
		out.Next = us[limit-1]
	}
	return out, nil
}

// DeleteBroadcastList deletes one of user's lists.
func (c *Core) DeleteBroadcastList(ctx context.Context, user, list string) error {
	if err := validateName("list", list); err != nil {
		return err
	}
	if err := c.budget.spend(user, opCheap); err != nil {
		return err
	}
	if err := c.st.DeleteBroadcastList(ctx, user, list); err != nil {
		return fmt.Errorf("broadcast list %s: %w", list, err)
	}
	return nil
}

// checkListUsers checks users to put in a list: valid ids, not the
// owner, at most MaxRecipients, and existing (an unknown, disabled or
// deleted user is named in the error). Whether they accept the owner's
// messages is not checked here: a broadcast checks it, every time.
func (c *Core) checkListUsers(ctx context.Context, owner, field string, users []string) error {
	maxN := c.bcasts.opt.MaxRecipients
	if len(users) > maxN {
		return badField(field, "names more than %d users (limits.broadcast_recipients)", maxN)
	}
	for i, u := range users {
		if ValidateUserID(u) != nil {
			return badField(fmt.Sprintf("%s[%d]", field, i), "is not a valid user id")
		}
		if u == owner {
			return badField(fmt.Sprintf("%s[%d]", field, i), "is yourself")
		}
	}
	for i, u := range users {
		su, err := c.st.User(ctx, u)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && (su.Disabled || su.Deleted):
			return badField(fmt.Sprintf("%s[%d]", field, i), "names no user: %s", u)
		case err != nil:
			return fmt.Errorf("user %s: %w", u, err)
		}
	}
	return nil
}

// maxListName bounds a list's name in bytes.
const maxListName = 256

func checkListName(name string) error {
	if len(name) > maxListName {
		return badField("name", "is longer than %d bytes", maxListName)
	}
	if !utf8.ValidString(name) {
		return badField("name", "is not valid UTF-8")
	}
	return nil
}

// broadcastPage checks a page request and returns its limit.
func broadcastPage(after string, limit int) (int, error) {
	limit, err := pageLimit(limit, 100, BroadcastPageMax)
	if err == nil && len(after) > MaxIDLen {
		err = badField("after", "is longer than %d bytes", MaxIDLen)
	}
	return limit, err
}

func toProtocolList(l store.BroadcastList) protocol.BroadcastList {
	return protocol.BroadcastList{ID: l.ID, Name: l.Name, Members: l.Members,
		Created: l.CreatedAt.UnixMilli(), Updated: l.UpdatedAt.UnixMilli()}
}

// newBroadcastListID returns a fresh random list id: "l" and 16 letters
// and digits.
func newBroadcastListID() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("core: crypto/rand failed: " + err.Error())
	}
	return "l" + idEncoding.EncodeToString(b[:])
}

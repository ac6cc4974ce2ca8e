package core

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// clusterTopic is the bus topic every node of a cluster subscribes to. It
// carries what one node changes and every node must know: invalidations
// of cached blocks and presence hiding, connections to close everywhere,
// a node's return after losing the broker (this file), and each node's
// presence (presencecluster.go). (Membership reaches the nodes that need
// it through the conversation's and the member's topics, with the events
// themselves.)
const clusterTopic = "n.all"

// typeInvalidate is the envelope type of an invalidation.
const typeInvalidate = "invalidate"

// invalidation names cached state that other nodes must drop.
type invalidation struct {
	// Blocks are users whose blocks, given or received, changed.
	Blocks []string `json:"blocks,omitempty"`
	// PresenceHidden is a user whose presence setting changed.
	PresenceHidden string `json:"presence_hidden,omitempty"`
	// Close: connections to close on every node (a revocation, a kick, a
	// deletion).
	Close *closeSel `json:"close,omitempty"`
	// All: the sender's bus reconnected. What it invalidated meanwhile
	// may not have arrived, nor what it committed: drop every entry, and
	// have the devices here read from the store.
	All bool `json:"all,omitempty"`
}

// closeSel selects connections of a user: all of them, a device's or a
// session's, to close with a code and a reason.
type closeSel struct {
	User    string `json:"user"`
	Device  string `json:"device,omitempty"`
	Session string `json:"session,omitempty"`
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	// Before, if not 0, spares the connections attached at or after it
	// (Unix nanoseconds): a takeover closes the older ones only. It
	// compares the nodes' clocks, which must agree to within the time
	// between two connections of one device.
	Before int64 `json:"before,omitempty"`
}

func (s closeSel) match(cl *Client) bool {
	if s.Before != 0 && cl.attached.UnixNano() >= s.Before {
		return false
	}
	switch {
	case s.Session != "":
		return cl.id.Session == s.Session
	case s.Device != "":
		return cl.id.Device == s.Device
	}
	return true
}

// closeEverywhere closes the connections s selects on this node, and has
// the other nodes close theirs; it returns how many it closed here. A
// connection that attaches on another node before that node hears of it
// is refused there by its own check (revokedSince), except after a kick,
// which revokes nothing.
func (c *Core) closeEverywhere(s closeSel) int {
	n := c.closeWhere(s.User, s.match, s.Code, s.Reason)
	c.invalidateCluster(invalidation{Close: &s})
	return n
}

// subscribeCluster subscribes this node to clusterTopic; a single node
// has nobody to hear from.
func (c *Core) subscribeCluster(ctx context.Context) error {
	if c.singleNode {
		return nil
	}
	return c.bus.Subscribe(ctx, clusterTopic)
}

// invalidateCluster tells the other nodes to drop what inv names; this
// node has dropped it already. An invalidation lost while this node had
// no broker is made good when it reconnects (watchBus).
//
// The publish runs in a goroutine of its own: the caller (a block, a
// settings change, a revocation, a connection) does not wait for the
// broker, and the order of two invalidations does not matter (each only
// drops entries or closes connections).
func (c *Core) invalidateCluster(inv invalidation) {
	if c.singleNode {
		return
	}
	go func() { _ = c.publishInvalidation(inv) }()
}

// publishInvalidation publishes inv and waits for the broker.
func (c *Core) publishInvalidation(inv invalidation) error {
	data, err := json.Marshal(inv)
	if err != nil {
		c.log.Error("encode invalidation", "err", err)
		return err
	}
	return c.busPublish(clusterTopic, envelope{Node: c.node, Type: typeInvalidate, Data: data})
}

// onInvalidate drops what another node's invalidation names.
func (c *Core) onInvalidate(data json.RawMessage) {
	var inv invalidation
	if err := json.Unmarshal(data, &inv); err != nil {
		c.log.Warn("bus: bad invalidation", "err", err)
		return
	}
	if inv.All {
		c.dropCaches()
		c.catchUpClients()
	}
	if len(inv.Blocks) > 0 {
		c.blocks.invalidate(inv.Blocks...)
	}
	if s := inv.Close; s != nil && s.User != "" {
		c.closeWhere(s.User, s.match, s.Code, s.Reason)
	}
	if u := inv.PresenceHidden; u != "" {
		c.presence.hidden.forget(u)
		if c.hub.online(u) {
			// The user's devices here announce the new setting.
			c.presence.changed(u)
		}
	}
}

// convSubs counts this node's subscriptions to conversation topics, so
// that the first one of a conversation can drop its cached members: while
// the node was not subscribed it heard none of the conversation's
// membership events.
type convSubs struct {
	mu sync.Mutex
	n  map[string]int
}

// subscribeConv subscribes this node to conv's topic for one client, and
// reports whether it is the node's first subscription to it (in cluster
// mode): what was published to the topic before it reached no queue of
// this node's, and the caller reads it from the store.
func (c *Core) subscribeConv(conv string) (first bool) {
	_ = c.bus.Subscribe(context.Background(), convTopic(conv))
	if c.singleNode {
		return false
	}
	c.convSubs.mu.Lock()
	first = c.convSubs.n[conv] == 0
	c.convSubs.n[conv]++
	c.convSubs.mu.Unlock()
	if first {
		// After the subscription: a load from now on sees the store as it
		// is, and the events after it arrive.
		c.members.invalidate(conv)
	}
	return first
}

// unsubscribeConv drops one client's subscription to conv's topic.
func (c *Core) unsubscribeConv(conv string) {
	_ = c.bus.Unsubscribe(context.Background(), convTopic(conv))
	if c.singleNode {
		return
	}
	c.convSubs.mu.Lock()
	if c.convSubs.n[conv]--; c.convSubs.n[conv] <= 0 {
		delete(c.convSubs.n, conv)
	}
	c.convSubs.mu.Unlock()
}

// watchBus drops every cache that other nodes invalidate when the bus
// reconnects (invalidations and membership events may have been lost
// meanwhile) and has this node's devices catch up from the store; and it
// tells the other nodes to do the same, since what this node invalidated
// and committed meanwhile did not reach them. It returns when ctx is done.
func (c *Core) watchBus(ctx context.Context) {
	rb, ok := c.bus.(interface{ Reconnects() uint64 })
	if !ok || c.singleNode {
		return
	}
	last := rb.Reconnects()
	owed := false // an invalidation of everything the other nodes have not confirmed
	every(ctx, busWatchInterval, func() {
		if n := rb.Reconnects(); n != last {
			last, owed = n, true
			c.dropCaches()
			c.catchUpClients()
			// What this node said of presence, and heard, may be lost.
			c.presence.publishPresenceSnapshot(true)
		}
		if owed && c.publishInvalidation(invalidation{All: true}) == nil {
			owed = false
		}
	})
}

// typeCatchUp is the internal event that makes a client's writer read
// from the store what the bus may have lost (catchUpAll).
const typeCatchUp = "_catchup"

// catchUpClients has every live client on this node read from the store
// what other nodes committed while the bus was away, in its writer, in
// order with what the bus brings from now on.
//
// A client with a catch-up queued already gets no second one (after a
// broker restart every node's invalidation asks for one).
func (c *Core) catchUpClients() {
	for _, cl := range c.hub.all() {
		if cl.live.Load() && cl.catchUpQueued.CompareAndSwap(false, true) {
			cl.Enqueue(&Event{Type: typeCatchUp})
		}
	}
}

// catchUpAll delivers, from the store, what follows the cursor of each of
// the user's conversations, the ones this connection has not heard of yet
// included (a conversation created while the bus was away). A client
// still resuming reads it all anyway.
func (cl *Client) catchUpAll() error {
	cl.catchUpQueued.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), cl.core.to.WriteTimeout)
	convs, err := cl.core.st.UserConversations(ctx, cl.id.User)
	cancel()
	if err != nil {
		// Not this connection's fault: it repairs at the next message of
		// each conversation, or at its next resume.
		cl.core.log.Warn("catch up after the bus returned", "user", cl.id.User, "err", err)
		return nil
	}
	for _, conv := range convs {
		if err := cl.catchUpConv(conv); err != nil {
			return err
		}
	}
	return nil
}

// catchUpConv delivers, from the store, what follows the cursor of conv
// (nothing if the user is not a member).
func (cl *Client) catchUpConv(conv string) error {
	cur, ok, err := cl.cursor(conv, nil)
	if err != nil || !ok {
		return err
	}
	_, err = cl.catchUp(conv, cur, 0)
	return err
}

// busWatchInterval is how often watchBus looks for a reconnection.
const busWatchInterval = time.Second

// dropCaches drops the cached blocks, presence settings and members.
func (c *Core) dropCaches() {
	c.blocks.invalidateAll()
	c.presence.hidden.forgetAll()
	c.members.invalidateAll()
}

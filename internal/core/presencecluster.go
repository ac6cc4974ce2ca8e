package core

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// Presence across nodes (cluster mode). A user is online while a
// connection is open on any node. Each node tells the others, on
// clusterTopic, which of its users came online or went offline there (one
// message per presence flush) and what it announced to their contacts, so
// that the node that sees the last connection close announces the user
// offline and no node announces what another already did. It sends a
// heartbeat every presenceHeartbeat, and a snapshot of its online users
// when a node asks (a node asks when it starts and when its bus
// reconnects). A node not heard from for presenceNodeExpiry is taken for
// gone: its users are offline there, and the nodes left announce it.
//
// On one node (the in-process bus) none of this runs: remote stays empty.

// typePresenceNode is the envelope type of a nodePresence.
const typePresenceNode = "presence_node"

const (
	// presenceHeartbeat is how often a node tells the others it is alive.
	presenceHeartbeat = 5 * time.Second
	// presenceNodeExpiry is how long a silent node counts as alive.
	presenceNodeExpiry = 4 * presenceHeartbeat
	// presenceSnapshotChunk bounds the users of one snapshot message.
	presenceSnapshotChunk = 2000
)

// nodePresence is what a node says of its users' presence.
type nodePresence struct {
	// Online and Offline: users who came online, or went offline, on the
	// sender.
	Online  []string `json:"on,omitempty"`
	Offline []string `json:"off,omitempty"`
	// Reset: forget what the sender said before; a snapshot of its online
	// users follows, in Online here and in the messages after it.
	Reset bool `json:"reset,omitempty"`
	// Ask: the sender asks every node for a snapshot.
	Ask bool `json:"ask,omitempty"`
	// Announced: what the sender announced to the users' contacts
	// (online or not).
	Announced map[string]bool `json:"ann,omitempty"`
}

// remotePresence is what the other nodes said: which users are online on
// which node, and when each node was last heard from.
type remotePresence struct {
	mu     sync.Mutex
	users  map[string]map[string]bool // user → nodes the user is online on
	byNode map[string]map[string]bool // node → users online there
	heard  map[string]time.Time
}

func newRemotePresence() remotePresence {
	return remotePresence{users: make(map[string]map[string]bool), byNode: make(map[string]map[string]bool),
		heard: make(map[string]time.Time)}
}

// online reports whether user is online on another node.
func (r *remotePresence) online(user string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.users[user]) > 0
}

func (r *remotePresence) set(node, user string, on bool) {
	if on {
		if r.users[user] == nil {
			r.users[user] = make(map[string]bool)
		}
		if r.byNode[node] == nil {
			r.byNode[node] = make(map[string]bool)
		}
		r.users[user][node], r.byNode[node][user] = true, true
		return
	}
	delete(r.users[user], node)
	if len(r.users[user]) == 0 {
		delete(r.users, user)
	}
	delete(r.byNode[node], user)
}

// forgetNode drops what node said and returns the users it had online.
func (r *remotePresence) forgetNode(node string) []string {
	var out []string
	for u := range r.byNode[node] {
		r.set(node, u, false)
		out = append(out, u)
	}
	delete(r.byNode, node)
	return out
}

// apply records what node said at now and returns the users whose
// presence there changed.
func (r *remotePresence) apply(node string, np nodePresence, now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heard[node] = now
	var changed []string
	if np.Reset {
		changed = r.forgetNode(node)
	}
	for _, u := range np.Online {
		r.set(node, u, true)
	}
	for _, u := range np.Offline {
		r.set(node, u, false)
	}
	return append(append(changed, np.Online...), np.Offline...)
}

// expire forgets the nodes not heard from since before and returns their
// users.
func (r *remotePresence) expire(before time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for node, t := range r.heard {
		if t.Before(before) {
			out = append(out, r.forgetNode(node)...)
			delete(r.heard, node)
		}
	}
	return out
}

// publishPresence sends np to the other nodes.
func (c *Core) publishPresence(np nodePresence) {
	if c.singleNode {
		return
	}
	data, err := json.Marshal(np)
	if err != nil {
		c.log.Error("encode presence", "err", err)
		return
	}
	c.busPublish(clusterTopic, envelope{Node: c.node, Type: typePresenceNode, Data: data})
}

// publishPresenceSnapshot sends every user online on this node, in
// chunks, the first one resetting what the other nodes knew of this node;
// ask asks them for theirs.
func (p *presence) publishPresenceSnapshot(ask bool) {
	c := p.c
	if c.singleNode {
		return
	}
	users := c.hub.onlineUsers()
	p.mu.Lock()
	p.published = make(map[string]bool, len(users))
	for _, u := range users {
		p.published[u] = true
	}
	p.mu.Unlock()
	first := true
	for first || len(users) > 0 {
		n := min(len(users), presenceSnapshotChunk)
		c.publishPresence(nodePresence{Online: users[:n], Reset: first, Ask: ask && first})
		users, first = users[n:], false
	}
}

// onPresenceNode applies another node's presence message.
func (p *presence) onPresenceNode(node string, data json.RawMessage) {
	var np nodePresence
	if err := json.Unmarshal(data, &np); err != nil {
		p.c.log.Warn("bus: bad presence", "err", err)
		return
	}
	changed := p.remote.apply(node, np, p.c.now())
	p.mu.Lock()
	for u, v := range np.Announced {
		setOrDelete(p.announced, u, v)
	}
	for _, u := range changed {
		p.dirty[u] = true
	}
	p.mu.Unlock()
	if np.Ask {
		p.publishPresenceSnapshot(false)
	}
}

// heartbeat tells the other nodes this node is alive, and takes the nodes
// not heard from for presenceNodeExpiry for gone.
func (p *presence) heartbeat() {
	if p.c.singleNode {
		return
	}
	p.c.publishPresence(nodePresence{})
	gone := p.remote.expire(p.c.now().Add(-presenceNodeExpiry))
	if len(gone) == 0 {
		return
	}
	p.mu.Lock()
	for _, u := range gone {
		p.dirty[u] = true
	}
	p.mu.Unlock()
}

// runHeartbeat calls heartbeat every presenceHeartbeat until ctx is done.
func (p *presence) runHeartbeat(ctx context.Context) {
	if p.c.singleNode {
		return
	}
	every(ctx, presenceHeartbeat, p.heartbeat)
}

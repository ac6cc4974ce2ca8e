package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Presence (docs/protocol.md §2.9): a user is online while one of their
// connections is open, on any protocol. Who sees it is decided in
// presencevis.go: a user's contacts (friends, and co-members of groups of
// at most Limits.PresenceGroupMax members), never a user blocked either
// way, and nobody while the user hides their presence.
//
// presence coalesces changes: a user's change is announced at most once
// per coalescing window, and only if what contacts may see at the end of
// the window (online and not hidden) differs from what was last
// announced, so a flapping connection floods no one.
type presence struct {
	c         *Core
	mu        sync.Mutex
	dirty     map[string]bool
	announced map[string]bool // users last announced online to their contacts (by any node)
	connected map[string]bool // users online here at the last flush or since, for last seen
	hidden    hiddenCache

	// Cluster mode (presencecluster.go): what the other nodes said, what
	// this node told them (users online here), and what the flush in
	// progress has to tell them.
	remote    remotePresence
	published map[string]bool
	out       nodePresence
}

func newPresence(c *Core) *presence {
	return &presence{c: c, dirty: make(map[string]bool), announced: make(map[string]bool),
		connected: make(map[string]bool), hidden: hiddenCache{m: make(map[string]bool)},
		remote: newRemotePresence(), published: make(map[string]bool)}
}

func (p *presence) changed(user string) {
	p.mu.Lock()
	p.dirty[user] = true
	p.mu.Unlock()
}

// cameOnline is changed for a user's first connection: it also counts the
// user as connected for last seen, so that a connection that opens and
// closes within one coalescing window still records when it was seen.
func (p *presence) cameOnline(user string) {
	p.mu.Lock()
	p.dirty[user] = true
	p.connected[user] = true
	p.mu.Unlock()
}

func (p *presence) run(ctx context.Context) { every(ctx, p.c.to.PresenceCoalesce, p.flush) }

// every calls fn every d until ctx is done.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func (p *presence) flush() {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = make(map[string]bool)
	p.mu.Unlock()
	for user := range dirty {
		p.flushUser(user)
	}
	p.mu.Lock()
	out := p.out
	p.out = nodePresence{}
	p.mu.Unlock()
	if len(out.Online) > 0 || len(out.Offline) > 0 || len(out.Announced) > 0 {
		p.c.publishPresence(out)
	}
}

// flushUser announces user's change, if what contacts may see changed:
// online (and not hidden), or not. Going offline records the last seen
// time whether hidden or not; an offline announcement carries it unless
// the user is hidden (then it only says the user is no longer shown
// online).
func (p *presence) flushUser(user string) {
	c := p.c
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	defer cancel()
	local := c.hub.online(user)
	online := local || p.remote.online(user)
	hidden, err := p.hidden.get(ctx, c, user)
	if err != nil {
		c.log.Warn("presence: settings", "user", user, "err", err)
		hidden = true // unknown: show nothing
	}
	visible := online && !hidden
	p.mu.Lock()
	wasOnline, was := p.connected[user], p.announced[user]
	setOrDelete(p.connected, user, local)
	setOrDelete(p.announced, user, visible)
	if !c.singleNode {
		p.outbound(user, local, was != visible, visible)
	}
	p.mu.Unlock()
	now := c.now()
	if wasOnline && !local {
		if err := c.st.TouchUser(ctx, user, now); err != nil {
			c.log.Warn("presence: last seen", "user", user, "err", err)
		}
	}
	if was == visible {
		return
	}
	pr := &protocol.Presence{User: user, Online: visible}
	if !online && !hidden {
		pr.LastSeen = now.UnixMilli()
	}
	contacts, err := c.presenceContacts(ctx, user)
	if err != nil {
		c.log.Warn("presence: contacts", "user", user, "err", err)
		return
	}
	for peer := range contacts {
		c.sendToUser(peer, protocol.TypePresence, pr)
	}
}

// outbound adds to the message of the flush in progress that user is
// online here or not, if that changed since this node last said it, and
// what this node announced of the user, if it did. p.mu is held.
func (p *presence) outbound(user string, local, announced, visible bool) {
	if p.published[user] != local {
		setOrDelete(p.published, user, local)
		if local {
			p.out.Online = append(p.out.Online, user)
		} else {
			p.out.Offline = append(p.out.Offline, user)
		}
	}
	if announced {
		if p.out.Announced == nil {
			p.out.Announced = make(map[string]bool)
		}
		p.out.Announced[user] = visible
	}
}

func setOrDelete(m map[string]bool, k string, v bool) {
	if v {
		m[k] = true
	} else {
		delete(m, k)
	}
}

// OnlineElsewhere reports whether another node of the cluster says user
// has a connection there.
func (c *Core) OnlineElsewhere(user string) bool { return c.presence.remote.online(user) }

// Presence returns the presence of those of users whose presence user may
// see (themselves, and contacts who do not hide it: presencevis.go); the
// others, unknown users included, are left out of the answer.
func (c *Core) Presence(ctx context.Context, user string, users []string) ([]protocol.Presence, error) {
	if len(users) > 100 {
		return nil, badField("users", "at most 100 at once")
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return nil, err
	}
	var contacts userSet
	out := make([]protocol.Presence, 0, len(users))
	for _, u := range users {
		if u != user {
			if contacts == nil {
				var err error
				if contacts, err = c.presenceContacts(ctx, user); err != nil {
					return nil, fmt.Errorf("presence: %w", err)
				}
			}
			if !contacts.has(u) {
				continue
			}
			hidden, err := c.presence.hidden.get(ctx, c, u)
			if err != nil {
				return nil, fmt.Errorf("presence: %w", err)
			}
			if hidden {
				continue
			}
		}
		pr := protocol.Presence{User: u, Online: c.hub.online(u) || c.presence.remote.online(u)}
		if !pr.Online {
			if su, err := c.st.User(ctx, u); err == nil && !su.LastSeen.IsZero() {
				pr.LastSeen = su.LastSeen.UnixMilli()
			}
		}
		out = append(out, pr)
	}
	return out, nil
}

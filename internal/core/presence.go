package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
)

// presence coalesces online/offline changes: a user's change is announced
// at most once per coalescing window, and only if the state at the end of
// the window differs from the last one announced, so a flapping connection
// floods no one.
type presence struct {
	c         *Core
	mu        sync.Mutex
	dirty     map[string]bool
	announced map[string]bool // users last announced online
}

func newPresence(c *Core) *presence {
	return &presence{c: c, dirty: make(map[string]bool), announced: make(map[string]bool)}
}

func (p *presence) changed(user string) {
	p.mu.Lock()
	p.dirty[user] = true
	p.mu.Unlock()
}

func (p *presence) run(ctx context.Context) {
	t := time.NewTicker(p.c.to.PresenceCoalesce)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.flush()
		}
	}
}

func (p *presence) flush() {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = make(map[string]bool)
	p.mu.Unlock()
	for user := range dirty {
		online := p.c.hub.online(user)
		p.mu.Lock()
		was := p.announced[user]
		if online {
			p.announced[user] = true
		} else {
			delete(p.announced, user)
		}
		p.mu.Unlock()
		if was == online {
			continue
		}
		p.announce(user, online)
	}
}

func (p *presence) announce(user string, online bool) {
	c := p.c
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	defer cancel()
	now := c.now()
	if !online {
		if err := c.st.TouchUser(ctx, user, now); err != nil {
			c.log.Warn("presence: last seen", "user", user, "err", err)
		}
	}
	peers, err := c.directPeers(ctx, user)
	if err != nil {
		c.log.Warn("presence: peers", "user", user, "err", err)
		return
	}
	pr := &protocol.Presence{User: user, Online: online}
	if !online {
		pr.LastSeen = now.UnixMilli()
	}
	for _, peer := range peers {
		c.sendToUser(peer, protocol.TypePresence, pr)
	}
}

// directPeers returns the users with whom user has a direct conversation.
func (c *Core) directPeers(ctx context.Context, user string) ([]string, error) {
	convs, err := c.st.UserConversations(ctx, user)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, conv := range convs {
		if ConvKind(conv) == protocol.ConvDirect {
			if peer, ok := c.directPeer(ctx, conv, user); ok {
				out = append(out, peer)
			}
		}
	}
	return out, nil
}

// Presence returns the presence of those of users who share a conversation
// with user; the others are left out of the answer.
func (c *Core) Presence(ctx context.Context, user string, users []string) ([]protocol.Presence, error) {
	if len(users) > 100 {
		return nil, badField("users", "at most 100 at once")
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return nil, err
	}
	mine, err := c.st.UserConversations(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	set := make(map[string]bool, len(mine))
	for _, cv := range mine {
		set[cv] = true
	}
	out := make([]protocol.Presence, 0, len(users))
	for _, u := range users {
		if !c.sharesConversation(ctx, set, user, u) {
			continue
		}
		pr := protocol.Presence{User: u, Online: c.hub.online(u)}
		if !pr.Online {
			if su, err := c.st.User(ctx, u); err == nil && !su.LastSeen.IsZero() {
				pr.LastSeen = su.LastSeen.UnixMilli()
			}
		}
		out = append(out, pr)
	}
	return out, nil
}

func (c *Core) sharesConversation(ctx context.Context, mine map[string]bool, user, other string) bool {
	if user == other {
		return true
	}
	if mine[DirectID(user, other)] {
		return true
	}
	theirs, err := c.st.UserConversations(ctx, other)
	if err != nil {
		return false
	}
	for _, cv := range theirs {
		if mine[cv] {
			return true
		}
	}
	return false
}

package core

import (
	"context"
	"fmt"
	"sync"

	"github.com/parley-im/parley/protocol"
)

// Who sees whose presence (docs/protocol.md §2.9). A user's presence
// (online, offline, last seen) is visible to the user's contacts:
//
//   - friends;
//   - co-members of a group of at most Limits.PresenceGroupMax members
//     (larger groups share no presence: a change would cost a push to each
//     member, and each member's change one to everyone);
//
// never to a user blocked either way, and to nobody while the user hides
// it (protocol.Settings.PresenceHidden). A direct conversation alone, even
// one with messages, makes no contact. The same rule answers the presence
// query and picks who gets pushes. It is symmetric but for hiding: a user
// who hides their presence still sees their contacts'.
//
// Contacts are computed when asked, from the store (friends, the user's
// conversations) and the member and block caches; nothing of them is
// cached, so a new friendship, group or block counts at once. Hidden
// settings are cached per user and forgotten when the user changes them
// (settingsChanged), which also re-announces the user to their contacts.
//
// Cluster mode: a settings change on another node reaches this node's
// cache only when the bus carries its invalidation (to be added with the
// cluster's bus, like the block cache's).

// presenceContacts returns the users who may see user's presence, and
// whose presence user may see: friends and co-members of small groups,
// less those blocked either way, never user itself. Whether each hides
// their presence is not considered here.
func (c *Core) presenceContacts(ctx context.Context, user string) (userSet, error) {
	friends, err := c.st.FriendIDs(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("friends: %w", err)
	}
	convs, err := c.st.UserConversations(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	out := make(userSet, len(friends))
	for _, f := range friends {
		out[f] = struct{}{}
	}
	for _, conv := range convs {
		if ConvKind(conv) != protocol.ConvGroup {
			continue
		}
		ids, err := c.members.get(ctx, conv)
		if err != nil {
			return nil, fmt.Errorf("members of %s: %w", conv, err)
		}
		if len(ids) > c.limits.PresenceGroupMax {
			continue
		}
		for _, id := range ids {
			out[id] = struct{}{}
		}
	}
	delete(out, user)
	if len(out) == 0 {
		return out, nil
	}
	blocked, err := c.blockFilter(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("blocks: %w", err)
	}
	for id := range out {
		if blocked(id) {
			delete(out, id)
		}
	}
	return out, nil
}

// presenceSettingChanged is called when user's settings changed: the
// cached hidden flag is forgotten and the user's presence is looked at
// again at the next flush, so that hiding it tells contacts the user is
// no longer shown online, and showing it again that the user is.
func (c *Core) presenceSettingChanged(user string) {
	c.presence.hidden.forget(user)
	c.presence.changed(user)
	c.invalidateCluster(invalidation{PresenceHidden: user})
}

// hiddenCache keeps users' protocol.Settings.PresenceHidden; gen keeps a
// load that raced with a forget out of it.
type hiddenCache struct {
	mu  sync.Mutex
	m   map[string]bool
	gen uint64
}

// maxHiddenEntries bounds the cache; past it, it starts over.
const maxHiddenEntries = 100_000

func (h *hiddenCache) get(ctx context.Context, c *Core, user string) (bool, error) {
	h.mu.Lock()
	v, ok := h.m[user]
	g := h.gen
	h.mu.Unlock()
	if ok {
		return v, nil
	}
	s, err := c.st.UserSettings(ctx, user)
	if err != nil {
		return false, fmt.Errorf("settings of %s: %w", user, err)
	}
	h.mu.Lock()
	if h.gen == g {
		if len(h.m) >= maxHiddenEntries {
			h.m = make(map[string]bool)
		}
		h.m[user] = s.PresenceHidden
	}
	h.mu.Unlock()
	return s.PresenceHidden, nil
}

func (h *hiddenCache) forgetAll() {
	h.mu.Lock()
	h.m = make(map[string]bool)
	h.gen++
	h.mu.Unlock()
}

func (h *hiddenCache) forget(user string) {
	h.mu.Lock()
	delete(h.m, user)
	h.gen++
	h.mu.Unlock()
}

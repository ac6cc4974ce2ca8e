package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Who may send a user direct messages (docs/protocol.md §2.14): a user's
// setting (protocol.Settings.Inbound, stored in user_settings), or the
// server's default (Social.InboundDefault) for a user who never chose.
// With protocol.InboundFriends, a message into the user's direct
// conversation from someone who is neither a friend nor a member of a
// group the user is in is refused with ErrNotAccepted (403 not_accepted),
// and so is opening a new direct conversation with the user. Blocks are
// checked before (a blocked sender gets 404, whatever the setting);
// groups, edits and deletes of one's own messages, and typing are not
// affected.
//
// The check runs on sends to direct conversations only and costs, warm,
// two map reads: the recipient's setting, and for a friends-only
// recipient whether this sender was allowed before. Only allowances are
// cached, never refusals (a new friendship or group counts at once), and
// each remembers why: a friendship stays valid until an unfriending on
// this node, a shared group until a membership changes anywhere (the
// member cache's generation, which every membership event raises, on
// every node, from the bus). A settings change forgets the user's entry
// before it returns.
//
// Cluster mode: the settings and friendship caches are this node's. A
// setting changed, or a friendship ended, on another node reaches this one
// only when the bus carries its invalidation (to be added with the
// cluster's bus); until then a node could keep allowing a former friend,
// or applying an old setting, for as long as it keeps the entry.

// ErrNotAccepted refuses a direct message to a user who accepts them from
// friends and group co-members only (403, reason not_accepted).
var ErrNotAccepted = errors.New("this user accepts direct messages only from friends and members of a group they are in: send a friend request first")

// SettingsUpdate changes the settings whose field is not nil.
type SettingsUpdate struct {
	// Inbound is protocol.InboundAnyone or protocol.InboundFriends.
	Inbound        *string
	PresenceHidden *bool
	// GroupAdd is protocol.GroupAddAnyone or protocol.GroupAddFriends:
	// who may add the user to a group directly (invites.go).
	GroupAdd *string
}

// maxInboundEntries bounds each of the policy's caches; past it, a cache
// starts over.
const maxInboundEntries = 100_000

// inbound is the policy's state: the caches of settings and allowances.
type inbound struct {
	c   *Core
	def string // the server's default, never ""

	mu          sync.Mutex
	settings    map[string]string // user → stored inbound ("": the default)
	settingsGen uint64            // counts forgotten settings: a load that raced one is not kept
	allowed     map[userPair]allowance
	friendGen   uint64 // counts unfriendings
}

// userPair is a recipient and a sender.
type userPair struct{ to, from string }

// allowance says why a sender may message a recipient, and is valid while
// the generations it was found at hold.
type allowance struct {
	friendGen uint64
	byGroup   bool   // a shared group, not a friendship
	memberGen uint64 // byGroup: the member cache's generation
}

func newInbound(c *Core, def string) *inbound {
	if def == "" {
		def = protocol.InboundAnyone
	}
	return &inbound{c: c, def: def, settings: make(map[string]string), allowed: make(map[userPair]allowance)}
}

// checkInbound refuses sender's message in conv if conv is a direct
// conversation whose other member does not accept it (ErrNotAccepted).
func (c *Core) checkInbound(ctx context.Context, sender, conv string) error {
	peer, ok := c.directPeer(ctx, conv, sender)
	if !ok {
		return nil
	}
	return c.friends.inbound.allow(ctx, peer, sender)
}

// allow returns ErrNotAccepted unless to accepts direct messages from
// from.
func (in *inbound) allow(ctx context.Context, to, from string) error {
	pol, err := in.policy(ctx, to)
	if err != nil || pol != protocol.InboundFriends {
		return err
	}
	// The generations are read before the store, so that a change while
	// it is read leaves what is cached below invalid.
	memberGen := in.c.members.generation()
	in.mu.Lock()
	a, ok := in.allowed[userPair{to, from}]
	friendGen := in.friendGen
	in.mu.Unlock()
	if ok && a.friendGen == friendGen && (!a.byGroup || a.memberGen == memberGen) {
		return nil
	}
	a = allowance{friendGen: friendGen}
	ok, err = in.c.st.AreFriends(ctx, to, from)
	if err == nil && !ok {
		a.byGroup, a.memberGen = true, memberGen
		ok, err = in.c.st.ShareGroup(ctx, to, from)
	}
	switch {
	case err != nil:
		return fmt.Errorf("inbound policy of %s: %w", to, err)
	case !ok:
		return fmt.Errorf("message to %s: %w", to, ErrNotAccepted)
	}
	in.mu.Lock()
	if len(in.allowed) >= maxInboundEntries {
		in.allowed = make(map[userPair]allowance)
	}
	in.allowed[userPair{to, from}] = a
	in.mu.Unlock()
	return nil
}

// policy returns who may message user: the user's setting or the default.
func (in *inbound) policy(ctx context.Context, user string) (string, error) {
	in.mu.Lock()
	v, ok := in.settings[user]
	gen := in.settingsGen
	in.mu.Unlock()
	if !ok {
		s, err := in.c.st.UserSettings(ctx, user)
		if err != nil {
			return "", fmt.Errorf("settings of %s: %w", user, err)
		}
		v = s.Inbound
		in.mu.Lock()
		if in.settingsGen == gen {
			if len(in.settings) >= maxInboundEntries {
				in.settings = make(map[string]string)
			}
			in.settings[user] = v
		}
		in.mu.Unlock()
	}
	if v == "" {
		return in.def, nil
	}
	return v, nil
}

// forget drops user's cached setting.
func (in *inbound) forget(user string) {
	in.mu.Lock()
	delete(in.settings, user)
	in.settingsGen++
	in.mu.Unlock()
}

// unfriended invalidates every allowance found by a friendship.
func (in *inbound) unfriended() {
	in.mu.Lock()
	in.friendGen++
	in.mu.Unlock()
}

// generation is the count of the cache's invalidations: it changes with
// every membership change this node learns of.
func (mc *memberCache) generation() uint64 {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	return mc.gen
}

// Settings returns user's settings, the server's default in Inbound for a
// user who never chose.
func (c *Core) Settings(ctx context.Context, user string) (protocol.Settings, error) {
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.Settings{}, err
	}
	s, err := c.st.UserSettings(ctx, user)
	if err != nil {
		return protocol.Settings{}, fmt.Errorf("settings: %w", err)
	}
	return c.friends.inbound.effective(s), nil
}

// UpdateSettings changes the settings of id's user that u sets and
// returns them all; the change applies to the next message.
func (c *Core) UpdateSettings(ctx context.Context, id Identity, u SettingsUpdate) (protocol.Settings, error) {
	if u.Inbound != nil && *u.Inbound != protocol.InboundAnyone && *u.Inbound != protocol.InboundFriends {
		return protocol.Settings{}, badField("inbound", "must be %q or %q", protocol.InboundAnyone, protocol.InboundFriends)
	}
	if u.GroupAdd != nil && *u.GroupAdd != protocol.GroupAddAnyone && *u.GroupAdd != protocol.GroupAddFriends {
		return protocol.Settings{}, badField("group_add", "must be %q or %q", protocol.GroupAddAnyone, protocol.GroupAddFriends)
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.Settings{}, err
	}
	s, err := c.st.UpdateUserSettings(ctx, id.User, store.SettingsUpdate{Inbound: u.Inbound, PresenceHidden: u.PresenceHidden, GroupAdd: u.GroupAdd})
	// Forgotten whatever the outcome: a failed commit may have committed.
	c.friends.inbound.forget(id.User)
	if u.PresenceHidden != nil {
		c.presenceSettingChanged(id.User)
	}
	if err != nil {
		return protocol.Settings{}, fmt.Errorf("settings: %w", err)
	}
	return c.friends.inbound.effective(s), nil
}

// effective is s as the user sees it: the default for what was never set.
func (in *inbound) effective(s store.UserSettings) protocol.Settings {
	out := protocol.Settings{Inbound: s.Inbound, PresenceHidden: s.PresenceHidden, GroupAdd: in.c.groupAddPolicy(s)}
	if out.Inbound == "" {
		out.Inbound = in.def
	}
	return out
}

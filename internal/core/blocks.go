package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Blocking (docs/protocol.md, Blocking). A block is directed (user blocks
// blocked) but stops direct contact both ways while it lasts:
//
//   - Writes to the direct conversation of the two (sends, edits,
//     deletes, typing) and opening it (Direct) are refused. The blocked
//     user is refused exactly as for a user or conversation that does not
//     exist (404), so a block cannot be told from an unknown user; the
//     blocker, who knows, gets ErrBlocked (403 blocked: unblock to write).
//     Receipts between them are not pushed. Groups are not affected,
//     except that the blocked user cannot add the blocker to a group or
//     invite them (the not-found of an unknown user, invites.go).
//   - Neither sees the other's presence (presence.go).
//   - The blocked user cannot ask the blocker to be friends (the Friends
//     store checks the block in its transaction), and Block drops the
//     blocked user's pending request to the blocker.
//   - The blocked user is told nothing: no entry, no event.
//
// The check is on every direct write, through a per-node cache of each
// user's blocks in both directions (blockCache): warm, it costs one map
// read. Block and Unblock invalidate both users' entries before they
// return, so a refusal or its lifting takes effect on the next write over
// any protocol, without a reconnect. Features that must hide one user from
// another (the moments feed, follows) use Blocked, or blockFilter for a
// fan-out.
//
// Cluster mode: the cache is this node's; Block and Unblock tell the other
// nodes to drop both users' entries through the bus (cluster.go), so a
// block made on one node takes effect on the others as soon as the bus
// carries it there.

// ErrBlocked refuses a write of a blocker to the user they block: unblock
// first (403, reason blocked).
var ErrBlocked = errors.New("you blocked this user: unblock them to write to them")

// ErrTooManyBlocks refuses a new block beyond Limits.BlocksPerUser (403,
// reason too_many_blocks).
var ErrTooManyBlocks = errors.New("too many blocks")

// BlockListPageMax is the largest page of a block list: 500 entries of the
// longest user ids stay below a WebSocket frame.
const BlockListPageMax = 500

// Block makes user block other: see the Blocking role. Blocking a user one
// blocks already changes nothing. An unknown or deleted user is
// store.ErrNotFound; a block beyond Limits.BlocksPerUser is
// ErrTooManyBlocks. It takes effect before it returns.
func (c *Core) Block(ctx context.Context, user, other string) error {
	if err := c.checkBlockTarget(user, other); err != nil {
		return err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return err
	}
	_, err := c.st.Block(ctx, user, other, c.limits.BlocksPerUser, c.now())
	// Invalidated whatever the outcome: a failed commit may have committed.
	c.blocks.invalidate(user, other)
	c.invalidateCluster(invalidation{Blocks: []string{user, other}})
	switch {
	case errors.Is(err, store.ErrLimit):
		return fmt.Errorf("%w: at most %d", ErrTooManyBlocks, c.limits.BlocksPerUser)
	case err != nil:
		return fmt.Errorf("block %s: %w", other, err)
	}
	return nil
}

// Unblock lifts user's block of other; lifting one that is not there
// changes nothing. It takes effect before it returns.
func (c *Core) Unblock(ctx context.Context, user, other string) error {
	if err := c.checkBlockTarget(user, other); err != nil {
		return err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return err
	}
	_, err := c.st.Unblock(ctx, user, other)
	c.blocks.invalidate(user, other)
	c.invalidateCluster(invalidation{Blocks: []string{user, other}})
	if err != nil {
		return fmt.Errorf("unblock %s: %w", other, err)
	}
	return nil
}

func (c *Core) checkBlockTarget(user, other string) error {
	if ValidateUserID(other) != nil {
		return badField("user", "is not a valid user id")
	}
	if other == user {
		return badField("user", "cannot be yourself")
	}
	return nil
}

// BlockList returns a page of the users user blocks, ordered by id, after
// the id after (empty: from the start); limit 0 is 100, at most 500. Only
// the user may list their blocks.
func (c *Core) BlockList(ctx context.Context, user, after string, limit int) (protocol.BlockList, error) {
	limit, err := pageLimit(limit, 100, BlockListPageMax)
	if err == nil {
		err = afterUser(after)
	}
	if err != nil {
		return protocol.BlockList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.BlockList{}, err
	}
	bs, err := c.st.BlockList(ctx, user, after, limit+1)
	if err != nil {
		return protocol.BlockList{}, fmt.Errorf("block list: %w", err)
	}
	var out protocol.BlockList
	out.Blocks, out.Next = keysetPage(bs, limit,
		func(b store.Block) protocol.Block {
			return protocol.Block{User: b.User, Since: b.CreatedAt.UnixMilli()}
		},
		func(b store.Block) string { return b.User })
	return out, nil
}

// Blocked reports whether a blocks b or b blocks a: whether anything of
// one must be kept from the other. It reads the block cache (one map read
// when warm).
func (c *Core) Blocked(ctx context.Context, a, b string) (bool, error) {
	ab, ba, err := c.blocks.between(ctx, a, b)
	return ab || ba, err
}

// blockFilter returns a function that reports whether other and user are
// blocked either way, for a fan-out from user to many: one cache read for
// the whole fan-out, plus one store read per call only for a user with more
// blocks than the cache keeps.
func (c *Core) blockFilter(ctx context.Context, user string) (func(other string) bool, error) {
	e, err := c.blocks.get(ctx, user)
	if err != nil {
		return nil, err
	}
	if !e.many {
		return func(other string) bool { return e.blocks.has(other) || e.blockedBy.has(other) }, nil
	}
	return func(other string) bool {
		ab, ba, err := c.st.Blocking(ctx, user, other)
		return err != nil || ab || ba // unknown: keep apart
	}, nil
}

// directBlocked is the block check of writes to the direct conversation of
// sender and peer (the send path, resolveConv and Direct): nil while
// neither blocks the other; ErrBlocked when the sender blocks the peer;
// when the peer blocks the sender, the not-found of the caller's path
// ("<what> <id>: not found", what the caller answers for a user or
// conversation that does not exist), so that the sender cannot tell.
func (c *Core) directBlocked(ctx context.Context, sender, peer, what, id string) error {
	mine, theirs, err := c.blocks.between(ctx, sender, peer)
	switch {
	case err != nil:
		return fmt.Errorf("blocks: %w", err)
	case mine:
		return ErrBlocked
	case theirs:
		return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// directBlockedIn is directBlocked for a write to conv, a conversation
// sender is a member of: only a direct conversation has a peer to check.
func (c *Core) directBlockedIn(ctx context.Context, sender, conv string) error {
	if ConvKind(conv) != protocol.ConvDirect {
		return nil
	}
	peer, ok := c.directPeer(ctx, conv, sender)
	if !ok {
		return nil
	}
	return c.directBlocked(ctx, sender, peer, "conversation", conv)
}

// receiptBlocked reports whether a receipt between user and peer must not
// be pushed (either blocks the other); a failed read keeps it back too.
func (c *Core) receiptBlocked(ctx context.Context, user, peer string) bool {
	b, err := c.Blocked(ctx, user, peer)
	return b || err != nil
}

// userSet is a set of user ids; nil is empty.
type userSet map[string]struct{}

func (s userSet) has(u string) bool {
	_, ok := s[u]
	return ok
}

// blockEdges are one user's blocks in both directions. When either
// direction has more than maxCachedBlockEdges, many is set and the sets are
// empty: checks involving the user ask the store, pair by pair.
type blockEdges struct {
	blocks    userSet // users the user blocks
	blockedBy userSet // users who block the user
	many      bool
}

// noBlockEdges is the entry of every user without blocks either way (most
// users), shared.
var noBlockEdges = &blockEdges{}

// maxCachedBlockEdges bounds one entry; maxCachedBlockUsers the whole
// cache, which starts over past it.
const (
	maxCachedBlockEdges = 1024
	maxCachedBlockUsers = 100_000
)

// blockCache keeps each recently active user's blocks in both directions,
// so that the block check of a direct write is one map read. Entries are
// loaded from the store on first use and dropped by invalidate (Block and
// Unblock); gen keeps a load that raced with an invalidation out of the
// cache.
type blockCache struct {
	st  store.Blocks
	mu  sync.RWMutex
	m   map[string]*blockEdges
	gen uint64
}

func newBlockCache(st store.Blocks) *blockCache {
	return &blockCache{st: st, m: make(map[string]*blockEdges)}
}

// get returns user's entry, loading it if needed; it must not be modified.
func (bc *blockCache) get(ctx context.Context, user string) (*blockEdges, error) {
	bc.mu.RLock()
	e, ok := bc.m[user]
	g := bc.gen
	bc.mu.RUnlock()
	if ok {
		return e, nil
	}
	blocks, by, err := bc.st.BlockEdges(ctx, user, maxCachedBlockEdges+1)
	if err != nil {
		return nil, err
	}
	switch {
	case len(blocks) > maxCachedBlockEdges || len(by) > maxCachedBlockEdges:
		e = &blockEdges{many: true}
	case len(blocks) == 0 && len(by) == 0:
		e = noBlockEdges
	default:
		e = &blockEdges{blocks: toSet(blocks), blockedBy: toSet(by)}
	}
	bc.mu.Lock()
	if bc.gen == g {
		if len(bc.m) >= maxCachedBlockUsers {
			bc.m = make(map[string]*blockEdges)
		}
		bc.m[user] = e
	}
	bc.mu.Unlock()
	return e, nil
}

// between reports whether a blocks b and whether b blocks a.
func (bc *blockCache) between(ctx context.Context, a, b string) (aBlocksB, bBlocksA bool, err error) {
	e, err := bc.get(ctx, a)
	if err != nil {
		return false, false, err
	}
	if e.many {
		return bc.st.Blocking(ctx, a, b)
	}
	return e.blocks.has(b), e.blockedBy.has(b), nil
}

// invalidateAll drops every entry.
func (bc *blockCache) invalidateAll() {
	bc.mu.Lock()
	bc.m = make(map[string]*blockEdges)
	bc.gen++
	bc.mu.Unlock()
}

// invalidate drops the entries of users.
func (bc *blockCache) invalidate(users ...string) {
	bc.mu.Lock()
	for _, u := range users {
		delete(bc.m, u)
	}
	bc.gen++
	bc.mu.Unlock()
}

func toSet(ids []string) userSet {
	if len(ids) == 0 {
		return nil
	}
	s := make(userSet, len(ids))
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}

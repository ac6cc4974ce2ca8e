package core

import (
	"context"
	"sync"

	"github.com/parley-im/parley/internal/store"
)

// memberCache keeps the member ids of recently active conversations for
// fan-out. It is invalidated by membership events (which every node sees on
// the bus) and reloaded from the store on the next use, so it never
// outlives the store's truth by more than one event.
type memberCache struct {
	st store.Store
	mu sync.RWMutex
	m  map[string][]string
	// gen counts invalidations, so a load that raced with one is not cached.
	gen uint64
}

// maxCachedConvs bounds the cache; past it, it starts over.
const maxCachedConvs = 100_000

func newMemberCache(st store.Store) *memberCache {
	return &memberCache{st: st, m: make(map[string][]string)}
}

// get returns the member ids of conv; the slice must not be modified.
func (mc *memberCache) get(ctx context.Context, conv string) ([]string, error) {
	mc.mu.RLock()
	ids, ok := mc.m[conv]
	g := mc.gen
	mc.mu.RUnlock()
	if ok {
		return ids, nil
	}
	ids, err := mc.st.MemberIDs(ctx, conv)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		// No such conversation (or nobody left in it): a client probing
		// made-up ids must not push real entries out of the cache.
		return nil, nil
	}
	mc.mu.Lock()
	if mc.gen == g {
		if len(mc.m) >= maxCachedConvs {
			mc.m = make(map[string][]string)
		}
		mc.m[conv] = ids
	}
	mc.mu.Unlock()
	return ids, nil
}

// isMember reports whether user is a member of conv, from the cache.
func (mc *memberCache) isMember(ctx context.Context, conv, user string) (bool, error) {
	ids, err := mc.get(ctx, conv)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if id == user {
			return true, nil
		}
	}
	return false, nil
}

// invalidateAll empties the cache.
func (mc *memberCache) invalidateAll() {
	mc.mu.Lock()
	mc.m = make(map[string][]string)
	mc.gen++
	mc.mu.Unlock()
}

// invalidate drops conv from the cache.
func (mc *memberCache) invalidate(conv string) {
	mc.mu.Lock()
	delete(mc.m, conv)
	mc.gen++
	mc.mu.Unlock()
}

// seqCache remembers the highest seq this node has seen committed or
// announced per conversation. Seqs only grow, so a remembered value is a
// lower bound of the conversation's last seq: anything at or below it exists.
type seqCache struct {
	mu sync.Mutex
	m  map[string]uint64
}

// get returns the remembered seq of conv (0 if none).
func (s *seqCache) get(conv string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[conv]
}

// raise remembers seq for conv if it is higher than what is remembered.
func (s *seqCache) raise(conv string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= maxCachedConvs {
		s.m = make(map[string]uint64)
	}
	if seq > s.m[conv] {
		s.m[conv] = seq
	}
}

// IsMember reports whether user is a member of conv (from the member cache,
// which every membership change invalidates). A conversation that does not
// exist has no members.
func (c *Core) IsMember(ctx context.Context, user, conv string) (bool, error) {
	return c.members.isMember(ctx, conv, user)
}

package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// MQTTSubscription is one topic filter of an MQTT session with the QoS
// granted to it.
type MQTTSubscription struct {
	Filter string
	QoS    byte
}

// MQTTSession is the stored state of an MQTT session (DESIGN.md §3): its
// subscriptions. Its positions are not part of it: they belong to the
// device, whatever the protocol.
type MQTTSession struct {
	Subscriptions []MQTTSubscription // in the order they were made
	// ExpiresAt is when the session ends while its client is away; zero
	// while it is connected, or if it never expires by itself (it still
	// ends with its device).
	ExpiresAt time.Time
}

// MQTTSessions is the core's role for the MQTT gateway's session state:
// the gateway keeps its sessions through these methods, never through the
// store. Every method takes the identity of the session's device.
type MQTTSessions interface {
	// LoadMQTTSession returns the session of id's device; found is false,
	// with a nil error, if there is none or it has expired.
	LoadMQTTSession(ctx context.Context, id Identity) (s MQTTSession, found bool, err error)
	// SaveMQTTSession creates or replaces the session of id's device with
	// s, durably when it returns nil. A deleted user gets none.
	SaveMQTTSession(ctx context.Context, id Identity, s MQTTSession) error
	// DeleteMQTTSession removes the session of id's device; nil if there
	// is none. The device's positions stay.
	DeleteMQTTSession(ctx context.Context, id Identity) error
	// ReleasePacketKey frees the packet key of a QoS 2 publish after
	// PUBREL (writes.go has its contract).
	ReleasePacketKey(ctx context.Context, user, key string) error
	// NewestSeqs returns, for each conversation user is a member of, the
	// seq of its newest entry (0 in an empty one): where a session that
	// is promised only what is committed from now on starts.
	NewestSeqs(ctx context.Context, user string) (map[string]uint64, error)
}

// Interface guard.
var _ MQTTSessions = (*Core)(nil)

// LoadMQTTSession: see MQTTSessions.
func (c *Core) LoadMQTTSession(ctx context.Context, id Identity) (MQTTSession, bool, error) {
	s, err := c.st.MQTTSession(ctx, id.User, id.Device, c.now())
	if errors.Is(err, store.ErrNotFound) {
		return MQTTSession{}, false, nil
	}
	if err != nil {
		return MQTTSession{}, false, fmt.Errorf("load mqtt session: %w", err)
	}
	out := MQTTSession{ExpiresAt: s.ExpiresAt}
	if len(s.Subscriptions) > 0 {
		out.Subscriptions = make([]MQTTSubscription, len(s.Subscriptions))
		for i, sub := range s.Subscriptions {
			out.Subscriptions[i] = MQTTSubscription{Filter: sub.Filter, QoS: sub.QoS}
		}
	}
	return out, true, nil
}

// SaveMQTTSession: see MQTTSessions.
func (c *Core) SaveMQTTSession(ctx context.Context, id Identity, s MQTTSession) error {
	st := store.MQTTSession{User: id.User, Device: id.Device, ExpiresAt: s.ExpiresAt}
	if len(s.Subscriptions) > 0 {
		st.Subscriptions = make([]store.MQTTSubscription, len(s.Subscriptions))
		for i, sub := range s.Subscriptions {
			st.Subscriptions[i] = store.MQTTSubscription{Filter: sub.Filter, QoS: sub.QoS}
		}
	}
	if err := c.st.PutMQTTSession(ctx, st); err != nil {
		return fmt.Errorf("save mqtt session: %w", err)
	}
	return nil
}

// DeleteMQTTSession: see MQTTSessions.
func (c *Core) DeleteMQTTSession(ctx context.Context, id Identity) error {
	if err := c.st.DeleteMQTTSession(ctx, id.User, id.Device); err != nil {
		return fmt.Errorf("delete mqtt session: %w", err)
	}
	return nil
}

// NewestSeqs: see MQTTSessions. A conversation deleted while it is read,
// or with nothing in it yet (a user's system conversation before its first
// entry), is left out.
func (c *Core) NewestSeqs(ctx context.Context, user string) (map[string]uint64, error) {
	convs, err := c.st.UserConversations(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("newest seqs: %w", err)
	}
	seqs := make(map[string]uint64, len(convs))
	for _, conv := range convs {
		cv, err := c.st.Conversation(ctx, conv)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("newest seqs: %w", err)
		}
		if cv.LastSeq > 0 {
			seqs[conv] = cv.LastSeq
		}
	}
	return seqs, nil
}

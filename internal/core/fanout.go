package core

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

func convTopic(conv string) string { return "c." + conv }
func userTopic(user string) string { return "u." + user }

// envelope is what travels on the bus. Data is the event's payload, encoded
// once and reused as the payload of the wire frames.
type envelope struct {
	Node string `json:"n"`
	Type string `json:"t"`
	Conv string `json:"c,omitempty"`
	// User is the one recipient of a user event, or the user to leave out
	// of a conversation event (typing).
	User string          `json:"u,omitempty"`
	Data json.RawMessage `json:"d,omitempty"`
}

// publishLocal fans a committed message out to this node's clients and
// returns its event for the bus (nil if it cannot be encoded); only the
// dispatcher calls it.
func (c *Core) publishLocal(m *protocol.Message) *Event {
	ev := NewMessageEvent(m)
	if err := ev.Encode(); err != nil {
		c.log.Error("publish: message dropped (devices get it from the store)", "conv", m.Conv, "seq", m.Seq, "err", err)
		return nil
	}
	c.fanoutMessage(ev)
	return ev
}

// publishBus sends a committed message to the other nodes. Membership
// events also go to the affected user's topic, so a node learns of a
// conversation its user just joined; a conversation's first entry (a
// group's creation event, a direct conversation's first message) goes to
// the topic of every member, whose nodes are not subscribed to the
// conversation yet (one bus message per member, not per device). Only the
// bus stage calls it.
func (c *Core) publishBus(ev *Event) {
	m := ev.Msg
	env := envelope{Node: c.node, Type: protocol.TypeMsg, Conv: m.Conv, Data: ev.Payload()}
	c.busPublish(convTopic(m.Conv), env)
	if m.Seq != 1 {
		if m.Kind == protocol.KindMember && m.Member != nil {
			c.busPublish(userTopic(m.Member.User), env)
		}
		return
	}
	if strings.HasPrefix(m.Conv, store.SystemConvPrefix) {
		// A system conversation exists from its user's creation: the
		// user's devices subscribed to it when they resumed.
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	ids, err := c.members.get(ctx, m.Conv)
	cancel()
	if err != nil {
		// The members' devices get the conversation at their next resume.
		c.log.Warn("bus: members of a new conversation", "conv", m.Conv, "err", err)
		return
	}
	for _, u := range ids {
		c.busPublish(userTopic(u), env)
	}
}

// busPublish publishes env on topic; its error is logged and counted, and
// returned for the few callers that try again.
func (c *Core) busPublish(topic string, env envelope) error {
	if c.singleNode {
		return nil // every receiver is on this node and was served directly
	}
	data, err := json.Marshal(env)
	if err != nil {
		c.log.Error("encode bus envelope", "err", err)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	defer cancel()
	if err := c.bus.Publish(ctx, bus.Message{Topic: topic, Data: data}); err != nil {
		// The bus is not the source of truth: receivers repair from the store.
		c.metrics.BusErrors.Inc()
		c.log.Warn("bus publish failed", "topic", topic, "err", err)
		return err
	}
	return nil
}

// fanoutMessage queues a message event to every live client of every member
// of its conversation on this node (the affected user of a membership event
// too, so a removed member learns of its removal).
func (c *Core) fanoutMessage(ev *Event) {
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	defer cancel()
	ids, err := c.members.get(ctx, ev.Conv)
	if err != nil {
		c.log.Warn("fan-out: members", "conv", ev.Conv, "err", err)
		return
	}
	for _, u := range ids {
		c.deliverMessage(u, ev)
	}
	if u := leaver(ev.Msg); u != "" {
		c.deliverMessage(u, ev)
	}
}

// deliverMessage queues a message event to the user's resumed clients on
// this node, counting each delivery by the client's protocol.
func (c *Core) deliverMessage(user string, ev *Event) {
	for _, cl := range c.hub.clients(user) {
		if cl.live.Load() {
			cl.Enqueue(ev)
			cl.delivered.Inc()
		}
	}
}

// deliverToUser queues ev to the user's clients on this node; liveOnly
// skips clients that have not resumed. It returns how many were queued.
func (c *Core) deliverToUser(user string, ev *Event, liveOnly bool) int {
	n := 0
	for _, cl := range c.hub.clients(user) {
		if liveOnly && !cl.live.Load() {
			continue
		}
		cl.Enqueue(ev)
		n++
	}
	return n
}

// sendToUser delivers a transient or user-scoped event (read state,
// receipt, presence) to all of the user's clients, on every node.
func (c *Core) sendToUser(user, typ string, data any) {
	ev := &Event{Type: typ, Data: data}
	c.deliverToUser(user, ev, false)
	c.busPublish(userTopic(user), envelope{Node: c.node, Type: typ, User: user, Data: ev.Payload()})
}

// onBus handles a message from another node.
func (c *Core) onBus(m bus.Message) {
	var env envelope
	if err := json.Unmarshal(m.Data, &env); err != nil {
		c.log.Warn("bus: bad envelope", "topic", m.Topic, "err", err)
		return
	}
	if env.Node == c.node {
		return // this node already delivered it locally
	}
	switch env.Type {
	case protocol.TypeMsg:
		var msg protocol.Message
		if err := json.Unmarshal(env.Data, &msg); err != nil {
			c.log.Warn("bus: bad message", "err", err)
			return
		}
		if msg.Kind == protocol.KindMember {
			c.members.invalidate(msg.Conv)
		}
		c.seenSeqs.raise(msg.Conv, msg.Seq)
		ev := newMessageEventRaw(&msg, env.Data)
		if u, ok := strings.CutPrefix(m.Topic, userTopic("")); ok {
			// A membership event, or a conversation's first entry, sent
			// to one user's topic (publishBus): for that user only.
			// Delivery checks the joined range, so a stale copy shows
			// nothing.
			c.deliverToUser(u, ev, true)
			return
		}
		c.fanoutMessage(ev)
	case typeInvalidate:
		c.onInvalidate(env.Data)
	case typePresenceNode:
		c.presence.onPresenceNode(env.Node, env.Data)
	case protocol.TypeTyping:
		ev := &Event{Type: env.Type, Conv: env.Conv}
		ev.once.Do(func() { ev.payload = env.Data })
		c.fanoutTransient(ev, env.User)
	default:
		ev := &Event{Type: env.Type}
		ev.once.Do(func() { ev.payload = env.Data })
		c.deliverToUser(env.User, ev, false)
	}
}

// fanoutTransient queues a conversation event that is not stored (typing)
// to the members' clients on this node, leaving out user's own.
func (c *Core) fanoutTransient(ev *Event, user string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	defer cancel()
	ids, err := c.members.get(ctx, ev.Conv)
	if err != nil {
		return
	}
	for _, u := range ids {
		if u != user {
			c.deliverToUser(u, ev, true)
		}
	}
}

// Typing tells the other members of conv that id's user is typing. It is
// never stored.
//
// Typing is coalesced: within rate_limits.typing_interval of the last one
// relayed for the same user and conversation, it is accepted and not
// relayed.
func (c *Core) Typing(ctx context.Context, id Identity, conv string) error {
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	if _, err := c.resolveConv(ctx, id.User, conv, ""); err != nil {
		return err
	}
	if g := c.budget.typing; g != nil && !g.relay(id.User, conv) {
		return nil
	}
	ev := &Event{Type: protocol.TypeTyping, Conv: conv, Data: &protocol.Typing{Conv: conv, User: id.User}}
	c.fanoutTransient(ev, id.User)
	c.busPublish(convTopic(conv), envelope{Node: c.node, Type: protocol.TypeTyping, Conv: conv, User: id.User, Data: ev.Payload()})
	return nil
}

package mqtt

import (
	"bytes"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook connects the engine to the gateway. Every method runs on the
// connection's read goroutine unless noted.
type hook struct {
	mochi.HookBase
	s *Server
}

func (h *hook) ID() string { return "parley" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnSessionEstablished, mochi.OnDisconnect,
		mochi.OnACLCheck, mochi.OnSubscribe, mochi.OnSubscribed, mochi.OnUnsubscribed,
		mochi.OnPublish, mochi.OnPacketRead, mochi.OnPacketEncode, mochi.OnWill,
	}, []byte{b})
}

func (h *hook) OnConnect(cl *mochi.Client, pk packets.Packet) error { return h.s.connect(cl, pk) }

// OnConnectAuthenticate: OnConnect authenticated the client already (and
// refused it with the right CONNACK if it failed).
func (h *hook) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	return h.s.lookup(cl) != nil
}

func (h *hook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	if nc, ok := cl.Net.Conn.(*netConn); ok {
		nc.established.Store(cl)
	}
	if c := h.s.lookup(cl); c != nil {
		c.setReady()
		c.mu.Lock()
		resumed := len(c.subs) > 0
		c.mu.Unlock()
		if resumed {
			c.start()
		}
	}
}

func (h *hook) OnDisconnect(cl *mochi.Client, err error, _ bool) { h.s.disconnected(cl, err) }

func (h *hook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	c := h.s.lookup(cl)
	if c == nil {
		return false
	}
	if write {
		return h.s.scheme.publishRoute(c.id.User, topic).kind != routeNone
	}
	return c.maySubscribe(topic)
}

func (h *hook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if c := h.s.lookup(cl); c != nil {
		c.vetSubscribe(&pk)
	}
	return pk
}

func (h *hook) OnSubscribed(cl *mochi.Client, pk packets.Packet, codes []byte) {
	if c := h.s.lookup(cl); c != nil {
		c.subscribedTo(pk.Filters, codes)
	}
}

func (h *hook) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	// The engine also calls this for its own clean-ups (packet id 0), which
	// are not the client's: the stored session is not touched by those.
	if c := h.s.lookup(cl); c != nil && pk.PacketID != 0 {
		c.unsubscribedFrom(pk.Filters)
	}
}

func (h *hook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	c := h.s.lookup(cl)
	if c == nil {
		return pk, packets.ErrRejectPacket
	}
	return c.publish(pk)
}

func (h *hook) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	return h.s.packetRead(cl, pk)
}

func (h *hook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if c := h.s.lookup(cl); c != nil {
		return c.encode(pk)
	}
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion < 5 && pk.ReasonCode == packets.ErrUnspecifiedError.Code &&
		!cl.Properties.Clean && cl.Properties.Props.AssignedClientID != "" {
		// The engine refuses a 3.1.1 empty client id with clean session 0
		// with 0x80, which 3.1.1 does not define; its code is 0x02
		// (identifier rejected) [MQTT-3.1.3-8].
		pk.ReasonCode = v3BadID
	}
	return pk
}

func (h *hook) OnWill(cl *mochi.Client, will mochi.Will) (mochi.Will, error) {
	if c := h.s.lookup(cl); c != nil {
		c.will(will)
	}
	// Parley keeps a delayed will itself (conn.will, Server.cancelWill).
	// The engine must not keep one too: it decides by the client's own
	// will, not the one returned here, and would queue its copy under the
	// client id (<user>/<device>), then, when the delay is over, treat as
	// sent the will of whichever client has that id by then. After a
	// takeover that is the new connection, whose will it would clear (a
	// plain write of cl.Properties.Will on the engine's event loop, racing
	// with the new connection's read of it) so that it is never sent.
	// This runs on the connection's read goroutine, the only one that
	// uses the will of cl once the engine has no delayed copy.
	cl.Properties.Will.WillDelayInterval = 0
	// The engine publishes the will through its own topic tree, which
	// holds no chat deliveries: send it where nobody can subscribe.
	will.TopicName, will.Retain, will.WillDelayInterval = willSink, false, 0
	return will, nil
}

// willSink is the engine's topic for a will that Parley has handled.
const willSink = "$parley/will-handled"

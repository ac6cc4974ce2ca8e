package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// errClosed is returned by a write to a connection that has ended.
var errClosed = errors.New("mqtt connection closed")

// conn is Parley's state of one MQTT connection; it is the connection's
// core.Transport.
type conn struct {
	s          *Server
	mc         *mochi.Client
	id         core.Identity
	v5         bool
	persistent bool   // the session outlives the connection
	expiry     uint32 // 5.0 session expiry interval in seconds
	present    bool   // a stored session was resumed (CONNACK session present)
	cl         *core.Client

	ready     chan struct{} // closed once CONNACK is written
	readyOnce sync.Once
	done      chan struct{} // closed when the connection ends
	doneOnce  sync.Once
	window    chan struct{} // QoS 1 deliveries awaiting PUBACK

	mu       sync.Mutex
	subs     []core.MQTTSubscription
	started  bool                    // delivery started (first subscription or a resumed session)
	inflight map[uint16]position     // QoS 1 deliveries by packet id
	runs     map[string][]ackRun     // per conversation, its QoS 1 deliveries not yet reflected in the position (see acked)
	nextPID  uint16                  // last packet id used for a delivery
	dups     *dupCache               // QoS 1 packet id → client message id, the session's
	acks     map[uint16]protocol.Ack // the commits a PUBACK or PUBREC is about to report
	subFix   map[uint16]map[int]byte // SUBACK reason codes to correct, by packet id
}

// position is what a delivery's PUBACK acknowledges.
type position struct {
	conv string
	seq  uint64
}

// ackRun is, in a conversation's list of QoS 1 deliveries on the
// connection, either one delivery awaiting its PUBACK (done false; seq is
// its seq) or consecutive deliveries that need none any more (done true;
// seq is the highest). The list is in seq order, and no two done runs are
// adjacent.
type ackRun struct {
	seq  uint64
	done bool
}

var _ core.Transport = (*conn)(nil)

func (c *conn) setReady() { c.readyOnce.Do(func() { close(c.ready) }) }
func (c *conn) setDone()  { c.doneOnce.Do(func() { close(c.done) }) }

// Send writes an event as PUBLISH packets on the topics the connection
// subscribed to; an event no subscription covers is not written (and a
// message not written is not acknowledged, so the device gets it on its
// next resume).
func (c *conn) Send(ctx context.Context, ev *core.Event) error {
	select {
	case <-c.ready:
	case <-c.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	switch ev.Type {
	case protocol.TypeMsg:
		return c.deliver(ctx, ev.Msg, ev.Payload())
	case protocol.TypePage:
		// Each message as encoded once for the page: a connection adds
		// only what MQTT needs of its own (topic, packet id, properties).
		page, ok := ev.Data.(*protocol.Page)
		raw := ev.MessagePayloads()
		if !ok || len(raw) != len(page.Messages) {
			return nil
		}
		for i := range page.Messages {
			if err := c.deliver(ctx, &page.Messages[i], raw[i]); err != nil {
				return err
			}
		}
		return nil
	case protocol.TypeReceipt:
		return c.notify("Receipt", ev.Payload(), "conv")
	case protocol.TypeRead:
		return c.notify("Read", ev.Payload(), "conv")
	case protocol.TypeTyping:
		return c.notify("Typing", ev.Payload(), "conv")
	case protocol.TypePresence:
		return c.notify("Presence", ev.Payload(), "user")
	case protocol.TypeMoment:
		return c.deliverMoment(ctx, ev)
	case protocol.TypeError:
		if ev.Err != nil {
			return c.notifyError(ev.Err)
		}
	}
	return nil
}

// deliver writes message m (encoded as b) to the topic it goes to on this
// connection: the group topic if a subscription covers it, else the
// inbox.
func (c *conn) deliver(ctx context.Context, m *protocol.Message, b []byte) error {
	topic, qos, ok := c.route(m)
	if !ok {
		return nil
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		Payload:     b,
	}
	if c.v5 {
		pk.Properties.User = messageProps(m)
		pk.Properties.ContentType = "application/json"
		pk.Properties.PayloadFormat, pk.Properties.PayloadFormatFlag = 1, true
	}
	if qos == 0 {
		if err := c.write(pk); !errors.Is(err, packets.ErrPacketTooLarge) {
			return err
		}
		return c.tooLarge(m, 0)
	}
	select {
	case c.window <- struct{}{}:
	case <-c.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	pid := c.allocPID()
	c.inflight[pid] = position{conv: m.Conv, seq: m.Seq}
	if c.runs == nil {
		c.runs = make(map[string][]ackRun)
	}
	// The writer delivers a conversation's messages in seq order.
	c.runs[m.Conv] = append(c.runs[m.Conv], ackRun{seq: m.Seq})
	c.mu.Unlock()
	pk.PacketID = pid
	if err := c.write(pk); !errors.Is(err, packets.ErrPacketTooLarge) {
		return err
	}
	return c.tooLarge(m, pid)
}

// tooLarge handles a delivery of m that is larger than the client's
// Maximum Packet Size (MQTT 5): it was not written, and the server behaves
// as if it had been [MQTT-3.1.2-25], without ending the connection. A QoS
// 1 delivery (packet id pid) is handled as if its PUBACK had come: it
// gives back its packet id and window slot, and the position in its
// conversation moves past it once every delivery before it there is
// acknowledged, so that a reconnect never skips an earlier delivery that
// was not. The client is told on its Error topic, where it subscribed to
// it.
func (c *conn) tooLarge(m *protocol.Message, pid uint16) error {
	c.s.log.Debug("mqtt delivery over the client's maximum packet size, not sent",
		"user", c.id.User, "device", c.id.Device, "conv", m.Conv, "seq", m.Seq, "id", m.ID,
		"max", c.mc.Properties.Props.MaximumPacketSize)
	if pid != 0 {
		c.acked(pid)
	}
	return c.notifyError(&protocol.Error{Code: protocol.CodeTooLarge, Reason: "too_large", Message: fmt.Sprintf(
		"message %s (conv %s, seq %d) is larger than your Maximum Packet Size and was not sent; get it with GET /v1/conversations/%s/messages?after=%d&limit=1",
		m.ID, m.Conv, m.Seq, m.Conv, m.Seq-1)})
}

// allocPID returns a packet id no delivery in flight uses (c.mu held; the
// window keeps fewer than 65535 in flight).
func (c *conn) allocPID() uint16 {
	for {
		c.nextPID++
		if c.nextPID == 0 {
			c.nextPID = 1
		}
		if _, used := c.inflight[c.nextPID]; !used {
			return c.nextPID
		}
	}
}

// route picks the topic and QoS of m on this connection.
func (c *conn) route(m *protocol.Message) (topic string, qos byte, ok bool) {
	if t, q, ok := c.systemRoute(m); ok {
		return t, q, true // a notice, on ROOT/System/<value> (system.go)
	}
	sc := c.s.scheme
	if core.ConvKind(m.Conv) == protocol.ConvGroup {
		t := sc.groupTopic(m.Conv, m.From)
		if q, ok := c.subscribed(t); ok {
			return t, q, true
		}
	}
	if t := sc.friendTopic(c.id.User, m); t != "" {
		if q, ok := c.subscribed(t); ok {
			return t, q, true
		}
	}
	if t := sc.followTopic(c.id.User, m); t != "" {
		if q, ok := c.subscribed(t); ok {
			return t, q, true // an unsub, on ROOT/<self>/Inbox/Update/<from>/Unsub (moments.go)
		}
	}
	if t := sc.inviteTopic(c.id.User, m); t != "" {
		if q, ok := c.subscribed(t); ok {
			return t, q, true
		}
	}
	t := sc.inboxTopic(c.id.User, "Msg", m.Conv)
	q, ok := c.subscribed(t)
	return t, q, ok
}

// subscribed returns the highest QoS of the subscriptions matching topic.
func (c *conn) subscribed(topic string) (qos byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if matches(s.Filter, topic) {
			qos, ok = max(qos, s.QoS), true
		}
	}
	return qos, ok
}

// notify writes a transient event (QoS 0) to the inbox topic of kind,
// keyed by the payload's field key.
func (c *conn) notify(kind string, payload []byte, key string) error {
	var k map[string]any
	_ = json.Unmarshal(payload, &k)
	name, _ := k[key].(string)
	if name == "" {
		return nil
	}
	topic := c.s.scheme.inboxTopic(c.id.User, kind, name)
	if _, ok := c.subscribed(topic); !ok {
		return nil
	}
	return c.writeEvent(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: payload})
}

// notifyError tells the client about a publish it was refused where the
// protocol has no other way to say so (QoS 0; MQTT 3.1.1), on its inbox's
// Error topic.
func (c *conn) notifyError(e *protocol.Error) error {
	topic := c.s.scheme.inboxTopic(c.id.User, "Error", "")
	if _, ok := c.subscribed(topic); !ok {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return c.writeEvent(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: b})
}

func (c *conn) write(pk packets.Packet) error {
	if err := c.mc.WritePacket(pk); err != nil {
		return err
	}
	return nil
}

// writeEvent writes a QoS 0 event; one larger than the client's Maximum
// Packet Size is dropped [MQTT-3.1.2-25].
func (c *conn) writeEvent(pk packets.Packet) error {
	if err := c.write(pk); !errors.Is(err, packets.ErrPacketTooLarge) {
		return err
	}
	return nil
}

// acked handles the PUBACK of a delivery. PUBACKs may come in any order,
// and one acknowledges its own delivery only: the device's position in
// the delivery's conversation advances over the deliveries acknowledged
// without a gap from the first one still awaiting its PUBACK, never past
// that one.
func (c *conn) acked(pid uint16) {
	c.mu.Lock()
	p, ok := c.inflight[pid]
	delete(c.inflight, pid)
	var to uint64
	advance := false
	if ok {
		to, advance = c.settle(p)
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	<-c.window
	if advance {
		c.ack(p.conv, to)
	}
}

// settle marks the delivery p as needing no PUBACK any more and returns
// the seq the position in p's conversation may advance to, if the
// deliveries before it there are settled too (c.mu held).
func (c *conn) settle(p position) (to uint64, advance bool) {
	runs := c.runs[p.conv]
	i := slices.IndexFunc(runs, func(r ackRun) bool { return !r.done && r.seq == p.seq })
	if i < 0 {
		return 0, false
	}
	runs[i].done = true
	if i+1 < len(runs) && runs[i+1].done {
		runs[i].seq = runs[i+1].seq
		runs = slices.Delete(runs, i+1, i+2)
	}
	if i > 0 && runs[i-1].done {
		runs[i-1].seq = runs[i].seq
		runs = slices.Delete(runs, i, i+1)
		i--
	}
	if i == 0 {
		to, advance = runs[0].seq, true
		runs = slices.Delete(runs, 0, 1)
	}
	if len(runs) == 0 {
		delete(c.runs, p.conv)
	} else {
		c.runs[p.conv] = runs
	}
	return to, advance
}

// ack advances the device's position in conv to seq.
func (c *conn) ack(conv string, seq uint64) {
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
	defer cancel()
	if err := c.s.core.AckDelivered(ctx, c.id, conv, seq); err != nil {
		c.s.log.Debug("mqtt ack", "user", c.id.User, "device", c.id.Device, "conv", conv, "err", err)
	}
}

// Protocol names the transport for the core's metrics.
func (c *conn) Protocol() string { return core.ProtoMQTT }

// Close ends the connection: 5.0 clients get a DISCONNECT with the reason
// mapped from code; 3.1.1 has no server DISCONNECT, so the network
// connection is closed.
func (c *conn) Close(code int, reason string) {
	c.setDone()
	rc := disconnectCode(code)
	if c.v5 {
		go func() { _ = c.s.mq.DisconnectClient(c.mc, rc) }()
		return
	}
	c.mc.Stop(rc)
}

// disconnectCode maps a core close code to an MQTT 5 DISCONNECT reason.
func disconnectCode(code int) packets.Code {
	switch code {
	case protocol.CloseShutdown:
		return packets.ErrServerShuttingDown
	case protocol.CloseSlowConsumer:
		return packets.ErrQuotaExceeded
	case protocol.ClosePingTimeout:
		return packets.ErrKeepAliveTimeout
	case protocol.CloseTooManyConnections:
		return packets.ErrQuotaExceeded
	case protocol.CloseFlapping:
		return packets.ErrConnectionRateExceeded
	case protocol.CloseRevoked, protocol.CloseKicked:
		return packets.ErrAdministrativeAction
	case protocol.CloseTakeover:
		return packets.ErrSessionTakenOver
	}
	return packets.ErrUnspecifiedError
}

// dupCache remembers the client message ids given to the latest QoS 1
// publishes without one, by packet id, so that a re-sent PUBLISH (DUP set,
// same packet id, e.g. after a reconnect) is the same send and stored once
// [MQTT-3.3.1-1]. Only packets that can still be re-sent matter: at most
// the receive maximum, so the cache holds that many. A persistent
// session's cache outlives its connections (Server.sessionDups), which
// may overlap during a takeover: it has its own lock.
type dupCache struct {
	mu    sync.Mutex
	ids   map[uint16]string
	order []uint16
	limit int
}

// idFor returns the client message id of a QoS 1 PUBLISH with packet id
// pid: the one given before to that packet id if the PUBLISH is a re-send
// (dup), else a new one.
func (d *dupCache) idFor(pid uint16, dup bool) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[pid]; ok && dup {
		return id
	}
	id := "q1:" + randomHex(12)
	d.put(pid, id)
	return id
}

// put records id for pid (d.mu held).
func (d *dupCache) put(pid uint16, id string) {
	if d.ids == nil {
		d.ids = make(map[uint16]string)
	}
	if _, ok := d.ids[pid]; !ok {
		d.order = append(d.order, pid)
	}
	d.ids[pid] = id
	for len(d.order) > d.limit {
		delete(d.ids, d.order[0])
		d.order = d.order[1:]
	}
}

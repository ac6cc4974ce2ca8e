package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Moments over MQTT (seed 001 scene 2, docs/mqtt.md "Moments"). B
// publishes a moment on ROOT/<B>, its own topic and nobody else's
// (publishRoute): a JSON object with the keys of protocol.MomentPost, or
// plain text; a QoS 1 publish is acknowledged once the moment is stored.
// A may subscribe to ROOT/<B> only while A follows B and neither blocks
// the other (checkFilter, maySubscribe), and receives there the moments of
// B that the core pushes to A (protocol.TypeMoment): the core pushes each
// moment once, right after it is stored, to those who may see it then, so
// an unfollow or a block stops the deliveries on a subscription A already
// holds, at once. B's own connections receive B's moments on ROOT/<B>
// when they subscribed to it.
//
// When B removes A from B's followers with a notice, A receives the entry
// (kind follow, action unsub) on ROOT/<A>/Inbox/Update/<B>/Unsub if a
// subscription covers it (such as ROOT/<A>/Inbox/Update/#), else on the
// system conversation's inbox topic like any entry.

// momentTopic is where the moments of author are published and delivered.
func (s scheme) momentTopic(author string) string { return s.root + "/" + author }

// followTopic is where a follow entry m reaches user: the Update topic of
// an "unsub" from the user who removed them; "" for any other entry.
func (s scheme) followTopic(user string, m *protocol.Message) string {
	if m.Kind != protocol.KindFollow || m.Social == nil || m.Social.Action != protocol.FollowUnsub || m.From != m.Social.User {
		return ""
	}
	return s.root + "/" + user + "/Inbox/Update/" + m.From + "/Unsub"
}

// momentKeys are the keys of the JSON form of a moment publish.
var momentKeys = map[string]bool{"client_msg_id": true, "text": true, "payload": true, "visibility": true, "users": true}

// parseMoment reads the payload of a moment publish: a JSON object whose
// keys are all of protocol.MomentPost, or else UTF-8 text, the moment's
// text (visible to followers). The client message id may also come as MQTT
// 5 correlation data or a user property client_msg_id, as for sends.
func parseMoment(pk packets.Packet) (protocol.MomentPost, *fieldError) {
	var p protocol.MomentPost
	b := bytes.TrimSpace(pk.Payload)
	var keys map[string]json.RawMessage
	isObject := len(b) > 1 && b[0] == '{' && json.Unmarshal(b, &keys) == nil && len(keys) > 0
	for k := range keys {
		isObject = isObject && momentKeys[k]
	}
	switch {
	case isObject:
		if err := json.Unmarshal(b, &p); err != nil {
			return p, &fieldError{"payload", "a moment object's fields have the wrong type: " + err.Error()}
		}
	case !utf8.Valid(pk.Payload):
		return p, &fieldError{"payload", "is not UTF-8 text nor a moment object"}
	default:
		p.Text = string(pk.Payload)
	}
	if p.ClientMsgID == "" && len(pk.Properties.CorrelationData) > 0 {
		p.ClientMsgID = string(pk.Properties.CorrelationData)
	}
	if p.ClientMsgID == "" {
		for _, up := range pk.Properties.User {
			if up.Key == "client_msg_id" {
				p.ClientMsgID = up.Val
			}
		}
	}
	return p, nil
}

// publishMoment posts the moment a publish on the user's own topic
// carries. A QoS 1 PUBLISH without a client message id gets the one its
// packet id was given before if it is a re-send (DUP), so a moment is not
// posted twice by a retry (clientMsgID).
func (c *conn) publishMoment(ctx context.Context, pk packets.Packet) error {
	p, ferr := parseMoment(pk)
	if ferr != nil {
		return &core.FieldError{Field: ferr.field, Reason: ferr.msg}
	}
	p.ClientMsgID = c.clientMsgID(pk, p.ClientMsgID)
	_, err := c.s.core.PostMoment(ctx, c.id, p)
	return err
}

// deliverMoment writes a moment pushed by the core to ROOT/<author>, if a
// subscription of this connection covers it, at the subscription's QoS
// (at most 1): a QoS 1 delivery takes a packet id and a slot of the send
// window until its PUBACK, and moves no position (a moment is in no
// conversation).
func (c *conn) deliverMoment(ctx context.Context, ev *core.Event) error {
	m, ok := ev.Data.(*protocol.Moment)
	if !ok {
		return nil
	}
	topic := c.s.scheme.momentTopic(m.Author)
	qos, ok := c.subscribed(topic)
	if !ok {
		return nil
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		Payload:     ev.Payload(),
	}
	if c.v5 {
		pk.Properties.User = []packets.UserProperty{
			{Key: "kind", Val: protocol.TypeMoment},
			{Key: "id", Val: strconv.FormatInt(m.ID, 10)},
			{Key: "from", Val: m.Author},
			{Key: "visibility", Val: m.Visibility},
		}
		pk.Properties.ContentType = "application/json"
		pk.Properties.PayloadFormat, pk.Properties.PayloadFormatFlag = 1, true
	}
	if qos == 0 {
		return c.writeEvent(pk)
	}
	select {
	case c.window <- struct{}{}:
	case <-c.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	pk.PacketID = c.allocPID()
	c.inflight[pk.PacketID] = position{} // no conversation: acked frees the slot only
	c.mu.Unlock()
	if err := c.write(pk); errors.Is(err, packets.ErrPacketTooLarge) {
		c.acked(pk.PacketID) // not sent [MQTT-3.1.2-25]: as if acknowledged
		return nil
	} else if err != nil {
		return err
	}
	return nil
}

package mqtt

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Broadcasts over MQTT (seed 001 scene 4, docs/mqtt.md 5.1): one PUBLISH
// sends one message to many users, each of whom gets it as an ordinary
// message from the publisher in their direct conversation (on their inbox,
// IMS/<them>/Inbox/Msg/<d_conv>), without subscribing to anything.
//
//   - ROOT/<self>/Broadcast/<list>: to the users of one of the publisher's
//     broadcast lists; the payload is a message as on ROOT/p2p/<user>
//     (text, or the JSON envelope).
//   - ROOT/<self>/Broadcast: to the users the payload names, a JSON object
//     {"to": [...], "body": ..., ...} (the envelope's keys and "to").
//
// The QoS 1 PUBACK (2: PUBREC) is written once every copy is stored. A
// PUBACK cannot carry one result per recipient, so the gateway writes the
// whole result (protocol.BroadcastResult) to the publishing connection on
// ROOT/<self>/Inbox/Broadcast, QoS 0, before the PUBACK, if the connection
// subscribes to it (ROOT/<self>/Inbox/# does); like the Error topic it is
// not stored. MQTT 5 clients also learn from the PUBACK's reason code
// whether anyone got the message: 0x00 if at least one recipient has their
// copy, 0x10 (No matching subscribers, a success) if every recipient was
// skipped. The copies themselves reach the publisher's own connections on
// their inboxes (sent-sync), as every direct message does. A refusal of the
// whole (a bad request, an unknown list, the broadcast budget) is answered
// like any refused publish (refuse).

// broadcastLevel is the topic level of broadcasts.
const broadcastLevel = "Broadcast"

// broadcastRoute parses ROOT/<user>/Broadcast[/<list>] (lv is the topic's
// levels, lv[1] == user checked by the caller): the route, or routeNone.
func broadcastRoute(lv []string) route {
	switch {
	case len(lv) == 3 && lv[2] == broadcastLevel:
		return route{kind: routeBroadcast}
	case len(lv) == 4 && lv[2] == broadcastLevel && lv[3] != "":
		return route{kind: routeBroadcast, target: lv[3]}
	}
	return route{}
}

// publishBroadcast handles a publish on a broadcast topic: r.target is the
// list, or "" for the recipients the payload names.
func (c *conn) publishBroadcast(ctx context.Context, pk packets.Packet, r route) (packets.Packet, error) {
	req, ferr := parseBroadcast(pk, r.target)
	if ferr != nil {
		return c.refuse(pk, &core.FieldError{Field: ferr.field, Reason: ferr.msg})
	}
	if req.ClientMsgID == "" {
		// As for a send without one: a QoS 1 or 2 re-send (DUP) of the
		// same packet id reuses the id given to the first.
		if pk.FixedHeader.Qos > 0 {
			req.ClientMsgID = c.dups.idFor(pk.PacketID, pk.FixedHeader.Dup)
		} else {
			req.ClientMsgID = "q0:" + randomHex(12)
		}
	}
	res, err := c.s.core.Broadcast(core.WithProtocol(ctx, core.ProtoMQTT), c.id, req)
	if err != nil {
		return c.refuse(pk, err)
	}
	if err := c.notifyBroadcast(&res); err != nil {
		c.s.log.Debug("mqtt broadcast result not written", "user", c.id.User, "device", c.id.Device, "err", err)
	}
	if c.v5 && pk.FixedHeader.Qos == 1 && res.Sent == 0 {
		return pk, packets.CodeNoMatchingSubscribers
	}
	return pk, packets.CodeSuccessIgnore
}

// notifyBroadcast writes a broadcast's result to this connection on
// ROOT/<self>/Inbox/Broadcast, if it subscribes to it.
func (c *conn) notifyBroadcast(res *protocol.BroadcastResult) error {
	topic := c.s.scheme.inboxTopic(c.id.User, broadcastLevel, "")
	if _, ok := c.subscribed(topic); !ok {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return c.writeEvent(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: b})
}

// parseBroadcast reads a broadcast publish: to list, a message as
// parseSend reads it; to the users the payload names (list ""), a JSON
// object with "to" and the envelope's keys. The client message id may
// also come from the MQTT 5 correlation data or a client_msg_id user
// property, as for a send.
func parseBroadcast(pk packets.Packet, list string) (protocol.BroadcastRequest, *fieldError) {
	if list != "" {
		s, ferr := parseSend(pk)
		if ferr != nil {
			return protocol.BroadcastRequest{}, ferr
		}
		return protocol.BroadcastRequest{List: list, ClientMsgID: s.ClientMsgID, ContentType: s.ContentType,
			Body: s.Body, Payload: s.Payload, Encrypted: s.Encrypted}, nil
	}
	var v struct {
		To []string `json:"to"`
		envelope
	}
	dec := json.NewDecoder(bytes.NewReader(pk.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || len(v.To) == 0 {
		msg := `must be a JSON object {"to": ["user", ...], "body": "..."} (and the envelope's content_type, payload, client_msg_id, encrypted)`
		if err != nil {
			msg += ": " + err.Error()
		}
		return protocol.BroadcastRequest{}, &fieldError{"payload", msg}
	}
	r := protocol.BroadcastRequest{To: v.To, ClientMsgID: v.ClientMsgID, ContentType: v.ContentType,
		Payload: v.Payload, Encrypted: v.Encrypted}
	if v.Body != nil {
		r.Body = *v.Body
	}
	if r.ClientMsgID == "" {
		s, _ := parseSend(packets.Packet{Properties: pk.Properties})
		r.ClientMsgID = s.ClientMsgID
	}
	return r, nil
}

// noRecipients is the reason string of a broadcast's PUBACK 0x10.
const noRecipients = "no recipient got the message (the result is on the Inbox/Broadcast topic)"

// successAck is the reason code and properties of a successful PUBACK or
// PUBREC whose engine code is code: 0x00 and none, except for the 0x10 (No
// matching subscribers) of a broadcast that reached nobody, which keeps its
// code and says so in a reason string (the engine writes a reason code
// below 0x80 only if the packet has properties).
func successAck(code byte) (byte, packets.Properties) {
	if code == packets.CodeNoMatchingSubscribers.Code {
		return code, packets.Properties{ReasonString: noRecipients}
	}
	return 0, packets.Properties{}
}

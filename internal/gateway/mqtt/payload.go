package mqtt

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// envelope is the JSON form of a send (docs/mqtt.md). A payload that is a
// JSON object whose keys are all envelope keys, with a body or a payload,
// is an envelope; any other payload is the text of the message.
type envelope struct {
	Body        *string         `json:"body"`
	ContentType string          `json:"content_type"`
	ClientMsgID string          `json:"client_msg_id"`
	Payload     json.RawMessage `json:"payload"`
	Encrypted   bool            `json:"encrypted"`
}

var envelopeKeys = map[string]bool{"body": true, "content_type": true, "client_msg_id": true, "payload": true, "encrypted": true}

// parseSend turns a PUBLISH payload and its properties into a send. The
// client message id comes from the envelope, else from MQTT 5 correlation
// data, else from a user property client_msg_id; it may be empty.
func parseSend(pk packets.Packet) (core.SendRequest, *fieldError) {
	var r core.SendRequest
	if env, ok := asEnvelope(pk.Payload); ok {
		if env.Body != nil {
			r.Body = *env.Body
		}
		r.ContentType, r.ClientMsgID, r.Payload, r.Encrypted = env.ContentType, env.ClientMsgID, env.Payload, env.Encrypted
	} else {
		if !utf8.Valid(pk.Payload) {
			return r, &fieldError{"payload", "is not UTF-8 text nor a JSON envelope"}
		}
		r.Body = string(pk.Payload)
		r.ContentType = pk.Properties.ContentType
	}
	if r.ClientMsgID == "" && len(pk.Properties.CorrelationData) > 0 {
		r.ClientMsgID = string(pk.Properties.CorrelationData)
	}
	if r.ClientMsgID == "" {
		for _, p := range pk.Properties.User {
			if p.Key == "client_msg_id" {
				r.ClientMsgID = p.Val
			}
		}
	}
	return r, nil
}

// fieldError is a payload the gateway cannot read.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + " " + e.msg }

func asEnvelope(b []byte) (envelope, bool) {
	var env envelope
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' {
		return env, false
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(b, &keys) != nil || len(keys) == 0 {
		return env, false
	}
	for k := range keys {
		if !envelopeKeys[k] {
			return env, false
		}
	}
	if _, ok := keys["body"]; !ok {
		if _, ok := keys["payload"]; !ok {
			return env, false
		}
	}
	if json.Unmarshal(b, &env) != nil {
		return env, false
	}
	return env, true
}

// parseSeq reads the seq of an ack or read publish: a decimal number, or a
// JSON object {"seq": N}.
func parseSeq(b []byte) (uint64, bool) {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, true
	}
	var v struct {
		Seq *uint64 `json:"seq"`
	}
	if json.Unmarshal([]byte(s), &v) == nil && v.Seq != nil {
		return *v.Seq, true
	}
	return 0, false
}

// messageProps are the MQTT 5 user properties of a delivered message: the
// envelope's metadata, so a client can route it without parsing the JSON.
func messageProps(m *protocol.Message) []packets.UserProperty {
	props := []packets.UserProperty{
		{Key: "conv", Val: m.Conv},
		{Key: "seq", Val: strconv.FormatUint(m.Seq, 10)},
		{Key: "id", Val: m.ID},
		{Key: "from", Val: m.From},
		{Key: "kind", Val: m.Kind},
	}
	if m.ClientMsgID != "" {
		props = append(props, packets.UserProperty{Key: "client_msg_id", Val: m.ClientMsgID})
	}
	return props
}

// ackProps are the MQTT 5 user properties of the PUBACK (or PUBREC) of a
// send: what the WebSocket ack frame says.
func ackProps(a protocol.Ack) []packets.UserProperty {
	props := []packets.UserProperty{
		{Key: "conv", Val: a.Conv},
		{Key: "seq", Val: strconv.FormatUint(a.Seq, 10)},
		{Key: "id", Val: a.ID},
	}
	if a.ClientMsgID != "" {
		props = append(props, packets.UserProperty{Key: "client_msg_id", Val: a.ClientMsgID})
	}
	if a.Duplicate {
		props = append(props, packets.UserProperty{Key: "duplicate", Val: "true"})
	}
	return props
}

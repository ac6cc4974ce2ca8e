package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Friend requests over MQTT (seed 001 scene 1, docs/mqtt.md 5.5). A
// publishes a request to B's inbox, naming itself last:
// ROOT/<B>/Inbox/Add/GFReq/<A>, and B's connections receive it on that
// same topic; B answers on ROOT/<A>/Inbox/Add/GFResp/<B>, where A's
// connections receive the answer. The user named last is always the
// authenticated one (publishRoute). The other entries of the social graph
// (requested, withdrawn, removed, and an answer as the answerer's own
// devices see it) arrive on the system conversation's inbox topic,
// ROOT/<self>/Inbox/Msg/<s_conv>, like every entry.

// The topic levels of friend requests and their answers.
const (
	friendReqLevel  = "GFReq"
	friendRespLevel = "GFResp"
)

// friendTopic is where a friend entry m reaches user: the GFReq topic for
// a request to the user, the GFResp topic for the other user's answer to
// the user's request, named by the other user; "" for any other entry.
func (s scheme) friendTopic(user string, m *protocol.Message) string {
	if m.Kind != protocol.KindFriend || m.Social == nil || m.Social.User == "" || m.From != m.Social.User {
		return "" // not by the other user: one of the user's own
	}
	level := ""
	switch m.Social.Action {
	case protocol.FriendRequest:
		level = friendReqLevel
	case protocol.FriendAccepted, protocol.FriendDeclined:
		level = friendRespLevel
	default:
		return ""
	}
	return s.root + "/" + user + "/Inbox/Add/" + level + "/" + m.Social.User
}

// parseFriendText reads the payload of a request: empty (no text), a JSON
// object {"text": "..."}, or else the text itself, which must be UTF-8.
func parseFriendText(b []byte) (string, *fieldError) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return "", nil
	}
	if t[0] == '{' {
		var keys map[string]json.RawMessage
		var v struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal(t, &keys) == nil && len(keys) == 1 && keys["text"] != nil && json.Unmarshal(t, &v) == nil && v.Text != nil {
			return *v.Text, nil
		}
	}
	if !utf8.Valid(b) {
		return "", &fieldError{"payload", "is not UTF-8 text nor {\"text\": \"...\"}"}
	}
	return string(b), nil
}

// parseFriendAnswer reads the payload of an answer: {"accept": true} or
// {"accept": false} (or the bare true or false).
func parseFriendAnswer(b []byte) (bool, *fieldError) {
	t := bytes.TrimSpace(b)
	var v struct {
		Accept *bool `json:"accept"`
	}
	var keys map[string]json.RawMessage
	switch {
	case bytes.Equal(t, []byte("true")):
		return true, nil
	case bytes.Equal(t, []byte("false")):
		return false, nil
	case json.Unmarshal(t, &keys) == nil && len(keys) == 1 && json.Unmarshal(t, &v) == nil && v.Accept != nil:
		return *v.Accept, nil
	}
	return false, &fieldError{"payload", `must be {"accept": true} or {"accept": false}`}
}

// publishFriend handles a publish on a GFReq or GFResp topic: a request to
// r.target, or the answer to r.target's request. Its PUBACK (QoS 1) is
// written once the change and its entries are stored.
func (c *conn) publishFriend(ctx context.Context, pk packets.Packet, r route) error {
	if r.kind == routeFriendReq {
		text, ferr := parseFriendText(pk.Payload)
		if ferr != nil {
			return &core.FieldError{Field: ferr.field, Reason: ferr.msg}
		}
		_, err := c.s.core.RequestFriend(ctx, c.id, r.target, text)
		return err
	}
	accept, ferr := parseFriendAnswer(pk.Payload)
	if ferr != nil {
		return &core.FieldError{Field: ferr.field, Reason: ferr.msg}
	}
	_, err := c.s.core.AnswerFriend(ctx, c.id, r.target, accept)
	return err
}

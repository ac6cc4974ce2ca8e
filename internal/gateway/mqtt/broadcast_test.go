package mqtt

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestBroadcastTopics: only the user's own broadcast topics are broadcast
// routes, with the list as the target.
func TestBroadcastTopics(t *testing.T) {
	t.Parallel()
	s := scheme{root: "IMS"}
	for _, tc := range []struct {
		topic  string
		ok     bool
		target string
	}{
		{"IMS/alice/Broadcast", true, ""},
		{"IMS/alice/Broadcast/family", true, "family"},
		{"IMS/bob/Broadcast/family", false, ""},
		{"IMS/bob/Broadcast", false, ""},
		{"IMS/alice/Broadcast/", false, ""},
		{"IMS/alice/Broadcast/a/b", false, ""},
		{"IMS/alice/broadcast/family", false, ""},
		{"IMS/Broadcast", false, ""},
	} {
		r := s.publishRoute("alice", tc.topic)
		if (r.kind == routeBroadcast) != tc.ok || r.kind == routeBroadcast && r.target != tc.target {
			t.Errorf("%s: route %+v, want broadcast %v to %q", tc.topic, r, tc.ok, tc.target)
		}
	}
}

// TestParseBroadcast: a list's payload is a send's; the users' is an
// object with "to" and the envelope's keys, nothing else.
func TestParseBroadcast(t *testing.T) {
	t.Parallel()
	r, ferr := parseBroadcast(packets.Packet{Payload: []byte(`{"client_msg_id":"x","body":"hi"}`)}, "family")
	if ferr != nil || r.List != "family" || r.ClientMsgID != "x" || r.Body != "hi" || len(r.To) != 0 {
		t.Fatalf("to a list: %+v, %v", r, ferr)
	}
	r, ferr = parseBroadcast(packets.Packet{Payload: []byte("plain text")}, "family")
	if ferr != nil || r.Body != "plain text" {
		t.Fatalf("text to a list: %+v, %v", r, ferr)
	}
	r, ferr = parseBroadcast(packets.Packet{Payload: []byte(`{"to":["bob","carol"],"body":"hi","payload":{"a":1}}`),
		Properties: packets.Properties{User: []packets.UserProperty{{Key: "client_msg_id", Val: "up-1"}}}}, "")
	if ferr != nil || len(r.To) != 2 || r.Body != "hi" || string(r.Payload) != `{"a":1}` || r.ClientMsgID != "up-1" {
		t.Fatalf("to users: %+v, %v", r, ferr)
	}
	for _, bad := range []string{`{"body":"no to"}`, `{"to":[],"body":"x"}`, `{"to":["bob"],"body":"x","extra":1}`, `plain`, `{"to":"bob"}`} {
		if _, ferr := parseBroadcast(packets.Packet{Payload: []byte(bad)}, ""); ferr == nil || ferr.field != "payload" {
			t.Errorf("%s: %v, want a payload error", bad, ferr)
		}
	}
}

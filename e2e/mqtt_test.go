package e2e

import (
	"strings"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// TestMQTTChatWithWebSocket: a Paho 3.1.1 client and a WebSocket client
// chat in one conversation, and HTTP history has both messages (S12).
func TestMQTTChatWithWebSocket(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	bob := s.dial("bob", "phone")
	alice := s.mqttConnect("alice", "chat@@@laptop", true)
	alice.subscribe("IMS/alice/Inbox/#", 1)

	ack, err := bob.Send(ctxT(t), parley.SendOptions{To: "alice", Body: "hi from websocket"})
	if err != nil {
		t.Fatal(err)
	}
	got := alice.recv(1, 5*time.Second)[0]
	if got.Topic != "IMS/alice/Inbox/Msg/"+ack.Conv || got.QoS != 1 {
		t.Fatalf("delivery on %s qos %d", got.Topic, got.QoS)
	}
	if m := got.message(t); m.Body != "hi from websocket" || m.From != "bob" || m.Seq != ack.Seq || m.ID != ack.ID {
		t.Fatalf("delivery %+v, ack %+v", m, ack)
	}
	recv(t, bob, 1, 5*time.Second) // sent-sync of bob's own message

	alice.publish("IMS/p2p/bob", 1, "hello from mqtt")
	m := recv(t, bob, 1, 5*time.Second)[0]
	if m.Body != "hello from mqtt" || m.From != "alice" || m.Seq != ack.Seq+1 || m.ContentType != "text/plain" {
		t.Fatalf("websocket got %+v", m)
	}
	// The sending connection receives its own message (sent-sync).
	if own := alice.recv(1, 5*time.Second)[0].message(t); own.Seq != m.Seq || own.From != "alice" {
		t.Fatalf("sent-sync %+v", own)
	}
	page, err := s.login("bob", "web").History(ctxT(t), ack.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, pm := range page.Messages {
		bodies = append(bodies, pm.Body)
	}
	if strings.Join(bodies, "|") != "hi from websocket|hello from mqtt" {
		t.Fatalf("history %q", bodies)
	}
}

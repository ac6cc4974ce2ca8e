package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/protocol"
)

// TestMQTT311RefusedPublishIsNotAcknowledged: MQTT 3.1.1 has no way to
// refuse a publish in its PUBACK, and a PUBACK says the message is stored.
// A QoS 1 publish the server refuses (a group the sender is not in, a body
// over limits.max_message_bytes) gets none: a real 3.1.1 client (Paho) is
// told why on its Error topic, then its connection is closed
// [MQTT-3.3.5-2], and the publish is not reported as delivered.
func TestMQTT311RefusedPublishIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	g := e.group()
	for _, tc := range []struct {
		name, topic, body string
		code              int
	}{
		{"not-a-member", "IMS/" + g + "/alice", "let me in", 404},
		{"too-large", "IMS/p2p/bob", strings.Repeat("x", 64<<10+1), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lost := make(chan error, 1)
			o := e.s.mqtt3Options("alice", "refused-"+tc.name, true)
			o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
			m := e.s.mqttConnectWith(o)
			m.subscribe("IMS/alice/Inbox/Error", 0)
			tok := m.c.Publish(tc.topic, 1, false, tc.body)

			notice := m.recv(1, 10*time.Second)[0]
			var pe protocol.Error
			if notice.Topic != "IMS/alice/Inbox/Error" || json.Unmarshal(notice.Payload, &pe) != nil || pe.Code != tc.code {
				t.Fatalf("got %s on %s, want an Error notice with code %d", notice.Payload, notice.Topic, tc.code)
			}
			select {
			case <-lost:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection is still open after the refusal")
			}
			if !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
				t.Fatalf("the refused publish was acknowledged (completed %v, error %v)", tok.WaitTimeout(0), tok.Error())
			}
		})
	}
	noMessage(t, e.bob, 300*time.Millisecond)
	e.nothingLost()
}

package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
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
	// Messages only: bob's acks send alice delivered receipts on
	// Inbox/Receipt at moments this test does not control.
	alice.subscribe("IMS/alice/Inbox/Msg/#", 1)

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

// TestMQTTWebSocketUpgradeLimited: MQTT over WebSocket shares the
// per-address connection rate with /v1/ws; past it the /mqtt upgrade is
// refused like /v1/ws's: 429, Retry-After and the API's error body.
func TestMQTTWebSocketUpgradeLimited(t *testing.T) {
	t.Parallel()
	const perMinute = 2
	s := startServer(t, func(c *config.Config) { c.RateLimits.ConnectsPerIPPerMinute = perMinute })
	hc := clientFrom(t, "127.0.0.7")
	upgrade := func() response {
		req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, "http://"+s.app.Addr()+"/mqtt", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range wsrHeaders(s.app.Addr()) {
			req.Header[k] = v
		}
		req.Header.Set("Sec-WebSocket-Protocol", "mqtt")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		r := response{status: res.StatusCode, header: res.Header}
		if res.StatusCode != http.StatusSwitchingProtocols {
			r.body, _ = io.ReadAll(io.LimitReader(res.Body, 4096))
		}
		return r
	}
	for i := range perMinute {
		if r := upgrade(); r.status != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade %d: %d %s", i, r.status, r.body)
		}
	}
	refused429(t, "/mqtt upgrade past the rate", upgrade(), 60/perMinute)
}

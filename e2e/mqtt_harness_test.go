package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/protocol"
)

// mqttMsg is one PUBLISH an MQTT test client received.
type mqttMsg struct {
	Topic   string
	QoS     byte
	Payload []byte
}

// message decodes a delivery's JSON envelope.
func (m mqttMsg) message(t *testing.T) protocol.Message {
	t.Helper()
	var pm protocol.Message
	if err := json.Unmarshal(m.Payload, &pm); err != nil {
		t.Fatalf("delivery on %s is not a message envelope: %v: %s", m.Topic, err, m.Payload)
	}
	return pm
}

// mqtt3 is a Paho (MQTT 3.1.1) client whose received messages are queued.
type mqtt3 struct {
	t       *testing.T
	c       paho.Client
	ch      chan mqttMsg
	present bool // CONNACK's session present flag
}

// mqtt3Options are the options of a test client of user on the server.
func (s *server) mqtt3Options(user, clientID string, clean bool) *paho.ClientOptions {
	return paho.NewClientOptions().
		AddBroker("tcp://" + s.app.MQTTAddr()).
		SetClientID(clientID).
		SetUsername(user).
		SetPassword("password-" + user).
		SetCleanSession(clean).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(5 * time.Second)
}

// mqttConnect connects a Paho 3.1.1 client of user with clientID.
func (s *server) mqttConnect(user, clientID string, clean bool) *mqtt3 {
	s.t.Helper()
	return s.mqttConnectWith(s.mqtt3Options(user, clientID, clean))
}

func (s *server) mqttConnectWith(o *paho.ClientOptions) *mqtt3 {
	s.t.Helper()
	m := &mqtt3{t: s.t, ch: make(chan mqttMsg, 1024)}
	o.SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) {
		m.ch <- mqttMsg{Topic: msg.Topic(), QoS: msg.Qos(), Payload: msg.Payload()}
	})
	m.c = paho.NewClient(o)
	tok := m.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		s.t.Fatalf("mqtt connect: %v", tok.Error())
	}
	m.present = tok.(*paho.ConnectToken).SessionPresent()
	s.t.Cleanup(func() { m.c.Disconnect(50) })
	return m
}

// subscribe subscribes to filter with qos and fails the test on refusal.
func (m *mqtt3) subscribe(filter string, qos byte) {
	m.t.Helper()
	tok := m.c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		m.t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		if code := st.Result()[filter]; code >= 0x80 {
			m.t.Fatalf("subscribe %s refused: 0x%02x", filter, code)
		}
	}
}

// publish publishes and waits for the PUBACK (QoS ≥ 1).
func (m *mqtt3) publish(topic string, qos byte, payload any) {
	m.t.Helper()
	tok := m.c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		m.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// recv reads n deliveries within the timeout.
func (m *mqtt3) recv(n int, timeout time.Duration) []mqttMsg {
	m.t.Helper()
	return recvMQTT(m.t, m.ch, n, timeout)
}

func recvMQTT(t *testing.T, ch <-chan mqttMsg, n int, timeout time.Duration) []mqttMsg {
	t.Helper()
	var out []mqttMsg
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case msg := <-ch:
			out = append(out, msg)
		case <-deadline:
			t.Fatalf("received %d of %d MQTT messages within %v: %v", len(out), n, timeout, out)
		}
	}
	return out
}

// none checks that nothing arrives for d.
func (m *mqtt3) none(d time.Duration) {
	m.t.Helper()
	select {
	case msg := <-m.ch:
		m.t.Fatalf("unexpected MQTT message on %s: %s", msg.Topic, msg.Payload)
	case <-time.After(d):
	}
}

// seqs returns the (conv, seq) of deliveries, for order checks.
func seqs(t *testing.T, msgs []mqttMsg) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		pm := m.message(t)
		out = append(out, fmt.Sprintf("%s/%d", pm.Conv, pm.Seq))
	}
	return out
}

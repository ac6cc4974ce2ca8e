package cluster

import (
	"encoding/json"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// mqttClient is a Paho 3.1.1 client of a node: its deliveries and whether
// its connection was lost.
type mqttClient struct {
	c    paho.Client
	msgs chan paho.Message
	lost chan error
	// present is the CONNACK's session present flag.
	present bool
}

// mqttConnect connects user's client id to the node with a persistent
// session, without reconnecting by itself.
func (n *node) mqttConnect(user, clientID string) *mqttClient {
	n.t.Helper()
	m := &mqttClient{msgs: make(chan paho.Message, 64), lost: make(chan error, 1)}
	o := paho.NewClientOptions().AddBroker("tcp://" + n.app.MQTTAddr()).
		SetClientID(clientID).SetUsername(user).SetPassword("password-" + user).
		SetCleanSession(false).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetOrderMatters(true).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) { m.msgs <- msg }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { m.lost <- err })
	m.c = paho.NewClient(o)
	tok := m.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		n.t.Fatalf("mqtt connect: %v", tok.Error())
	}
	m.present = tok.(*paho.ConnectToken).SessionPresent()
	n.t.Cleanup(func() { m.c.Disconnect(50) })
	return m
}

// An MQTT persistent session moves to another node: the client id that
// connects there takes the session over (the connection on the first node
// is closed), finds it present with its subscription, and gets what is
// sent to it.
func TestMQTTSessionMovesAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, u := twoNodes(t, "alice", "bob")
	alice, bob := u[0], u[1]
	first := a.mqttConnect(alice, "tablet")
	tok := first.c.Subscribe("IMS/"+alice+"/Inbox/Msg/#", 1, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	moved := b.mqttConnect(alice, "tablet")
	if !moved.present {
		t.Fatal("CONNACK session present = 0 on the second node")
	}
	select {
	case <-first.lost:
	case <-time.After(15 * time.Second):
		t.Fatal("the session's connection on node a was not closed")
	}

	ack, err := a.login(bob, "web").Send(ctxT(t), "", parley.SendOptions{To: alice, Body: "to the moved session"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-moved.msgs:
		var m protocol.Message
		if err := json.Unmarshal(msg.Payload(), &m); err != nil || m.ID != ack.ID || m.Body != "to the moved session" {
			t.Fatalf("got %s on %s (%v), want %+v", msg.Payload(), msg.Topic(), err, ack)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the moved session got nothing")
	}
}

package e2e

// A delivery larger than an MQTT 5 client's Maximum Packet Size is not
// sent, and the server behaves as if it had been [MQTT-3.1.2-25]: the
// connection stays up, the device's position moves past the message (but
// never past an earlier delivery still awaiting its PUBACK), and the
// client is told on its Error topic.

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// maxPacketSize is the Maximum Packet Size of alice's client: small
// messages fit, the 2,000-byte one does not.
const maxPacketSize = 1024

// maxPktClient is a paho.golang client of alice with a Maximum Packet Size
// and a persistent session, subscribed to IMS/alice/Inbox/#.
type maxPktClient struct {
	c       *paho5.Client
	ch      chan *paho5.Publish
	discon  chan byte // reason codes of DISCONNECTs from the server
	closing atomic.Bool
}

// dialMaxPacket connects alice's client clientID with CleanStart false and
// a session expiry; manualAck leaves the PUBACKs to the test. A first
// connection subscribes; a later one must find its session.
func dialMaxPacket(t *testing.T, c *mqttChat, clientID string, first, manualAck bool) *maxPktClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pc := &maxPktClient{ch: make(chan *paho5.Publish, 64), discon: make(chan byte, 4)}
	pc.c = paho5.NewClient(paho5.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(pr paho5.PublishReceived) (bool, error) {
			pc.ch <- pr.Packet
			return true, nil
		}},
		OnClientError: func(err error) {
			if !pc.closing.Load() {
				t.Logf("paho5 client error: %v", err)
			}
		},
		OnServerDisconnect: func(d *paho5.Disconnect) {
			t.Logf("paho5: server sent DISCONNECT 0x%02x", d.ReasonCode)
			pc.discon <- d.ReasonCode
		},
		EnableManualAcknowledgment: manualAck,
		SendAcksInterval:           10 * time.Millisecond,
	})
	ca, err := pc.c.Connect(ctxT(t), &paho5.Connect{
		ClientID: clientID, Username: "alice", UsernameFlag: true,
		Password: []byte("password-alice"), PasswordFlag: true,
		CleanStart: false, KeepAlive: 30,
		Properties: &paho5.ConnectProperties{
			MaximumPacketSize:     paho5.Uint32(maxPacketSize),
			SessionExpiryInterval: paho5.Uint32(3600),
		},
	})
	if err != nil {
		t.Fatalf("paho5 connect: %v (connack %+v)", err, ca)
	}
	if ca.ReasonCode != 0 {
		t.Fatalf("paho5 CONNACK reason 0x%02x", ca.ReasonCode)
	}
	t.Cleanup(pc.close)
	if !first {
		if !ca.SessionPresent {
			t.Fatal("reconnect: CONNACK session present 0, want the persistent session")
		}
		return pc
	}
	sa, err := pc.c.Subscribe(ctxT(t), &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "IMS/alice/Inbox/#", QoS: 1}}})
	if err != nil {
		t.Fatalf("paho5 subscribe: %v (suback %+v)", err, sa)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		t.Fatalf("paho5 SUBACK reasons %v, want [1]", sa.Reasons)
	}
	return pc
}

// close disconnects normally (reason 0x00): the session stays.
func (pc *maxPktClient) close() {
	if pc.closing.Swap(true) {
		return
	}
	_ = pc.c.Disconnect(&paho5.Disconnect{ReasonCode: 0})
	select {
	case <-pc.c.Done():
	case <-time.After(5 * time.Second):
	}
}

// connected fails the test if the server ended the connection.
func (pc *maxPktClient) connected(t *testing.T) {
	t.Helper()
	select {
	case rc := <-pc.discon:
		t.Fatalf("server sent DISCONNECT 0x%02x", rc)
	case <-pc.c.Done():
		t.Fatal("the connection ended")
	default:
	}
}

// next returns the next delivery or Error-topic notice, skipping other
// events (presence, receipts).
func (pc *maxPktClient) next(t *testing.T) *paho5.Publish {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-pc.ch:
			if isChatTopic(p.Topic) || p.Topic == "IMS/alice/Inbox/Error" {
				return p
			}
		case rc := <-pc.discon:
			t.Fatalf("server sent DISCONNECT 0x%02x while a delivery was awaited", rc)
		case <-pc.c.Done():
			t.Fatal("the connection ended while a delivery was awaited")
		case <-deadline:
			t.Fatal("no delivery or Error notice within 10s")
		}
	}
}

// message expects the delivery of ack with body, and acknowledges it if
// the client acknowledges manually and ackIt is set.
func (pc *maxPktClient) message(t *testing.T, ack protocol.Ack, body string, ackIt bool) *paho5.Publish {
	t.Helper()
	p := pc.next(t)
	if p.QoS != 1 {
		t.Fatalf("delivery on %s with QoS %d, want 1", p.Topic, p.QoS)
	}
	checkDelivery(t, p.Topic, p.Payload, ack, body)
	if ackIt {
		if err := pc.c.Ack(p); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	return p
}

// notice expects the Error-topic notice of the too-large message ack.
func (pc *maxPktClient) notice(t *testing.T, ack protocol.Ack) {
	t.Helper()
	p := pc.next(t)
	if p.Topic != "IMS/alice/Inbox/Error" {
		t.Fatalf("got %s on %s, want the Error-topic notice of seq %d", p.Payload, p.Topic, ack.Seq)
	}
	if p.QoS != 0 {
		t.Fatalf("Error notice with QoS %d, want 0", p.QoS)
	}
	var e protocol.Error
	if err := json.Unmarshal(p.Payload, &e); err != nil {
		t.Fatalf("Error notice %s: %v", p.Payload, err)
	}
	seq := strconv.FormatUint(ack.Seq, 10)
	if e.Code != protocol.CodeTooLarge || e.Reason != "too_large" ||
		!strings.Contains(e.Message, ack.Conv) || !strings.Contains(e.Message, "seq "+seq) ||
		!strings.Contains(e.Message, ack.ID) || !strings.Contains(e.Message, "/v1/conversations/"+ack.Conv+"/messages") {
		t.Fatalf("Error notice %s, want 413 too_large naming conv %s, seq %d, id %s and the history URL", p.Payload, ack.Conv, ack.Seq, ack.ID)
	}
}

// none checks that nothing but events arrives for d, on a live connection.
func (pc *maxPktClient) none(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case p := <-pc.ch:
			if isChatTopic(p.Topic) || p.Topic == "IMS/alice/Inbox/Error" {
				t.Fatalf("unexpected %s on %s", p.Payload, p.Topic)
			}
		case rc := <-pc.discon:
			t.Fatalf("server sent DISCONNECT 0x%02x", rc)
		case <-pc.c.Done():
			t.Fatal("the connection ended")
		case <-deadline:
			return
		}
	}
}

// delivered waits for bob's delivered receipt of alice's position seq:
// alice's device acknowledged up to there.
func (c *mqttChat) delivered(t *testing.T, seq uint64) {
	t.Helper()
	event(t, c.bob, protocol.TypeReceipt, 10*time.Second, func(e parley.Event) bool {
		if e.Receipt.User == "alice" && e.Receipt.Delivered > seq {
			t.Fatalf("alice's delivered receipt %d, want %d", e.Receipt.Delivered, seq)
		}
		return e.Receipt.User == "alice" && e.Receipt.Delivered == seq
	})
}

// bigBody is a body whose delivery is over maxPacketSize.
var bigBody = strings.Repeat("x", 2000)

// TestMQTTMaxPacket: deliveries over the client's Maximum Packet Size are
// skipped with an Error-topic notice instead of ending the connection, and
// are not sent again after a reconnect.
func TestMQTTMaxPacket(t *testing.T) {
	t.Parallel()

	// m1, too-large m2, m3, acknowledged as they come; a reconnect gets
	// nothing again.
	t.Run("between", func(t *testing.T) {
		c := newMQTTChat(t, nil)
		alice := dialMaxPacket(t, c, "alice-maxpkt", true, false)
		m1 := c.bobSends(t, "m1")
		m2 := c.bobSends(t, bigBody)
		m3 := c.bobSends(t, "m3")
		alice.message(t, m1, "m1", false)
		alice.notice(t, m2)
		alice.message(t, m3, "m3", false)
		c.delivered(t, m3.Seq)
		alice.connected(t)
		alice.close()

		again := dialMaxPacket(t, c, "alice-maxpkt", false, false)
		again.none(t, time.Second)
		m4 := c.bobSends(t, "m4")
		again.message(t, m4, "m4", false)
		again.connected(t)
	})

	// m2 is the only delivery: its position is acknowledged at once.
	t.Run("alone", func(t *testing.T) {
		c := newMQTTChat(t, nil)
		alice := dialMaxPacket(t, c, "alice-maxpkt", true, false)
		m2 := c.bobSends(t, bigBody)
		alice.notice(t, m2)
		c.delivered(t, m2.Seq)
		alice.connected(t)
		alice.close()

		again := dialMaxPacket(t, c, "alice-maxpkt", false, false)
		again.none(t, time.Second)
		m3 := c.bobSends(t, "m3")
		again.message(t, m3, "m3", false)
		again.connected(t)
	})

	// m2 follows m1, whose PUBACK has not come: m2's position waits for
	// it, so a reconnect still gets m1; m1's PUBACK then acknowledges m2
	// too, and the next reconnect gets only m3.
	t.Run("behind an unacknowledged delivery", func(t *testing.T) {
		c := newMQTTChat(t, nil)
		alice := dialMaxPacket(t, c, "alice-maxpkt", true, true)
		m1 := c.bobSends(t, "m1")
		m2 := c.bobSends(t, bigBody)
		m3 := c.bobSends(t, "m3")
		alice.message(t, m1, "m1", false)
		alice.notice(t, m2)
		alice.message(t, m3, "m3", false)
		alice.connected(t)
		alice.close()

		again := dialMaxPacket(t, c, "alice-maxpkt", false, true)
		again.message(t, m1, "m1", true)
		again.notice(t, m2)
		again.message(t, m3, "m3", false)
		c.delivered(t, m2.Seq) // m1's PUBACK, and m2 with it
		again.connected(t)
		again.close()

		third := dialMaxPacket(t, c, "alice-maxpkt", false, true)
		third.message(t, m3, "m3", true)
		c.delivered(t, m3.Seq)
		third.none(t, 500*time.Millisecond)
		third.connected(t)
	})
}

package e2e

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// sendN sends n messages from c to user and returns their acks.
func sendN(t *testing.T, c *parley.Client, to string, n int, prefix string) []protocol.Ack {
	t.Helper()
	var acks []protocol.Ack
	for i := range n {
		ack, err := c.Send(ctxT(t), parley.SendOptions{To: to, Body: fmt.Sprintf("%s %d", prefix, i)})
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	return acks
}

func wantSeqs(t *testing.T, got []mqttMsg, acks []protocol.Ack) {
	t.Helper()
	var want []string
	for _, a := range acks {
		want = append(want, fmt.Sprintf("%s/%d", a.Conv, a.Seq))
	}
	if g := seqs(t, got); !slices.Equal(g, want) {
		t.Fatalf("delivered %v, want %v", g, want)
	}
}

// TestMQTTPersistentSessionResumesAfterRestart: a 3.1.1 client with clean
// session 0 gets, after a reconnect and after a server restart, exactly
// what it has not acknowledged, in order, without subscribing again, and
// CONNACK says the session is present (S4, issue point 5).
func TestMQTTPersistentSessionResumesAfterRestart(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	bob := s.dial("bob", "phone")

	alice := s.mqttConnect("alice", "tablet", false)
	alice.subscribe("IMS/alice/Inbox/Msg/#", 1)
	first := sendN(t, bob, "alice", 3, "first")
	wantSeqs(t, alice.recv(3, 5*time.Second), first)
	alice.c.Disconnect(100)

	// Offline: the messages are stored and wait for the session.
	second := sendN(t, bob, "alice", 4, "second")
	alice = s.mqttConnect("alice", "tablet", false)
	if !alice.present {
		t.Fatal("CONNACK session present = 0")
	}
	wantSeqs(t, alice.recv(4, 5*time.Second), second)
	alice.none(200 * time.Millisecond)
	alice.c.Disconnect(100)

	third := sendN(t, bob, "alice", 5, "third")
	bob.Close()
	// The positions are flushed at shutdown; the session is in the store.
	s.stop()
	s = startWith(t, s.cfg)

	alice = s.mqttConnect("alice", "tablet", false)
	if !alice.present {
		t.Fatal("CONNACK session present = 0 after a restart")
	}
	wantSeqs(t, alice.recv(5, 5*time.Second), third)
	alice.none(200 * time.Millisecond)
}

// TestMQTTCleanSessionGetsOnlyNewMessages: a clean session receives what is
// committed after it subscribed, and keeps the device's positions: a later
// persistent session of the device resumes after what the clean one acked.
func TestMQTTCleanSessionGetsOnlyNewMessages(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	bob := s.dial("bob", "phone")
	before := sendN(t, bob, "alice", 2, "before")

	alice := s.mqttConnect("alice", "cli", true)
	alice.subscribe("IMS/alice/Inbox/Msg/#", 1)
	alice.none(200 * time.Millisecond)
	after := sendN(t, bob, "alice", 2, "after")
	wantSeqs(t, alice.recv(2, 5*time.Second), after)
	alice.c.Disconnect(100)

	// The device's positions survived the clean session: a persistent one
	// resumes after what the clean one acknowledged, not from the start.
	later := sendN(t, bob, "alice", 1, "later")
	alice = s.mqttConnect("alice", "cli", false)
	if alice.present {
		t.Fatal("a clean session left a stored session")
	}
	alice.subscribe("IMS/alice/Inbox/Msg/#", 1)
	wantSeqs(t, alice.recv(1, 5*time.Second), later)
	_ = before
}

// TestMQTTQoS0DeliveriesDoNotAdvancePositions: what a QoS 0 subscription
// received is sent again on the next resume; a QoS 1 PUBACK advances.
func TestMQTTQoS0DeliveriesDoNotAdvancePositions(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	bob := s.dial("bob", "phone")
	alice := s.mqttConnect("alice", "tablet", true)
	alice.subscribe("IMS/alice/Inbox/Msg/#", 0)
	acks := sendN(t, bob, "alice", 2, "q0")
	got := alice.recv(2, 5*time.Second)
	if got[0].QoS != 0 {
		t.Fatalf("qos %d", got[0].QoS)
	}
	alice.c.Disconnect(100)

	// A persistent session of the same device: what QoS 0 delivered is
	// still unacknowledged, so it comes again, now with QoS 1.
	alice = s.mqttConnect("alice", "tablet", false)
	alice.subscribe("IMS/alice/Inbox/Msg/#", 1)
	got = alice.recv(2, 5*time.Second)
	wantSeqs(t, got, acks)
	if got[0].QoS != 1 {
		t.Fatalf("qos %d after subscribing with 1", got[0].QoS)
	}
	// The client writes a PUBACK after the harness has handed the message
	// to the test: disconnecting now could come first, and then the
	// message is, rightly, sent again. The server has both PUBACKs when
	// bob hears that alice's device has everything.
	event(t, bob, protocol.TypeReceipt, 5*time.Second, func(e parley.Event) bool {
		return e.Receipt.User == "alice" && e.Receipt.Delivered >= acks[1].Seq
	})
	alice.c.Disconnect(100)

	// Acknowledged by PUBACK: the resumed session sends nothing before
	// what is new.
	alice = s.mqttConnect("alice", "tablet", false)
	next := sendN(t, bob, "alice", 1, "next")
	wantSeqs(t, alice.recv(1, 5*time.Second), next)
}

// TestMQTTGroupTopicAndReadAckTyping: a member subscribed to a group topic
// gets group messages there once (not also in the inbox); a publish to
// IMS/<group>/<self> is a group send; Read and Typing topics reach the
// WebSocket side.
func TestMQTTGroupTopicAndReadAckTyping(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	s.user("carol")
	api := s.login("alice", "web")
	g, err := api.CreateGroup(ctxT(t), "trip", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	alice := s.dial("alice", "phone")
	carol := s.mqttConnect("carol", "phone", true)
	carol.subscribe("IMS/carol/Inbox/Msg/#", 1)
	carol.subscribe("IMS/"+g.ID+"/#", 1)

	ack, err := alice.Send(ctxT(t), parley.SendOptions{Conv: g.ID, Body: "to the group"})
	if err != nil {
		t.Fatal(err)
	}
	got := carol.recv(1, 5*time.Second)[0]
	if got.Topic != "IMS/"+g.ID+"/alice" || got.message(t).Seq != ack.Seq {
		t.Fatalf("group delivery on %s: %s", got.Topic, got.Payload)
	}
	carol.none(200 * time.Millisecond) // not a second time on the inbox

	carol.publish("IMS/"+g.ID+"/carol", 1, "from carol")
	var ms []protocol.Message // alice's own (sent-sync), then carol's
	for len(ms) < 2 {
		if m := recv(t, alice, 1, 5*time.Second)[0]; m.Kind == protocol.KindMessage {
			ms = append(ms, m)
		}
	}
	if m := ms[1]; m.From != "carol" || m.Body != "from carol" || m.Conv != g.ID {
		t.Fatalf("alice got %+v", m)
	}
	carol.recv(1, 5*time.Second) // carol's own

	// Unread for carol: alice's next message; reading it over MQTT clears
	// it (carol's own send moved her read position past the first).
	next, err := alice.Send(ctxT(t), parley.SendOptions{Conv: g.ID, Body: "anyone?"})
	if err != nil {
		t.Fatal(err)
	}
	carol.recv(1, 5*time.Second)
	carolAPI := s.login("carol", "web")
	unread := func() int {
		l, err := carolAPI.Conversations(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range l.Conversations {
			if c.ID == g.ID {
				return c.Unread
			}
		}
		return -1
	}
	if n := unread(); n != 1 {
		t.Fatalf("unread %d before read", n)
	}
	carol.publish(fmt.Sprintf("IMS/carol/Read/%s", g.ID), 1, fmt.Sprint(next.Seq))
	if n := unread(); n != 0 {
		t.Fatalf("unread %d after read", n)
	}

	carol.publish(fmt.Sprintf("IMS/carol/Typing/%s", g.ID), 0, "")
	event(t, alice, protocol.TypeTyping, 5*time.Second, func(e parley.Event) bool { return e.Typing != nil && e.Typing.User == "carol" })
}

// TestMQTTVanishedClientGoesOffline: a client that stops talking without
// DISCONNECT is shown offline within 1.5 × its keepalive, and its will (a
// message to a chat it is in) is sent (S11).
func TestMQTTVanishedClientGoesOffline(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	// A group makes them contacts, who see each other's presence.
	if _, err := s.login("alice", "web").CreateGroup(ctxT(t), "pals", "bob"); err != nil {
		t.Fatal(err)
	}
	bob := s.dial("bob", "phone")
	_ = recv(t, bob, 1, 5*time.Second) // the group's creation, on resume
	// A raw client: CONNECT with keepalive 2 s and a will, then silence.
	o := s.mqtt3Options("alice", "phone", true).SetKeepAlive(2*time.Second).SetWill("IMS/p2p/bob", "alice lost her connection", 1, false)
	var raw net.Conn
	o.SetCustomOpenConnectionFn(func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		c, err := net.Dial("tcp", uri.Host)
		raw = c
		return c, err
	})
	alice := s.mqttConnectWith(o)
	on := event(t, bob, protocol.TypePresence, 5*time.Second, func(e parley.Event) bool { return e.Presence.User == "alice" && e.Presence.Online })
	_ = on
	// Freeze the client: stop its pings by cutting only its outgoing side.
	start := time.Now()
	raw.(*net.TCPConn).CloseWrite()
	_ = alice
	event(t, bob, protocol.TypePresence, 10*time.Second, func(e parley.Event) bool { return e.Presence.User == "alice" && !e.Presence.Online })
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("offline after %v, keepalive 2s", d)
	}
	m := recv(t, bob, 1, 5*time.Second)[0]
	if m.From != "alice" || m.Body != "alice lost her connection" {
		t.Fatalf("will %+v", m)
	}
}

// TestMQTTLoginLimitSharedWithHTTP: failed MQTT passwords count against the
// same per-account budget as HTTP logins: once it is spent, CONNECT is
// refused (3.1.1: 0x03) even with the right password, and so is an HTTP
// login.
func TestMQTTLoginLimitSharedWithHTTP(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.RateLimits.LoginPerAccountPerMinute = 3 })
	s.user("alice")
	for range 3 {
		o := s.mqtt3Options("alice", "phone", true).SetPassword("wrong")
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(5*time.Second) || tok.Error() == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	c := paho.NewClient(s.mqtt3Options("alice", "phone", true))
	tok := c.Connect()
	tok.WaitTimeout(5 * time.Second)
	if tok.Error() == nil || tok.(*paho.ConnectToken).ReturnCode() != 0x03 {
		t.Fatalf("the right password after the budget was spent: err %v, code %d", tok.Error(), tok.(*paho.ConnectToken).ReturnCode())
	}
	api := &parley.API{BaseURL: s.URL}
	if _, err := api.Login(ctxT(t), "alice", "password-alice", "web"); err == nil {
		t.Fatal("HTTP login allowed after the MQTT guesses spent the budget")
	}
}

// TestMQTTClientIDsAreScopedToTheUser: two users connecting with the same
// client id are two devices of two users: neither ends the other. The same
// user's second connection with that id takes the session over.
func TestMQTTClientIDsAreScopedToTheUser(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	s.user("carol")
	carol := s.dial("carol", "phone")
	lost := make(chan string, 4)
	connect := func(user string) *mqtt3 {
		o := s.mqtt3Options(user, "team@@@shared", false).SetConnectionLostHandler(func(paho.Client, error) { lost <- user })
		m := s.mqttConnectWith(o)
		m.subscribe("IMS/"+user+"/Inbox/Msg/#", 1)
		return m
	}
	alice := connect("alice")
	bob := connect("bob")
	for _, to := range []string{"alice", "bob"} {
		if _, err := carol.Send(ctxT(t), parley.SendOptions{To: to, Body: "hi " + to}); err != nil {
			t.Fatal(err)
		}
	}
	if m := alice.recv(1, 5*time.Second)[0].message(t); m.Body != "hi alice" {
		t.Fatalf("alice got %q", m.Body)
	}
	if m := bob.recv(1, 5*time.Second)[0].message(t); m.Body != "hi bob" {
		t.Fatalf("bob got %q", m.Body)
	}
	select {
	case u := <-lost:
		t.Fatalf("%s's connection was ended by another user's client id", u)
	case <-time.After(200 * time.Millisecond):
	}
	// alice again with the same client id: her first connection ends,
	// bob's does not, and the new one continues the session.
	alice2 := s.mqttConnect("alice", "other@@@shared", false)
	select {
	case u := <-lost:
		if u != "alice" {
			t.Fatalf("takeover ended %s's connection", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the older connection of alice's device was not ended")
	}
	if !alice2.present {
		t.Fatal("takeover: session not present")
	}
	if _, err := carol.Send(ctxT(t), parley.SendOptions{To: "alice", Body: "again"}); err != nil {
		t.Fatal(err)
	}
	if m := alice2.recv(1, 5*time.Second)[0].message(t); m.Body != "again" {
		t.Fatalf("alice2 got %q", m.Body)
	}
	select {
	case u := <-lost:
		t.Fatalf("%s lost the connection", u)
	case <-time.After(200 * time.Millisecond):
	}
}

package e2e

// Presence as an MQTT client sees it (docs/mqtt.md 5.2 and 7, protocol.md
// 2.9), through the real server: a Paho 3.1.1 client subscribed to
// IMS/<self>/Inbox/Presence/+ is told, at QoS 0, when a friend connected
// over WebSocket comes online and goes offline, and is told nothing of
// anyone whose presence 2.9 hides from it.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// mqttPresence reads m's deliveries, all of which must be presence
// pushes to self (QoS 0, on IMS/<self>/Inbox/Presence/<user>, naming that
// user), until one says user is online (or offline, as online says); it
// returns that one and those before it.
func (m *mqtt3) mqttPresence(self, user string, online bool) (protocol.Presence, []protocol.Presence) {
	m.t.Helper()
	var before []protocol.Presence
	deadline := time.After(10 * time.Second)
	prefix := "IMS/" + self + "/Inbox/Presence/"
	for {
		select {
		case msg := <-m.ch:
			var p protocol.Presence
			if err := json.Unmarshal(msg.Payload, &p); err != nil {
				m.t.Fatalf("delivery on %s is not a presence: %v: %s", msg.Topic, err, msg.Payload)
			}
			if !strings.HasPrefix(msg.Topic, prefix) || strings.TrimPrefix(msg.Topic, prefix) != p.User || msg.QoS != 0 {
				m.t.Fatalf("presence %s at QoS %d on %s, want QoS 0 on %s%s", msg.Payload, msg.QoS, msg.Topic, prefix, p.User)
			}
			if p.User == user && p.Online == online {
				return p, before
			}
			before = append(before, p)
		case <-deadline:
			m.t.Fatalf("%s's MQTT client: no presence of %s online=%v within 10s (got before: %+v)", self, user, online, before)
		}
	}
}

// TestMQTTPresenceOfWebSocketFriend: alice's MQTT client, subscribed to
// IMS/alice/Inbox/Presence/+, is told when her friend bob's WebSocket
// device connects ({"user":"bob","online":true}) and when it disconnects
// ({"user":"bob","online":false,"last_seen":<ms>}, a time of this test),
// each on IMS/alice/Inbox/Presence/bob at QoS 0; a second connection of
// bob's coming and going while his first one stays tells her nothing.
func TestMQTTPresenceOfWebSocketFriend(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carl"} {
		s.user(u)
	}
	befriend(t, s, "bob", "alice")
	befriend(t, s, "carl", "alice")
	alice := s.mqttConnect("alice", "alice-paho", true)
	alice.subscribe("IMS/alice/Inbox/Presence/+", 1)

	start := time.Now()
	bob := s.dial("bob", "phone")
	if on, before := alice.mqttPresence("alice", "bob", true); len(before) != 0 || on != (protocol.Presence{User: "bob", Online: true}) {
		t.Fatalf("bob online: %+v, after %+v", on, before)
	}

	// A second device of bob's comes and goes: he stays online, so there
	// is nothing to tell. Then carl, another friend, comes online and goes
	// offline: his offline is announced in a later flush than the tablet's
	// change, so nothing about bob before it means nothing was said. Then
	// the closing of bob's first device says he is offline.
	tablet := s.dial("bob", "tablet")
	tablet.Close()
	waitFor(t, "bob's tablet to be detached", 10*time.Second, func() bool { return s.app.Core().Online() == 2 })
	carl := s.dial("carl", "phone")
	_, got := alice.mqttPresence("alice", "carl", true)
	carl.Close()
	_, more := alice.mqttPresence("alice", "carl", false)
	if got = append(got, more...); len(got) != 0 {
		t.Fatalf("alice was told %+v while bob's tablet came and went", got)
	}
	bob.Close()
	off, before := alice.mqttPresence("alice", "bob", false)
	if len(before) != 0 {
		t.Fatalf("alice was told %+v before bob went offline", before)
	}
	if off.LastSeen < start.UnixMilli() || off.LastSeen > time.Now().UnixMilli() {
		t.Fatalf("bob offline: %+v, want a last_seen between %d and now", off, start.UnixMilli())
	}

	// And online again when he comes back.
	s.dial("bob", "laptop")
	if on, before := alice.mqttPresence("alice", "bob", true); len(before) != 0 || on != (protocol.Presence{User: "bob", Online: true}) {
		t.Fatalf("bob online again: %+v, after %+v", on, before)
	}
}

// TestMQTTPresenceHiddenFromNonContacts: alice's MQTT client, subscribed
// to IMS/alice/Inbox/Presence/+, is told of none of these coming online
// or going offline over WebSocket: dave, a stranger with a direct
// conversation with her (messages in it) and a co-member of a group above
// presence_group_max only; frank, a friend and co-member of a small group
// whom she blocks; gina, the same, who blocks her; hank, a friend who
// hides his presence. mark, a friend, comes online, goes offline and comes
// back after them: pushes to a connection keep their order and a later
// change is announced in a later flush, so what alice got before mark's
// return is everything the others could have caused, and it is mark's
// alone.
func TestMQTTPresenceHiddenFromNonContacts(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Social.PresenceGroupMax = 5 })
	for _, u := range []string{"alice", "dave", "frank", "gina", "hank", "mark"} {
		s.user(u)
	}
	ctx := ctxT(t)
	aliceAPI := s.login("alice", "web")
	for _, f := range []string{"frank", "gina", "hank", "mark"} {
		befriend(t, s, f, "alice")
	}
	if _, err := aliceAPI.CreateGroup(ctx, "pals", "frank", "gina", "mark"); err != nil {
		t.Fatal(err)
	}
	if _, err := aliceAPI.CreateGroup(ctx, "crowd", "dave", "frank", "gina", "hank", "mark"); err != nil {
		t.Fatal(err)
	}
	daveAPI := s.login("dave", "web")
	d, err := daveAPI.Direct(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daveAPI.Send(ctx, d.ID, parley.SendOptions{Body: "hi alice"}); err != nil {
		t.Fatal(err)
	}
	if err := aliceAPI.Block(ctx, "frank"); err != nil {
		t.Fatal(err)
	}
	if err := s.login("gina", "web").Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	setPresenceHidden(t, s, s.login("hank", "web"), true)

	alice := s.mqttConnect("alice", "alice-paho", true)
	alice.subscribe("IMS/alice/Inbox/Presence/+", 1)

	hidden := []string{"dave", "frank", "gina", "hank"}
	var others []*parley.Client
	for _, u := range hidden {
		others = append(others, s.dial(u, "phone"))
	}
	mark := s.dial("mark", "phone")
	_, got := alice.mqttPresence("alice", "mark", true)
	for _, c := range others {
		c.Close()
	}
	waitFor(t, "the others to be detached", 10*time.Second, func() bool { return s.app.Core().Online() == 2 })
	mark.Close()
	_, more := alice.mqttPresence("alice", "mark", false)
	got = append(got, more...)
	s.dial("mark", "laptop")
	_, more = alice.mqttPresence("alice", "mark", true)
	got = append(got, more...)
	for _, p := range got {
		t.Errorf("alice's MQTT client got %+v, which protocol.md 2.9 hides from her", p)
	}
}

package mqtt

import (
	"net"
	"slices"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// willSentHook reports the clients for which the engine considers a will
// sent: it calls OnWillSent when it publishes its own copy of a will (to
// willSink), and from then on treats that client as having no will.
type willSentHook struct {
	mochi.HookBase
	sent chan *mochi.Client
}

func (h *willSentHook) ID() string                                    { return "test-will-sent" }
func (h *willSentHook) Provides(b byte) bool                          { return b == mochi.OnWillSent }
func (h *willSentHook) OnWillSent(cl *mochi.Client, _ packets.Packet) { h.sent <- cl }

// TestTakeoverWithinWillDelayKeepsTheNewConnectionsWill: a connection with
// a delayed will is taken over, and its end is handled (the engine calls
// the will hook) only after the new connection is established: Parley
// sends no will for it (the device is connected again [MQTT-3.1.3-9]),
// and the engine must not keep a delayed copy of it under the client id
// either. It did: when the delay was over, the engine "sent" that copy
// against the new connection, clearing the new connection's will (a plain
// write, racing with that connection's own read of it), so that the new
// connection's will was never sent when it vanished.
func TestTakeoverWithinWillDelayKeepsTheNewConnectionsWill(t *testing.T) {
	s, c := newGateway(t, nil)
	hook := &willSentHook{sent: make(chan *mochi.Client, 8)}
	if err := s.mq.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	connect := func(will string) packets.Packet {
		pk := connectPacket(5) // alice, client id chat@@@phone, session expiry 1 h
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, "IMS/p2p/bob", []byte(will)
		pk.Connect.WillProperties.WillDelayInterval = 1
		return pk
	}

	// The first connection, whose end the test holds back.
	aClient, aServer := net.Pipe()
	held := newHeldConn(aServer)
	a := dialPipe(t, s, aClient, held)
	a.connected(connect("will of a"))
	s.mu.Lock()
	var aCl *mochi.Client
	for cl := range s.conns {
		aCl = cl
	}
	s.mu.Unlock()

	// The same device again: a takeover. Its SUBACK says its read loop
	// runs, so the engine has done everything it does at connect.
	bClient, bServer := net.Pipe()
	b := dialPipe(t, s, bClient, bServer)
	b.connected(connect("will of b"))
	if d, _ := a.expect(packets.Disconnect, 5*time.Second); len(d.body) == 0 || d.body[0] != packets.ErrSessionTakenOver.Code {
		t.Fatalf("taken over: DISCONNECT % x, want 0x8E", d.body)
	}
	b.put(subscribePacket(5, 1, "IMS/alice/Inbox/#"))
	b.expect(packets.Suback, 5*time.Second)

	// Now the first connection's end, within the will delay.
	close(held.release)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the taken-over connection is still served")
	}
	select {
	case cl := <-hook.sent:
		if cl != aCl {
			t.Errorf("the engine sent its delayed copy of the taken-over connection's will against the new connection (clearing its will)")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the engine never finished the taken-over connection's will")
	}

	// The new connection vanishes: its will comes, after the delay.
	b.c.Close()
	waitUntil(t, "the new connection's will is sent", 10*time.Second, func() bool {
		return slices.Contains(history(t, c), "will of b")
	})
	if h := history(t, c); slices.Contains(h, "will of a") {
		t.Errorf("the taken-over connection's will was sent: %q", h)
	}
}

package e2e

import (
	"fmt"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// mhPropWillDelay is the MQTT 5 Will Delay Interval property.
const mhPropWillDelay = 0x18

// TestMQTTWillsOfConnectionsTheServerEnds: a takeover before the Will
// Delay Interval has passed sends no will (the device is connected again
// [MQTT-3.1.3-9]); without a delay the taken-over connection's will is
// sent, as MQTT 5 says; a DISCONNECT 0x00 drops the will; a server
// shutdown sends none (the client did not vanish, its session resumes
// when the server is back); a vanished client's delayed will still comes.
func TestMQTTWillsOfConnectionsTheServerEnds(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	willConnect := func(clientID string, delay uint32) *mhConn {
		t.Helper()
		o := mhConnect{v5: true, clientID: clientID, user: "alice", password: "password-alice", keepalive: 30,
			props: mhPropU32(mhPropSessionExpiry, 3600), willTopic: "IMS/p2p/bob", willPayload: "will of " + clientID,
			willProps: mhPropU32(mhPropWillDelay, delay)}
		m, code, _ := mhOpen(t, e.s, o)
		if code != 0 {
			t.Fatalf("connect %s: 0x%02x", clientID, code)
		}
		return m
	}
	takenOver := func(m *mhConn, what string) {
		t.Helper()
		if disc, _ := m.closed(5 * time.Second); disc == nil || len(disc.body) == 0 || disc.body[0] != 0x8e {
			t.Fatalf("%s: DISCONNECT %v, want 0x8E", what, disc)
		}
	}
	wantWill := func(clientID string) {
		t.Helper()
		m := recv(t, e.bob, 1, 10*time.Second)[0]
		if m.From != "alice" || m.Body != "will of "+clientID {
			t.Fatalf("bob got %+v, want the will of %s", m, clientID)
		}
	}

	// A takeover within the will delay: no will.
	a := willConnect("w@@@delayed", 1)
	b := willConnect("w@@@delayed", 1)
	takenOver(a, "delayed will, taken over")
	noMessage(t, e.bob, 2500*time.Millisecond)
	// The new connection vanishes: its will comes after the delay.
	b.c.Close()
	wantWill("w@@@delayed")

	// No delay: the taken-over connection's will is sent.
	c := willConnect("w@@@now", 0)
	d := willConnect("w@@@now", 0)
	takenOver(c, "will without delay, taken over")
	wantWill("w@@@now")
	// DISCONNECT 0x00: no will.
	d.put([]byte{mhDISCONNECT << 4, 0})
	d.closedWith("normal disconnect", 5*time.Second)
	noMessage(t, e.bob, 500*time.Millisecond)

	// A server shutdown: no will, delayed or not.
	willConnect("w@@@shutdown", 0)
	willConnect("w@@@shutdown-delayed", 1)
	mhWaitConns(t, e.s, 3) // bob and the two
	e.s.stop()
	s2 := startWith(t, e.s.cfg)
	time.Sleep(1500 * time.Millisecond) // past the delay
	api := s2.login("alice", "web")
	conv, err := api.Direct(ctxT(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	hist, err := api.History(ctxT(t), conv.ID, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wills []string
	for _, m := range hist.Messages {
		wills = append(wills, m.Body)
	}
	if want := fmt.Sprint([]string{"will of w@@@delayed", "will of w@@@now"}); fmt.Sprint(wills) != want {
		t.Fatalf("alice→bob history %v, want %s", wills, want)
	}
}

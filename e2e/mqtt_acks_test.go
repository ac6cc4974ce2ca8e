package e2e

import (
	"fmt"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// TestMQTTOutOfOrderPubacksAdvanceOnlyTheAcknowledgedPrefix: PUBACKs may
// come in any order (MQTT 5 §4.6 orders only the server's own PUBACKs);
// one for a later delivery does not acknowledge an earlier one. A
// persistent session that acknowledged the first and the third of three
// deliveries gets the second again after a reconnect.
func TestMQTTOutOfOrderPubacksAdvanceOnlyTheAcknowledgedPrefix(t *testing.T) {
	t.Parallel()
	for _, v5 := range []bool{false, true} {
		t.Run(mhVersion(v5), func(t *testing.T) {
			t.Parallel()
			e := mhSetup(t, nil)
			clientID := "acks-" + mhVersion(v5)
			m := mhLogin(t, e.s, v5, "alice", clientID, false)
			m.put(mhSubscribe(v5, 1, "IMS/alice/Inbox/Msg/+"))
			m.expect(mhSUBACK, 5*time.Second)

			bob := e.s.login("bob", "web")
			var seqs []uint64
			for i := 1; i <= 3; i++ {
				ack, err := bob.Send(ctxT(t), "", parley.SendOptions{To: "alice", Body: fmt.Sprintf("m%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, ack.Seq)
			}
			// The three deliveries, and their packet ids by seq.
			pids := map[uint64]uint16{}
			for len(pids) < 3 {
				var p mhPacket
				if len(m.pubs) > 0 {
					p, m.pubs = m.pubs[0], m.pubs[1:]
				} else {
					var err error
					if p, err = m.read(10 * time.Second); err != nil {
						t.Fatalf("deliveries: %v (got %v)", err, pids)
					}
				}
				if p.typ != mhPUBLISH {
					t.Fatalf("unexpected %v", p)
				}
				_, pid, qos, _, payload := p.publish(t, v5)
				msg := mqttMsg{Payload: payload}.message(t)
				if qos != 1 {
					t.Fatalf("delivery of seq %d at QoS %d, want 1", msg.Seq, qos)
				}
				pids[msg.Seq] = pid
			}
			// PUBACK the third, then the first; never the second. A
			// PINGRESP says the server has read them.
			m.put(mhPuback(pids[seqs[2]]), mhPuback(pids[seqs[0]]), []byte{mhPINGREQ << 4, 0})
			m.expect(13, 5*time.Second) // PINGRESP
			m.c.Close()
			mhWaitConns(t, e.s, 1) // bob's

			// The session resumes after the first: the second comes again
			// (and the third may: at least once).
			m = mhLogin(t, e.s, v5, "alice", clientID, false)
			deadline := time.Now().Add(10 * time.Second)
			for {
				p, err := m.read(time.Until(deadline))
				if err != nil {
					t.Fatalf("seq %d (never acknowledged) not delivered again after the reconnect: %v", seqs[1], err)
				}
				if p.typ != mhPUBLISH {
					continue
				}
				_, _, _, _, payload := p.publish(t, v5)
				msg := mqttMsg{Payload: payload}.message(t)
				if msg.Seq == seqs[0] {
					t.Fatalf("seq %d was acknowledged and is delivered again", msg.Seq)
				}
				if msg.Seq == seqs[1] {
					break
				}
			}
		})
	}
}

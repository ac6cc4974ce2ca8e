package parley_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	parley "github.com/parley-im/parley/sdk/go"
)

// TestCloseDeliversLastAcks: Close sends the pending automatic acks and
// ends the connection with a close handshake, so the server has them
// before the connection ends: the device's next connection resumes none of
// those messages again. Before, Close cancelled the reader first, which
// dropped the TCP connection at once; the server could lose the acks it had
// not read yet and resumed those messages again (parley-bench b5 counted
// them as duplicated about once in 40 runs).
func TestCloseDeliversLastAcks(t *testing.T) {
	const peers, rounds = 5, 150
	s := startServer(t, func(c *config.Config) { c.RateLimits.FlappingConnectsPerMinute = 2 * rounds })
	names := []string{"alice"}
	for i := range peers {
		names = append(names, fmt.Sprintf("p%d", i))
	}
	s.users(names...)
	apis := make([]*parley.API, peers)
	for i := range apis {
		apis[i] = s.login(fmt.Sprintf("p%d", i), "cli")
	}
	token := s.login("alice", "phone").Token
	acked := map[string]uint64{} // per conversation, what alice's device has acknowledged for sure
	for r := range rounds {
		// A long ack interval: the acks of this round go out in Close.
		c, err := parley.Dial(ctxT(t), parley.Options{URL: s.URL, Token: token, AckInterval: time.Hour,
			ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("round %d: dial: %v", r, err)
		}
		resumed(t, c)
		// Everything resumed was handed over before the resumed event.
		for drained := false; !drained; {
			select {
			case m := <-c.Messages():
				if m.Seq <= acked[m.Conv] {
					t.Errorf("round %d: %s seq %d resumed again after its ack was sent before Close (acked up to %d)", r, m.Conv, m.Seq, acked[m.Conv])
				}
			default:
				drained = true
			}
		}
		want := map[string]uint64{}
		for i, api := range apis {
			ack, err := api.Send(ctxT(t), "", parley.SendOptions{To: "alice", Body: fmt.Sprintf("r%d p%d", r, i)})
			if err != nil {
				t.Fatalf("round %d: p%d sends: %v", r, i, err)
			}
			want[ack.Conv] = ack.Seq
		}
		// A last message after them: once the client has handed it over,
		// it has marked every message before it for acknowledgement.
		fence, err := apis[0].Send(ctxT(t), "", parley.SendOptions{To: "alice", Body: fmt.Sprintf("r%d fence", r)})
		if err != nil {
			t.Fatalf("round %d: fence: %v", r, err)
		}
		receiveUntil(t, c, fence.Conv, fence.Seq)
		if err := c.Close(); err != nil {
			t.Fatalf("round %d: close: %v", r, err)
		}
		for conv, seq := range want {
			acked[conv] = max(acked[conv], seq)
		}
	}
}

// receiveUntil reads c's messages until it has conv's message seq.
func receiveUntil(t *testing.T, c *parley.Client, conv string, seq uint64) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatal("messages closed")
			}
			if m.Conv == conv && m.Seq == seq {
				return
			}
		case <-deadline:
			t.Fatalf("%s seq %d did not arrive within 20s", conv, seq)
		}
	}
}

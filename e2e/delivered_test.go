package e2e

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// TestDeliveredIsOnlyWhatADeviceAcknowledged: delivered_seq is the highest
// seq a device of the member acknowledged (docs/protocol.md 2.6); a
// brand-new device that only resumes starts at the read position without
// acknowledging anything, and must not raise it.
func TestDeliveredIsOnlyWhatADeviceAcknowledged(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	s.user("carol")
	ctx := ctxT(t)
	alice := s.login("alice", "laptop")
	var conv string
	for range 3 {
		ack, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	other, err := s.login("carol", "laptop").Send(ctx, "", parley.SendOptions{To: "bob", Body: "marker"})
	if err != nil {
		t.Fatal(err)
	}
	// bob reads up to seq 2 over HTTP: a read, not a delivery.
	web := s.login("bob", "web")
	if _, err := web.Read(ctx, conv, 2); err != nil {
		t.Fatal(err)
	}
	// A new device of bob's resumes (starting at his read position, 2)
	// and acknowledges only carol's conversation.
	phone := wsrLogin(t, s, "bob", "phone")
	phone.resume()
	if f := phone.call(protocol.Request{ID: "a", Op: protocol.OpAck, Conv: other.Conv, Seq: other.Seq}); f.Type != protocol.TypeOK {
		t.Fatalf("ack: %+v", f)
	}
	// Once that ack is stored, so is everything buffered with it.
	delivered := func(api *parley.API, conv, user string) uint64 {
		ms, err := api.Members(ctx, conv)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.User == user {
				return m.DeliveredSeq
			}
		}
		t.Fatalf("%s is no member of %s", user, conv)
		return 0
	}
	waitFor(t, "bob's ack of carol's message to be stored", 10*time.Second, func() bool {
		return delivered(web, other.Conv, "bob") == other.Seq
	})
	if got := delivered(alice, conv, "bob"); got != 0 {
		t.Fatalf("bob's delivered_seq is %d in a conversation none of his devices acknowledged", got)
	}
}

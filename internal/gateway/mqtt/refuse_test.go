package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// publishOf decodes a PUBLISH the server wrote: its topic and payload.
func publishOf(t *testing.T, p rawPacket, v5 bool) (string, []byte) {
	t.Helper()
	b := p.body
	if p.typ() != packets.Publish || len(b) < 2 {
		t.Fatalf("not a PUBLISH: type %d % x", p.typ(), b)
	}
	n := int(b[0])<<8 | int(b[1])
	topic, b := string(b[2:2+n]), b[2+n:]
	if p.first>>1&3 > 0 {
		b = b[2:]
	}
	if v5 {
		l, k, err := packets.DecodeLength(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		b = b[k+l:]
	}
	return topic, b
}

// ended collects the PUBLISH packets the server writes until it closes
// the connection, and fails the test on any other packet.
func (pc *pipeClient) ended(timeout time.Duration) []rawPacket {
	pc.t.Helper()
	var out []rawPacket
	deadline := time.After(timeout)
	for {
		select {
		case p, ok := <-pc.pkts:
			if !ok {
				return out
			}
			if p.typ() != packets.Publish {
				pc.t.Fatalf("got packet type %d (% x), want only PUBLISH packets before the close", p.typ(), p.body)
			}
			out = append(out, p)
		case <-deadline:
			pc.t.Fatalf("connection still open after %v; got %d packets", timeout, len(out))
		}
	}
}

// TestRefusedPublishesAreNeverAcknowledgedOn311: a QoS 1 or 2 publish the
// core refuses (not a member, too large, over the send rate limit after
// the gateway's retries) gets no PUBACK or PUBREC on MQTT 3.1.1, which
// would say it was stored: the client is told why on its Error topic,
// then the connection is closed [MQTT-3.3.5-2]. MQTT 5 gets the reason
// code in the PUBACK or PUBREC and stays connected.
func TestRefusedPublishesAreNeverAcknowledgedOn311(t *testing.T) {
	t.Parallel()
	s, c := newGateway(t, nil)
	ctx := context.Background()
	g, err := c.CreateGroup(ctx, core.Identity{User: "bob", Device: "web"}, "without alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	// A clock that stands still: once alice's one token is spent, every
	// try of the gateway is refused.
	now := time.Now()
	rs, rc := newGateway(t, func(o *core.Options) {
		o.Now = func() time.Time { return now }
		o.RateLimits.SendsPerSecond, o.RateLimits.SendBurst = 1, 1
	})
	if _, err := rc.Send(ctx, core.Identity{User: "alice", Device: "web"}, core.SendRequest{To: "bob", Body: "the one send"}); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		for _, b := range history(t, c) {
			if strings.HasPrefix(b, "xxx") {
				t.Errorf("the message over the limit was stored")
			}
		}
		if h := history(t, rc); len(h) != 1 {
			t.Errorf("alice→bob history with the rate limit %q, want only the one send", h)
		}
	})
	for _, tc := range []struct {
		name        string
		s           *Server
		topic, body string
		code        int  // of the Error notice
		reason      byte // of the 5.0 PUBACK or PUBREC
	}{
		{"not a member", s, "IMS/" + g.ID + "/alice", "hi", 404, packets.ErrNotAuthorized.Code},
		{"too large", s, "IMS/p2p/bob", strings.Repeat("x", 5000), 413, packets.ErrPayloadFormatInvalid.Code},
		{"rate limited", rs, "IMS/p2p/bob", "one too many", 429, packets.ErrQuotaExceeded.Code},
	} {
		for _, v5 := range []bool{false, true} {
			for _, qos := range []byte{1, 2} {
				t.Run(fmt.Sprintf("%s/v5=%v/qos%d", tc.name, v5, qos), func(t *testing.T) {
					t.Parallel()
					version := byte(4)
					if v5 {
						version = 5
					}
					client, server := net.Pipe()
					pc := dialPipe(t, tc.s, client, server)
					connect := connectPacket(version)
					connect.Connect.ClientIdentifier = fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(tc.name, " ", "-"), version, qos)
					pc.connected(connect)
					pc.put(subscribePacket(version, 1, "IMS/alice/Inbox/Error"))
					pc.expect(packets.Suback, 5*time.Second)
					pc.put(publishPacket(version, qos, 7, tc.topic, tc.body))
					if v5 {
						want := byte(packets.Puback)
						if qos == 2 {
							want = packets.Pubrec
						}
						ack, _ := pc.expect(want, 10*time.Second)
						if len(ack.body) < 3 || ack.body[2] != tc.reason {
							t.Fatalf("5.0 ack % x, want reason 0x%02x", ack.body, tc.reason)
						}
						pc.put(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
						pc.expect(packets.Pingresp, 5*time.Second) // still connected
						return
					}
					got := pc.ended(15 * time.Second)
					var notice *protocol.Error
					for _, p := range got {
						topic, payload := publishOf(t, p, false)
						if topic == "IMS/alice/Inbox/Error" {
							notice = new(protocol.Error)
							if err := json.Unmarshal(payload, notice); err != nil {
								t.Fatalf("Error notice %s: %v", payload, err)
							}
						}
					}
					if notice == nil || notice.Code != tc.code {
						t.Fatalf("3.1.1: Error notice %+v before the close, want code %d", notice, tc.code)
					}
				})
			}
		}
	}
}

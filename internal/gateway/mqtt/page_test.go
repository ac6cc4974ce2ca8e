package mqtt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// TestPageMessagesAreEncodedOnce: the messages of a page (a resume, a gap
// repair) are written as the page encoded them, once for every connection
// they go to, not encoded again per connection: here the page's messages
// change after it was encoded, and what is written is still what was
// encoded.
func TestPageMessagesAreEncodedOnce(t *testing.T) {
	s, _ := newGateway(t, nil)
	client, server := net.Pipe()
	pc := dialPipe(t, s, client, server)
	pc.connected(connectPacket(4))
	sub := subscribePacket(4, 1, "IMS/alice/Inbox/#")
	sub.Filters[0].Qos = 0
	pc.put(sub)
	pc.expect(packets.Suback, 5*time.Second)
	s.mu.Lock()
	var c *conn
	for _, c = range s.conns {
	}
	s.mu.Unlock()

	page := &protocol.Page{Conv: "d_page", Messages: []protocol.Message{
		{Conv: "d_page", Seq: 1, ID: "m1", From: "bob", Kind: protocol.KindMessage, Body: "first <one>", Time: 1},
		{Conv: "d_page", Seq: 2, ID: "m2", From: "bob", Kind: protocol.KindMessage, Body: "second", Time: 2},
	}}
	var want [][]byte
	for i := range page.Messages {
		b, _ := json.Marshal(&page.Messages[i])
		want = append(want, b)
	}
	ev := &core.Event{Type: protocol.TypePage, Conv: page.Conv, Data: page}
	if err := ev.Encode(); err != nil {
		t.Fatal(err)
	}
	for i := range page.Messages {
		page.Messages[i].Body = "changed after the page was encoded"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		p, _ := pc.expect(packets.Publish, 5*time.Second)
		n := int(binary.BigEndian.Uint16(p.body))
		topic, payload := string(p.body[2:2+n]), p.body[2+n:]
		if topic != "IMS/alice/Inbox/Msg/d_page" || !bytes.Equal(payload, want[i]) {
			t.Fatalf("delivery %d on %s: %s, want %s", i, topic, payload, want[i])
		}
	}
}

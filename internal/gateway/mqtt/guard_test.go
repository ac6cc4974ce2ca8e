package mqtt

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mochi-mqtt/server/v2/packets"
)

// encodePacket encodes pk with the engine's encoders.
func encodePacket(t testing.TB, pk packets.Packet) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&b)
	case packets.Connack:
		err = pk.ConnackEncode(&b)
	case packets.Publish:
		err = pk.PublishEncode(&b)
	case packets.Puback:
		err = pk.PubackEncode(&b)
	case packets.Pubrec:
		err = pk.PubrecEncode(&b)
	case packets.Pubrel:
		err = pk.PubrelEncode(&b)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&b)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&b)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&b)
	case packets.Pingreq:
		err = pk.PingreqEncode(&b)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&b)
	case packets.Auth:
		err = pk.AuthEncode(&b)
	default:
		t.Fatalf("no encoder for packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatalf("encode packet type %d: %v", pk.FixedHeader.Type, err)
	}
	return b.Bytes()
}

func connectPacket(version byte) packets.Packet {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "chat@@@phone",
			UsernameFlag: true, Username: []byte("alice"), PasswordFlag: true, Password: []byte("password-alice")}}
	if version == 5 {
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
		pk.Properties.ReceiveMaximum = 32
		pk.Properties.User = []packets.UserProperty{{Key: "k", Val: "v"}}
	}
	return pk
}

func subscribePacket(version byte, pid uint16, filters ...string) packets.Packet {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: version, PacketID: pid}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	return pk
}

func publishPacket(version, qos byte, pid uint16, topic, payload string) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, ProtocolVersion: version,
		PacketID: pid, TopicName: topic, Payload: []byte(payload)}
}

// guardRead reads everything the guard passes, a byte at a time.
func guardRead(data []byte, maxPacket int) ([]byte, error) {
	return io.ReadAll(iotest.OneByteReader(newPacketGuard(bytes.NewReader(data), maxPacket)))
}

func TestPacketGuard(t *testing.T) {
	const maxPacket = 1024
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	v4 := encodePacket(t, connectPacket(4))
	v5 := encodePacket(t, connectPacket(5))
	sub5 := encodePacket(t, subscribePacket(5, 1, "IMS/alice/Inbox/#", "IMS/g_x/#"))
	pub5 := encodePacket(t, publishPacket(5, 1, 2, "IMS/p2p/bob", "hi"))
	// A 5.0 SUBSCRIBE whose filter lacks its options byte.
	noOptions := sub5[:len(sub5)-1]
	noOptions = cat([]byte{noOptions[0], byte(len(noOptions) - 2)}, noOptions[2:])
	// A PUBLISH of exactly maxPacket bytes.
	full := encodePacket(t, publishPacket(4, 0, 0, "IMS/p2p/bob", strings.Repeat("x", maxPacket-3-13)))
	if len(full) != maxPacket {
		t.Fatalf("full packet is %d bytes", len(full))
	}
	over := encodePacket(t, publishPacket(4, 0, 0, "IMS/p2p/bob", strings.Repeat("x", maxPacket-3-13+1)))

	for _, c := range []struct {
		name    string
		in      []byte
		passed  int // bytes passed to the engine
		wantErr error
	}{
		{"3.1.1 session", cat(v4, encodePacket(t, subscribePacket(4, 1, "a/b")), encodePacket(t, publishPacket(4, 1, 2, "a", "x"))), -1, nil},
		{"5.0 session", cat(v5, sub5, pub5, sub5), -1, nil},
		{"empty", nil, 0, nil},
		{"5-byte length", cat(v4, []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x00}), len(v4), packets.ErrMalformedVariableByteInteger},
		{"endless length", cat(v4, []byte{0x30}, bytes.Repeat([]byte{0xff}, 100)), len(v4), packets.ErrMalformedVariableByteInteger},
		{"5-byte length first", []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, packets.ErrMalformedVariableByteInteger},
		{"4-byte length", cat(v4, []byte{0xc0, 0x80, 0x80, 0x80, 0x00}), -1, nil},
		{"200 MB", cat(v4, []byte{0x32}, []byte{0x80, 0x80, 0xc0, 0x5f}), len(v4), packets.ErrPacketTooLarge},
		{"200 MB first", []byte{0x10, 0x80, 0x80, 0xc0, 0x5f}, 0, packets.ErrPacketTooLarge},
		{"maxPacket bytes", cat(v4, full), -1, nil},
		{"maxPacket+1 bytes", cat(v4, over), len(v4), packets.ErrPacketTooLarge},
		{"5.0 SUBSCRIBE without options", cat(v5, pub5, noOptions, pub5), len(v5) + len(pub5), packets.ErrMalformedPacket},
		// 3.1.1 decodes the options byte with a bounds check: the engine
		// reports the packet itself.
		{"3.1.1 SUBSCRIBE without options", cat(v4, []byte{0x82, 7, 0, 1, 0, 3, 'a', '/', 'b'}), -1, nil},
		// Truncated input: what there is passes (the engine's reader
		// finds it short).
		{"truncated body", cat(v4, pub5[:len(pub5)-1]), -1, nil},
		{"truncated 5.0 SUBSCRIBE", cat(v5, sub5[:len(sub5)-1]), len(v5), io.ErrUnexpectedEOF},
	} {
		out, err := guardRead(c.in, maxPacket)
		passed := c.passed
		if passed < 0 {
			passed = len(c.in)
		}
		if !errors.Is(err, c.wantErr) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.wantErr)
		}
		if !bytes.Equal(out, c.in[:passed]) {
			t.Errorf("%s: passed %d bytes % x, want the first %d", c.name, len(out), out, passed)
		}
	}
}

func TestV5SubscribeComplete(t *testing.T) {
	for _, c := range []struct {
		name string
		body []byte
		want bool
	}{
		{"one filter", []byte{0, 1, 0, 0, 1, 'a', 1}, true},
		{"two filters", []byte{0, 1, 0, 0, 1, 'a', 1, 0, 1, 'b', 2}, true},
		{"no options", []byte{0, 1, 0, 0, 1, 'a'}, false},
		{"second without options", []byte{0, 1, 0, 0, 1, 'a', 1, 0, 1, 'b'}, false},
		{"empty filter without options", []byte{0, 1, 0, 0, 0}, false},
		{"properties", []byte{0, 1, 3, 0x0b, 0x81, 0x01, 0, 1, 'a', 1}, true},
		{"properties, no options", []byte{0, 1, 3, 0x0b, 0x81, 0x01, 0, 1, 'a'}, false},
		{"5-byte property length", []byte{0, 1, 0x80, 0x80, 0x80, 0x80, 0, 0, 1, 'a'}, false},
		// Malformed otherwise: left to the engine's decoder.
		{"no filters", []byte{0, 1, 0}, true},
		{"short", []byte{0}, true},
		{"truncated filter", []byte{0, 1, 0, 0, 5, 'a'}, true},
		{"half a length", []byte{0, 1, 0, 0}, true},
		{"properties past the end", []byte{0, 1, 9, 1}, true},
		{"bad property length", []byte{0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f}, true},
	} {
		if got := v5SubscribeComplete(c.body); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		// Where it says complete, the engine's decoder does not panic.
		func() {
			defer func() {
				if r := recover(); r != nil && c.want {
					t.Errorf("%s: the engine's decoder panics: %v", c.name, r)
				}
			}()
			pk := packets.Packet{ProtocolVersion: 5, FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1, Remaining: len(c.body)}}
			_ = pk.SubscribeDecode(append([]byte(nil), c.body...))
		}()
	}
}

func TestConnectVersion(t *testing.T) {
	for _, c := range []struct {
		body []byte
		want byte
	}{
		{[]byte{0, 4, 'M', 'Q', 'T', 'T', 5, 2}, 5},
		{[]byte{0, 4, 'M', 'Q', 'T', 'T', 4}, 4},
		{[]byte{0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3}, 3},
		{[]byte{0, 4, 'M', 'Q', 'T', 'T'}, 0},
		{[]byte{0, 200, 'M'}, 0},
		{[]byte{0}, 0},
		{nil, 0},
	} {
		if got := connectVersion(c.body); got != c.want {
			t.Errorf("connectVersion(% x) = %d, want %d", c.body, got, c.want)
		}
	}
}

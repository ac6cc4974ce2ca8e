package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
)

// refMatch is topic matching written out level by level (MQTT 3.1.1 and 5.0
// §4.7), to compare matches with.
func refMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return i == len(fl)-1 // the parent level and any below
		}
		if i >= len(tl) || (f != "+" && f != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

func FuzzTopicMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"IMS/alice/Inbox/#", "IMS/alice/Inbox/Msg/d_x"}, {"IMS/alice/Inbox/#", "IMS/alice/Inbox"},
		{"IMS/+/Inbox/#", "IMS/bob/Inbox/Msg/x"}, {"+/+", "/"}, {"#", "$SYS/x"}, {"$SYS/#", "$SYS"},
		{"a/#/b", "a/x/b"}, {"a//b", "a//b"}, {"+", ""}, {"", ""}, {"sport/tennis/+", "sport/tennis/player1"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := matches(filter, topic)
		if want := refMatch(filter, topic); got != want {
			t.Fatalf("matches(%q, %q) = %v, the specification says %v", filter, topic, got, want)
		}
		name := !strings.ContainsAny(topic, "+#")
		if name && !matches(topic, topic) {
			t.Fatalf("topic %q does not match itself", topic)
		}
		if name && matches("#", topic) == strings.HasPrefix(topic, "$") {
			t.Fatalf(`matches("#", %q) = %v`, topic, !strings.HasPrefix(topic, "$"))
		}
		if name && matches("+", topic) != (!strings.Contains(topic, "/") && !strings.HasPrefix(topic, "$")) {
			t.Fatalf(`matches("+", %q) is wrong`, topic)
		}
		// A filter matches nothing outside its literal first level.
		if got && !strings.ContainsAny(filter, "+#") && filter != topic {
			t.Fatalf("literal filter %q matches %q", filter, topic)
		}
	})
}

// FuzzPublishRoute checks publishRoute and checkFilter on arbitrary user
// names, topics and filters: they never panic, a route never leaves the
// root or the user's own namespace, and a filter the user may subscribe to
// without a membership check never matches a topic outside the user's
// namespace.
func FuzzPublishRoute(f *testing.F) {
	for _, s := range [][3]string{
		{"alice", "IMS/p2p/bob", "IMS/alice/Inbox/#"},
		{"alice", "IMS/g_abc/alice", "IMS/g_abc/#"},
		{"alice", "IMS/alice/Ack/d_x", "IMS/alice/#"},
		{"alice", "IMS/alice/Read/d_x", "#"},
		{"alice", "IMS/alice/Typing/d_x", "IMS/+/Inbox/#"},
		{"alice", "IMS/p2p/+", "$share/g/IMS/#"},
		{"alice", "IMS/alice/Inbox/Msg/x", "IMS/alice"},
		{"", "IMS//Ack/x", "IMS//#"},
		{"+", "IMS/+/Ack/x", "IMS/+/#"},
		{"g_x", "IMS/g_x/g_x", "IMS/g_x/#"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	sc := scheme{root: "IMS"}
	f.Fuzz(func(t *testing.T, user, topic, filter string) {
		if core.ValidateUserID(user) != nil {
			return // an identity's user is a valid user id
		}
		r := sc.publishRoute(user, topic)
		lv := strings.Split(topic, "/")
		if r.kind != routeNone {
			switch {
			case !strings.HasPrefix(topic, "IMS/"):
				t.Fatalf("route %+v for %q outside the root", r, topic)
			case len(lv) > maxTopicLevels:
				t.Fatalf("route %+v for %q of %d levels", r, topic, len(lv))
			case r.target == "" || strings.ContainsAny(r.target, "/+#\x00"):
				t.Fatalf("route %+v for %q has target %q", r, topic, r.target)
			case strings.ContainsAny(topic, "+#\x00"):
				t.Fatalf("route %+v for %q, which is no topic name", r, topic)
			}
		}
		switch r.kind {
		case routeDirect:
			if topic != "IMS/p2p/"+r.target {
				t.Fatalf("direct route %+v for %q", r, topic)
			}
		case routeGroup:
			if topic != "IMS/"+r.target+"/"+user || !strings.HasPrefix(r.target, "g_") {
				t.Fatalf("group route %+v for %q by %q", r, topic, user)
			}
		case routeAck, routeRead, routeTyping:
			if lv[1] != user || len(lv) != 4 {
				t.Fatalf("route %+v for %q by %q", r, topic, user)
			}
		case routeFriendReq, routeFriendResp:
			// Into another inbox, always as oneself.
			if len(lv) != 6 || lv[5] != user || lv[1] != r.target || lv[2] != "Inbox" {
				t.Fatalf("friend route %+v for %q by %q", r, topic, user)
			}
		case routeInviteAnswer:
			// Into one's own inbox, about a group.
			if topic != "IMS/"+user+"/Inbox/Add/GInv/"+r.target || !strings.HasPrefix(r.target, "g_") {
				t.Fatalf("invitation route %+v for %q by %q", r, topic, user)
			}
		}

		verdict, group := sc.checkFilter(user, filter)
		flv := strings.Split(filter, "/")
		if verdict == subOK || verdict == subNeedsMem {
			if len(flv) > maxTopicLevels || len(flv) < 2 || flv[0] != "IMS" {
				t.Fatalf("checkFilter(%q, %q) = %d", user, filter, verdict)
			}
		}
		switch verdict {
		case subOK:
			if flv[1] != user {
				t.Fatalf("checkFilter(%q, %q) allows another namespace", user, filter)
			}
			// No leak: whatever topic the filter matches is the user's.
			if matches(filter, topic) && !strings.HasPrefix(topic, "IMS/"+user+"/") && topic != "IMS/"+user {
				t.Fatalf("filter %q allowed for %q matches %q", filter, user, topic)
			}
		case subNeedsMem:
			if group != flv[1] || !strings.HasPrefix(group, "g_") {
				t.Fatalf("checkFilter(%q, %q) asks about group %q", user, filter, group)
			}
			if matches(filter, topic) && !strings.HasPrefix(topic, "IMS/"+group+"/") && topic != "IMS/"+group {
				t.Fatalf("filter %q of group %q matches %q", filter, group, topic)
			}
		case subNeedsTag:
			if len(flv) != 3 || flv[0] != "IMS" || flv[1] != "System" || group != flv[2] || core.ValidateTagValue(group) != nil {
				t.Fatalf("checkFilter(%q, %q) asks about tag value %q", user, filter, group)
			}
			if matches(filter, topic) && topic != filter {
				t.Fatalf("system filter %q matches %q", filter, topic)
			}
		case subTooDeep:
			if len(flv) <= maxTopicLevels {
				t.Fatalf("checkFilter(%q, %q): too deep at %d levels", user, filter, len(flv))
			}
		}
	})
}

func FuzzParseSend(f *testing.F) {
	f.Add([]byte("hello"), []byte(nil), "", "", "")
	f.Add([]byte(`{"body":"hi","client_msg_id":"c1"}`), []byte("corr"), "client_msg_id", "u1", "text/plain")
	f.Add([]byte(`{"payload":{"a":[1,2]},"encrypted":true}`), []byte(nil), "k", "v", "")
	f.Add([]byte(`{"body":null,"payload":null}`), []byte{0xff}, "client_msg_id", "", "")
	f.Add([]byte("\xc0\xaf"), []byte(nil), "", "", "")
	f.Add([]byte(`  {"body":"x","body":"y"}  `), []byte(nil), "", "", "")
	f.Add([]byte(`{"body":"`+strings.Repeat("[", 100)+`"}`), []byte(nil), "", "", "")
	f.Fuzz(func(t *testing.T, payload, corr []byte, key, val, contentType string) {
		pk := packets.Packet{Payload: payload}
		pk.Properties.CorrelationData = corr
		pk.Properties.ContentType = contentType
		pk.Properties.User = []packets.UserProperty{{Key: key, Val: val}}
		r, err := parseSend(pk)
		_, envelope := asEnvelope(payload)
		if (err != nil) != (!envelope && !utf8.Valid(payload)) {
			t.Fatalf("parseSend(%q): error %v, envelope %v", payload, err, envelope)
		}
		if err != nil {
			return
		}
		if !envelope && (r.Body != string(payload) || r.ContentType != contentType || r.Payload != nil) {
			t.Fatalf("text %q became %+v", payload, r)
		}
		if r.To != "" || r.Conv != "" {
			t.Fatalf("the payload chose the recipient: %+v", r)
		}
		// The client message id comes from one of the three places, in
		// order.
		switch {
		case envelope && r.ClientMsgID != "" && strings.Contains(string(payload), "client_msg_id"):
		case len(corr) > 0:
			if r.ClientMsgID != string(corr) {
				t.Fatalf("client_msg_id %q, want the correlation data %q", r.ClientMsgID, corr)
			}
		case key == "client_msg_id":
			if r.ClientMsgID != val {
				t.Fatalf("client_msg_id %q, want the user property %q", r.ClientMsgID, val)
			}
		default:
			if r.ClientMsgID != "" {
				t.Fatalf("client_msg_id %q from nowhere", r.ClientMsgID)
			}
		}
	})
}

func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"42", " 42\n", `{"seq":7}`, `{"seq":"7"}`, "-1", "1e3", "18446744073709551616", "", `{"seq":1.5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, ok := parseSeq(b)
		s := strings.TrimSpace(string(b))
		if n, err := strconv.ParseUint(s, 10, 64); err == nil && (!ok || n != seq) {
			t.Fatalf("parseSeq(%q) = %d %v, want %d", b, seq, ok, n)
		}
		if ok && !strings.HasPrefix(s, "{") {
			if n, err := strconv.ParseUint(s, 10, 64); err != nil || n != seq {
				t.Fatalf("parseSeq(%q) = %d from no number", b, seq)
			}
		}
		if !ok && seq != 0 {
			t.Fatalf("parseSeq(%q) = %d but not ok", b, seq)
		}
	})
}

// errGuardMissed: a packet the packet guard should have stopped reached the
// engine's decoder.
var errGuardMissed = errors.New("the packet guard let a malformed length through")

// readPackets decodes what a client sends as a connection does: through
// the packet guard (netConn.Read), then the engine's client reader (mochi
// Client.ReadFixedHeader and ReadPacket: FixedHeader.Decode, DecodeLength,
// the packet size check, the packet type's decoder), the first packet a
// CONNECT whose protocol version the later ones are decoded with, and the
// checks the engine makes before the hooks see a packet (processPacket).
func readPackets(data []byte, maxPacket int) ([]packets.Packet, error) {
	r := bufio.NewReaderSize(newPacketGuard(bytes.NewReader(data), maxPacket), 1024)
	version := byte(4) // the engine's protocol version before CONNECT
	var out []packets.Packet
	for {
		b, err := r.ReadByte()
		if err != nil {
			return out, err
		}
		var fh packets.FixedHeader
		if err := fh.Decode(b); err != nil {
			return out, err
		}
		var bu int
		if fh.Remaining, bu, err = packets.DecodeLength(r); err != nil {
			return out, err
		}
		if bu > 4 || fh.Remaining+1+bu > maxPacket {
			return out, errGuardMissed
		}
		if len(out) == 0 && fh.Type != packets.Connect {
			return out, packets.ErrProtocolViolationRequireFirstConnect
		}
		pk := packets.Packet{ProtocolVersion: version, FixedHeader: fh}
		p := make([]byte, fh.Remaining)
		if _, err := io.ReadFull(r, p); err != nil {
			return out, err
		}
		px := append([]byte{}, p...)
		switch fh.Type {
		case packets.Connect:
			err = pk.ConnectDecode(px)
		case packets.Disconnect:
			err = pk.DisconnectDecode(px)
		case packets.Connack:
			err = pk.ConnackDecode(px)
		case packets.Publish:
			err = pk.PublishDecode(px)
		case packets.Puback:
			err = pk.PubackDecode(px)
		case packets.Pubrec:
			err = pk.PubrecDecode(px)
		case packets.Pubrel:
			err = pk.PubrelDecode(px)
		case packets.Pubcomp:
			err = pk.PubcompDecode(px)
		case packets.Subscribe:
			err = pk.SubscribeDecode(px)
		case packets.Suback:
			err = pk.SubackDecode(px)
		case packets.Unsubscribe:
			err = pk.UnsubscribeDecode(px)
		case packets.Unsuback:
			err = pk.UnsubackDecode(px)
		case packets.Pingreq, packets.Pingresp:
		case packets.Auth:
			err = pk.AuthDecode(px)
		default:
			err = fmt.Errorf("invalid packet type %d", fh.Type)
		}
		if err != nil {
			return out, err
		}
		out = append(out, pk)
		code := packets.CodeSuccess
		switch fh.Type {
		case packets.Connect:
			if len(out) > 1 {
				return out, packets.ErrProtocolViolationSecondConnect
			}
			code = pk.ConnectValidate()
			version = pk.ProtocolVersion
		case packets.Publish:
			code = pk.PublishValidate(16)
		case packets.Subscribe:
			code = pk.SubscribeValidate()
		case packets.Unsubscribe:
			code = pk.UnsubscribeValidate()
		case packets.Auth:
			code = pk.AuthValidate()
		}
		if code != packets.CodeSuccess {
			return out, code
		}
	}
}

// seedStreams are byte streams of real packets, encoded by the engine.
func seedStreams(t testing.TB) [][]byte {
	cat := func(pks ...packets.Packet) []byte {
		var b []byte
		for _, pk := range pks {
			b = append(b, encodePacket(t, pk)...)
		}
		return b
	}
	with := func(pk packets.Packet, f func(*packets.Packet)) packets.Packet { f(&pk); return pk }
	v4, v5 := connectPacket(4), connectPacket(5)
	will5 := with(v5, func(pk *packets.Packet) {
		pk.Connect.WillFlag, pk.Connect.WillQos, pk.Connect.WillTopic, pk.Connect.WillPayload = true, 1, "IMS/p2p/bob", []byte("gone")
		pk.Connect.WillProperties.WillDelayInterval = 5
		pk.Connect.WillProperties.User = []packets.UserProperty{{Key: "client_msg_id", Val: "w1"}}
		pk.Connect.Clean = false
	})
	will4 := with(v4, func(pk *packets.Packet) {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload, pk.Connect.WillRetain = true, "IMS/p2p/bob", []byte("gone"), true
	})
	ping := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}
	ack := func(v, typ byte, pid uint16) packets.Packet {
		fh := packets.FixedHeader{Type: typ}
		if typ == packets.Pubrel {
			fh.Qos = 1
		}
		return packets.Packet{FixedHeader: fh, ProtocolVersion: v, PacketID: pid}
	}
	pub5 := with(publishPacket(5, 1, 3, "IMS/p2p/bob", `{"body":"hi","client_msg_id":"c1"}`), func(pk *packets.Packet) {
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 1, true
		pk.Properties.CorrelationData = []byte("corr")
		pk.Properties.ContentType = "application/json"
		pk.Properties.PayloadFormat, pk.Properties.PayloadFormatFlag = 1, true
		pk.Properties.User = []packets.UserProperty{{Key: "client_msg_id", Val: "u1"}}
	})
	sub5 := with(subscribePacket(5, 4, "IMS/alice/Inbox/#", "IMS/g_x/#"), func(pk *packets.Packet) {
		pk.Properties.User = []packets.UserProperty{{Key: "k", Val: "v"}}
		pk.Filters[1].NoLocal, pk.Filters[1].RetainHandling = true, 2
	})
	unsub := func(v byte) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, ProtocolVersion: v, PacketID: 9,
			Filters: packets.Subscriptions{{Filter: "IMS/alice/Inbox/#"}}}
	}
	disc5 := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5, ReasonCode: 0x04}
	disc5.Properties.SessionExpiryInterval, disc5.Properties.SessionExpiryIntervalFlag = 0, true
	auth := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Auth}, ProtocolVersion: 5, ReasonCode: 0x18}
	auth.Properties.AuthenticationMethod = "x"
	pubrel5 := with(ack(5, packets.Pubrel, 2), func(pk *packets.Packet) {
		pk.ReasonCode = 0x92
		pk.Properties.ReasonString = "not found"
	})
	return [][]byte{
		cat(v4),
		cat(v4, subscribePacket(4, 1, "IMS/alice/Inbox/#", "IMS/g_x/+"), publishPacket(4, 0, 0, "IMS/p2p/bob", "hello"),
			publishPacket(4, 1, 1, "IMS/p2p/bob", "q1"), publishPacket(4, 2, 2, "IMS/g_x/alice", "q2"), ack(4, packets.Pubrel, 2),
			ack(4, packets.Puback, 7), publishPacket(4, 1, 3, "IMS/alice/Read/d_x", "12"), ping, unsub(4),
			packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}),
		cat(will4, ping),
		cat(v5),
		cat(will5, sub5, pub5, publishPacket(5, 0, 0, "IMS/alice/Typing/d_x", ""), publishPacket(5, 2, 5, "IMS/p2p/bob", "q2"),
			pubrel5, ack(5, packets.Puback, 1), ack(5, packets.Pubrec, 1), ack(5, packets.Pubcomp, 1), unsub(5), auth, ping, disc5),
		cat(v5, publishPacket(5, 1, 1, "IMS/p2p/bob", strings.Repeat("x", 3000))),
		// A second CONNECT.
		cat(v4, v4),
	}
}

func FuzzPacketDecode(f *testing.F) {
	const maxPacket = 64 << 10
	for _, s := range seedStreams(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The guard passes a prefix of the input, unchanged; all of it if
		// it finds nothing wrong.
		out, err := io.ReadAll(newPacketGuard(bytes.NewReader(data), maxPacket))
		if !bytes.HasPrefix(data, out) || (err == nil && len(out) != len(data)) {
			t.Fatalf("the guard passed % x (%v) of % x", out, err, data)
		}
		// The engine's decoding never panics on what the guard passes.
		if _, err := readPackets(data, maxPacket); errors.Is(err, errGuardMissed) {
			t.Fatal(err)
		}
	})
}

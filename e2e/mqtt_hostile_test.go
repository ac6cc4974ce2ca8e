package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// Rows M1–M13 of BAD_INPUTS.md against the MQTT gateway, with raw TCP
// connections and hand-encoded packets. Every row ends with the "nothing
// lost" check (mhEnv.nothingLost).

// MQTT control packet types.
const (
	mhCONNECT    = 1
	mhCONNACK    = 2
	mhPUBLISH    = 3
	mhPUBACK     = 4
	mhPUBREC     = 5
	mhPUBREL     = 6
	mhSUBSCRIBE  = 8
	mhSUBACK     = 9
	mhPINGREQ    = 12
	mhDISCONNECT = 14
)

// MQTT 5 property identifiers used here.
const (
	mhPropSessionExpiry   = 0x11
	mhPropServerKeepAlive = 0x13
	mhPropReceiveMaximum  = 0x21
	mhPropTopicAliasMax   = 0x22
	mhPropTopicAlias      = 0x23
	mhPropRetainAvailable = 0x25
	mhPropUser            = 0x26
	mhPropMaxPacketSize   = 0x27
)

// ---- encoding ----

func mhVarint(n int) []byte {
	var b []byte
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func mhU16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func mhStr(s string) []byte { return append(mhU16(uint16(len(s))), s...) }

// mhFrame is a packet: the first byte (type and flags), the Remaining
// Length and the body.
func mhFrame(first byte, body []byte) []byte {
	return append(append([]byte{first}, mhVarint(len(body))...), body...)
}

func mhPropU16(id byte, v uint16) []byte { return append([]byte{id}, mhU16(v)...) }

func mhPropU32(id byte, v uint32) []byte {
	return []byte{id, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// mhConnect is a CONNECT packet.
type mhConnect struct {
	v5          bool
	name        string // protocol name; "" is MQTT
	level       byte   // protocol level; 0 is 4, or 5 with v5
	clientID    string
	user        string
	noUser      bool
	password    string
	clean       bool
	keepalive   uint16
	willTopic   string // "" is no will
	willPayload string
	willRetain  bool
	willProps   []byte // 5.0 will properties
	props       []byte // 5.0 CONNECT properties
}

func (o mhConnect) encode() []byte {
	name, level := o.name, o.level
	if name == "" {
		name = "MQTT"
	}
	if level == 0 {
		level = 4
		if o.v5 {
			level = 5
		}
	}
	var flags byte
	if o.clean {
		flags |= 0x02
	}
	if o.willTopic != "" {
		flags |= 0x04
		if o.willRetain {
			flags |= 0x20
		}
	}
	if !o.noUser {
		flags |= 0x80
	}
	if o.password != "" {
		flags |= 0x40
	}
	body := append(mhStr(name), level, flags)
	body = append(body, mhU16(o.keepalive)...)
	if o.v5 {
		body = append(body, mhVarint(len(o.props))...)
		body = append(body, o.props...)
	}
	body = append(body, mhStr(o.clientID)...)
	if o.willTopic != "" {
		if o.v5 {
			body = append(body, mhVarint(len(o.willProps))...)
			body = append(body, o.willProps...)
		}
		body = append(body, mhStr(o.willTopic)...)
		body = append(body, mhStr(o.willPayload)...)
	}
	if !o.noUser {
		body = append(body, mhStr(o.user)...)
	}
	if o.password != "" {
		body = append(body, mhStr(o.password)...)
	}
	return mhFrame(mhCONNECT<<4, body)
}

// mhPub is a PUBLISH packet.
type mhPub struct {
	topic       string
	qos         byte
	pid         uint16
	dup, retain bool
	props       []byte // 5.0 properties
	payload     string
}

func mhPublish(v5 bool, p mhPub) []byte {
	first := byte(mhPUBLISH<<4) | p.qos<<1
	if p.dup {
		first |= 0x08
	}
	if p.retain {
		first |= 0x01
	}
	body := mhStr(p.topic)
	if p.qos > 0 {
		body = append(body, mhU16(p.pid)...)
	}
	if v5 {
		body = append(body, mhVarint(len(p.props))...)
		body = append(body, p.props...)
	}
	return mhFrame(first, append(body, p.payload...))
}

// mhSubscribe is a SUBSCRIBE of filters at QoS 1.
func mhSubscribe(v5 bool, pid uint16, filters ...string) []byte {
	body := mhU16(pid)
	if v5 {
		body = append(body, 0)
	}
	for _, f := range filters {
		body = append(append(body, mhStr(f)...), 1)
	}
	return mhFrame(mhSUBSCRIBE<<4|0x02, body)
}

func mhPuback(pid uint16) []byte { return mhFrame(mhPUBACK<<4, mhU16(pid)) }

// ---- decoding ----

// mhPacket is a packet read from the server.
type mhPacket struct {
	typ, flags byte
	body       []byte
}

func (p mhPacket) String() string {
	names := map[byte]string{mhCONNACK: "CONNACK", mhPUBLISH: "PUBLISH", mhPUBACK: "PUBACK", mhPUBREC: "PUBREC",
		mhSUBACK: "SUBACK", 13: "PINGRESP", mhDISCONNECT: "DISCONNECT", 7: "PUBCOMP", 11: "UNSUBACK"}
	n := names[p.typ]
	if n == "" {
		n = fmt.Sprintf("type %d", p.typ)
	}
	if len(p.body) > 48 {
		return fmt.Sprintf("%s % x...", n, p.body[:48])
	}
	return fmt.Sprintf("%s % x", n, p.body)
}

// mhProps are decoded MQTT 5 properties.
type mhProps struct {
	vals map[byte][]byte
	user [][2]string
}

func (p mhProps) u16(id byte) (uint16, bool) {
	v, ok := p.vals[id]
	if !ok || len(v) != 2 {
		return 0, false
	}
	return uint16(v[0])<<8 | uint16(v[1]), true
}

func (p mhProps) u32(id byte) (uint32, bool) {
	v, ok := p.vals[id]
	if !ok || len(v) != 4 {
		return 0, false
	}
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]), true
}

func (p mhProps) userProp(k string) string {
	for _, kv := range p.user {
		if kv[0] == k {
			return kv[1]
		}
	}
	return ""
}

func mhUvarint(b []byte) (v, n int, ok bool) {
	shift := 0
	for i := 0; i < len(b) && i < 4; i++ {
		v |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return v, i + 1, true
		}
		shift += 7
	}
	return 0, 0, false
}

// mhParseProps decodes a property block (length and properties) at the
// start of b and returns the properties and the bytes after the block.
func mhParseProps(b []byte) (mhProps, []byte, error) {
	p := mhProps{vals: map[byte][]byte{}}
	n, vn, ok := mhUvarint(b)
	if !ok || vn+n > len(b) {
		return p, nil, errors.New("bad property length")
	}
	rest, b := b[vn+n:], b[vn:vn+n]
	str := func(b []byte) ([]byte, []byte, error) {
		if len(b) < 2 || 2+(int(b[0])<<8|int(b[1])) > len(b) {
			return nil, nil, errors.New("short string")
		}
		l := int(b[0])<<8 | int(b[1])
		return b[2 : 2+l], b[2+l:], nil
	}
	for len(b) > 0 {
		id := b[0]
		b = b[1:]
		var size int
		switch id {
		case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A:
			size = 1
		case 0x13, 0x21, 0x22, 0x23:
			size = 2
		case 0x02, 0x11, 0x18, 0x27:
			size = 4
		case 0x0B:
			_, n, ok := mhUvarint(b)
			if !ok {
				return p, nil, errors.New("bad varint property")
			}
			size = n
		case 0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F:
			v, r, err := str(b)
			if err != nil {
				return p, nil, err
			}
			p.vals[id], b = v, r
			continue
		case mhPropUser:
			k, r, err := str(b)
			if err != nil {
				return p, nil, err
			}
			v, r, err := str(r)
			if err != nil {
				return p, nil, err
			}
			p.user, b = append(p.user, [2]string{string(k), string(v)}), r
			continue
		default:
			return p, nil, fmt.Errorf("unknown property 0x%02x", id)
		}
		if size > len(b) {
			return p, nil, errors.New("short property")
		}
		p.vals[id], b = b[:size], b[size:]
	}
	return p, rest, nil
}

// connack returns a CONNACK's session present flag, return or reason code
// and (5.0) properties.
func (p mhPacket) connack(t *testing.T, v5 bool) (bool, byte, mhProps) {
	t.Helper()
	if p.typ != mhCONNACK || len(p.body) < 2 {
		t.Fatalf("not a CONNACK: %v", p)
	}
	var props mhProps
	if v5 {
		var err error
		if props, _, err = mhParseProps(p.body[2:]); err != nil {
			t.Fatalf("CONNACK properties: %v: %v", err, p)
		}
	} else if len(p.body) != 2 {
		t.Fatalf("3.1.1 CONNACK of %d bytes: %v", len(p.body), p)
	}
	return p.body[0]&1 == 1, p.body[1], props
}

// suback returns a SUBACK's packet id and reason codes.
func (p mhPacket) suback(t *testing.T, v5 bool) (uint16, []byte) {
	t.Helper()
	if p.typ != mhSUBACK || len(p.body) < 3 {
		t.Fatalf("not a SUBACK: %v", p)
	}
	codes := p.body[2:]
	if v5 {
		var err error
		if _, codes, err = mhParseProps(codes); err != nil {
			t.Fatalf("SUBACK properties: %v", err)
		}
	}
	return uint16(p.body[0])<<8 | uint16(p.body[1]), codes
}

// ack returns the packet id, reason code and (5.0) properties of a PUBACK
// or PUBREC.
func (p mhPacket) ack(t *testing.T) (uint16, byte, mhProps) {
	t.Helper()
	if len(p.body) < 2 {
		t.Fatalf("short ack: %v", p)
	}
	pid, code, props := uint16(p.body[0])<<8|uint16(p.body[1]), byte(0), mhProps{}
	if len(p.body) > 2 {
		code = p.body[2]
	}
	if len(p.body) > 3 {
		var err error
		if props, _, err = mhParseProps(p.body[3:]); err != nil {
			t.Fatalf("ack properties: %v", err)
		}
	}
	return pid, code, props
}

// publish decodes a PUBLISH: topic, packet id, QoS, retain flag, payload.
func (p mhPacket) publish(t *testing.T, v5 bool) (topic string, pid uint16, qos byte, retain bool, payload []byte) {
	t.Helper()
	b := p.body
	if p.typ != mhPUBLISH || len(b) < 2 || 2+(int(b[0])<<8|int(b[1])) > len(b) {
		t.Fatalf("not a PUBLISH: %v", p)
	}
	l := int(b[0])<<8 | int(b[1])
	topic, b = string(b[2:2+l]), b[2+l:]
	qos, retain = p.flags>>1&3, p.flags&1 == 1
	if qos > 0 {
		pid, b = uint16(b[0])<<8|uint16(b[1]), b[2:]
	}
	if v5 {
		var err error
		if _, b, err = mhParseProps(b); err != nil {
			t.Fatalf("PUBLISH properties: %v", err)
		}
	}
	return topic, pid, qos, retain, b
}

// ---- connections ----

// mhConn is a raw MQTT connection.
type mhConn struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	v5   bool
	user string     // the CONNECT's user name
	pubs []mhPacket // PUBLISH packets read while waiting for something else
}

func mhDial(t *testing.T, s *server, v5 bool) *mhConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial mqtt: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &mhConn{t: t, c: c, br: bufio.NewReader(c), v5: v5}
}

// send writes packets; the server may have closed the connection already.
func (m *mhConn) send(pks ...[]byte) error {
	_ = m.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	for _, p := range pks {
		if _, err := m.c.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// put writes packets and fails the test if it cannot.
func (m *mhConn) put(pks ...[]byte) {
	m.t.Helper()
	if err := m.send(pks...); err != nil {
		m.t.Fatalf("write: %v", err)
	}
}

func (m *mhConn) read(timeout time.Duration) (mhPacket, error) {
	_ = m.c.SetReadDeadline(time.Now().Add(timeout))
	h, err := m.br.ReadByte()
	if err != nil {
		return mhPacket{}, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		if i == 4 {
			return mhPacket{}, errors.New("the server sent a Remaining Length of more than 4 bytes")
		}
		c, err := m.br.ReadByte()
		if err != nil {
			return mhPacket{}, err
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(m.br, body); err != nil {
		return mhPacket{}, err
	}
	return mhPacket{typ: h >> 4, flags: h & 0x0f, body: body}, nil
}

// expect returns the next packet of type typ; PUBLISH packets read before
// it are kept in m.pubs, anything else fails the test.
func (m *mhConn) expect(typ byte, timeout time.Duration) mhPacket {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := m.read(time.Until(deadline))
		if err != nil {
			m.t.Fatalf("waiting for packet type %d: %v", typ, err)
		}
		if p.typ == typ {
			return p
		}
		if p.typ != mhPUBLISH {
			m.t.Fatalf("waiting for packet type %d, got %v", typ, p)
		}
		m.pubs = append(m.pubs, p)
	}
}

// closed waits until the server ends the connection, and returns the
// DISCONNECT it sent before (nil: none) and the packets other than PUBLISH
// and DISCONNECT it sent meanwhile. It fails the test if the connection
// is still open after timeout.
func (m *mhConn) closed(timeout time.Duration) (disc *mhPacket, others []mhPacket) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := m.read(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				m.t.Fatalf("connection still open after %v", timeout)
			}
			return disc, others // EOF or reset
		}
		switch p.typ {
		case mhDISCONNECT:
			d := p
			disc = &d
		case mhPUBLISH:
			m.pubs = append(m.pubs, p)
		default:
			others = append(others, p)
		}
	}
}

// closedWith waits until the server ends the connection, having sent
// nothing but (5.0, optionally) a DISCONNECT whose reason is one of codes.
func (m *mhConn) closedWith(what string, timeout time.Duration, codes ...byte) {
	m.t.Helper()
	m.closedTold(what, false, timeout, codes...)
}

// closedTold is closedWith; with told, a 5.0 client must get the
// DISCONNECT.
func (m *mhConn) closedTold(what string, told bool, timeout time.Duration, codes ...byte) {
	m.t.Helper()
	disc, others := m.closed(timeout)
	if len(others) > 0 {
		m.t.Errorf("%s: the server answered %v before closing", what, others)
	}
	if disc == nil {
		if told && m.v5 {
			m.t.Errorf("%s: closed without a DISCONNECT (want a reason among % x)", what, codes)
		}
		return
	}
	if !m.v5 {
		m.t.Errorf("%s: a 3.1.1 client got a DISCONNECT %v", what, disc)
		return
	}
	if len(disc.body) == 0 || !bytes.Contains(codes, disc.body[:1]) {
		m.t.Errorf("%s: DISCONNECT %v, want a reason among % x", what, disc, codes)
	}
}

// mhOpen dials and sends CONNECT o; it returns the connection and the
// CONNACK's code and (5.0) properties.
func mhOpen(t *testing.T, s *server, o mhConnect) (*mhConn, byte, mhProps) {
	t.Helper()
	m := mhDial(t, s, o.v5)
	m.user = o.user
	m.put(o.encode())
	_, code, props := m.expect(mhCONNACK, 10*time.Second).connack(t, o.v5)
	return m, code, props
}

// mhLogin connects a device of user with the user's password and expects
// success; a session that is not clean persists (5.0: expiry one hour).
func mhLogin(t *testing.T, s *server, v5 bool, user, clientID string, clean bool) *mhConn {
	t.Helper()
	o := mhConnect{v5: v5, clientID: clientID, user: user, password: "password-" + user, clean: clean, keepalive: 30}
	if v5 && !clean {
		o.props = mhPropU32(mhPropSessionExpiry, 3600)
	}
	m, code, _ := mhOpen(t, s, o)
	if code != 0 {
		t.Fatalf("connect %s as %s: code 0x%02x", clientID, user, code)
	}
	return m
}

func mhVersion(v5 bool) string {
	if v5 {
		return "5.0"
	}
	return "3.1.1"
}

// ---- the "nothing lost" environment ----

// mhEnv is a server with users alice (the offender), bob (who must not get
// what alice tries to leak) and carol, and a message acknowledged before
// the bad input.
type mhEnv struct {
	t      *testing.T
	s      *server
	bob    *parley.Client // WebSocket
	before protocol.Ack   // carol → bob, acknowledged before the row
}

func mhSetup(t *testing.T, mutate func(*config.Config)) *mhEnv {
	t.Helper()
	s := startServer(t, mutate)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	e := &mhEnv{t: t, s: s, bob: s.dial("bob", "phone")}
	ack, err := s.login("carol", "web").Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "acknowledged before " + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	e.before = ack
	if m := recv(t, e.bob, 1, 5*time.Second)[0]; m.ID != ack.ID {
		t.Fatalf("bob got %+v, want %+v", m, ack)
	}
	return e
}

// group creates a group of bob and carol (alice is not a member); bob's
// client receives its creation.
func (e *mhEnv) group() string {
	e.t.Helper()
	g, err := e.s.login("bob", "web").CreateGroup(ctxT(e.t), "no alice", "carol")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range recv(e.t, e.bob, int(g.LastSeq), 5*time.Second) {
		if m.Conv != g.ID {
			e.t.Fatalf("bob got %+v", m)
		}
	}
	return g.ID
}

// nothingLost: the message acknowledged before is still in history, a
// well-behaved MQTT client still sends and bob receives (and nothing else
// reaches bob), and every connection of the row has been detached.
func (e *mhEnv) nothingLost() {
	t := e.t
	t.Helper()
	ctx := ctxT(t)
	page, err := e.s.login("bob", "history").History(ctx, e.before.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range page.Messages {
		found = found || (m.ID == e.before.ID && m.Seq == e.before.Seq)
	}
	if !found {
		t.Fatalf("message %s (seq %d) acknowledged before is not in history: %+v", e.before.ID, e.before.Seq, page.Messages)
	}
	c := e.s.mqttConnect("carol", "normal@@@after", true)
	body := "still working after " + t.Name()
	c.publish("IMS/p2p/bob", 1, body)
	if m := recv(t, e.bob, 1, 5*time.Second)[0]; m.Body != body || m.From != "carol" {
		t.Fatalf("bob got %+v, want %q from carol", m, body)
	}
	c.c.Disconnect(50)
	mhWaitConns(t, e.s, 1) // bob's
}

// mhGoroutinesBack waits until the process has no more goroutines than
// base (and two for timers and pools): the row's connections left
// nothing running. Only for tests that do not run in parallel.
func mhGoroutinesBack(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the row:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mhConns is the number of connections attached to the core, over every
// protocol.
func mhConns(s *server) int {
	ch := make(chan prometheus.Metric, 16)
	s.app.Core().Metrics().Connections.Collect(ch)
	close(ch)
	n := 0
	for g := range ch {
		var m dto.Metric
		if err := g.Write(&m); err != nil {
			return -1
		}
		n += int(m.GetGauge().GetValue())
	}
	return n
}

func mhWaitConns(t *testing.T, s *server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for mhConns(s) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections attached, want %d", mhConns(s), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noPublish checks that m receives no packet for d (and has no PUBLISH
// kept) but transient events on its user's inbox (presence, typing,
// receipts, read positions: QoS 0, not retained).
func (m *mhConn) noPublish(d time.Duration) {
	m.t.Helper()
	transient := func(p mhPacket) bool {
		topic, _, qos, retain, _ := p.publish(m.t, m.v5)
		for _, kind := range []string{"Presence", "Typing", "Receipt", "Read"} {
			if strings.HasPrefix(topic, "IMS/"+m.user+"/Inbox/"+kind+"/") && qos == 0 && !retain {
				return true
			}
		}
		return false
	}
	for _, p := range m.pubs {
		if !transient(p) {
			m.t.Fatalf("unexpected %v", p)
		}
	}
	m.pubs = nil
	deadline := time.Now().Add(d)
	for {
		p, err := m.read(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				m.t.Fatalf("connection ended: %v", err)
			}
			return
		}
		if p.typ != mhPUBLISH || !transient(p) {
			m.t.Fatalf("unexpected %v", p)
		}
	}
}

// ---- M1 ----

// M1: filters outside the user's own namespace are refused (3.1.1: 0x80,
// 5.0: 0x87) and nothing published to others reaches the subscriber.
func TestMQTTHostileM1ForbiddenSubscriptions(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	g := e.group()
	ctx := ctxT(t)
	carol := e.s.login("carol", "web")
	forbidden := []string{"#", "+/#", "IMS/+/Inbox/#", "$share/g/IMS/#", "$SYS/#", "IMS/#", "IMS/bob/Inbox/#",
		"IMS/bob/#", "IMS/p2p/#", "IMS/" + g + "/#", "IMS/" + g + "/carol", "+/bob/Inbox/Msg/+"}
	for _, v5 := range []bool{false, true} {
		refused := byte(0x80)
		if v5 {
			refused = 0x87
		}
		alice := mhLogin(t, e.s, v5, "alice", "m1@@@"+mhVersion(v5), true)
		alice.put(mhSubscribe(v5, 1, append([]string{"IMS/alice/Inbox/#"}, forbidden...)...))
		pid, codes := alice.expect(mhSUBACK, 5*time.Second).suback(t, v5)
		if pid != 1 || len(codes) != 1+len(forbidden) || codes[0] != 1 {
			t.Fatalf("%s: SUBACK %d % x", mhVersion(v5), pid, codes)
		}
		for i, f := range forbidden {
			if codes[i+1] != refused {
				t.Errorf("%s: SUBSCRIBE %q: 0x%02x, want 0x%02x", mhVersion(v5), f, codes[i+1], refused)
			}
		}
		// Messages to bob and to the group, then one to alice: alice gets
		// only hers.
		if _, err := carol.Send(ctx, "", parley.SendOptions{To: "bob", Body: "for bob only"}); err != nil {
			t.Fatal(err)
		}
		if _, err := carol.Send(ctx, g, parley.SendOptions{Body: "for the group only"}); err != nil {
			t.Fatal(err)
		}
		recv(t, e.bob, 2, 5*time.Second)
		mine, err := carol.Send(ctx, "", parley.SendOptions{To: "alice", Body: "for alice"})
		if err != nil {
			t.Fatal(err)
		}
		p := alice.expect(mhPUBLISH, 5*time.Second)
		topic, _, _, _, payload := p.publish(t, v5)
		if topic != "IMS/alice/Inbox/Msg/"+mine.Conv || !strings.Contains(string(payload), `"for alice"`) {
			t.Fatalf("%s: alice got %s %s", mhVersion(v5), topic, payload)
		}
		alice.noPublish(300 * time.Millisecond)
		// Malformed filters, even in the user's own namespace: 0x8F
		// (3.1.1: 0x80).
		malformed := []string{"IMS/alice/#/x", "IMS/alice/Inbox#", "IMS/alice/In+box/#", "IMS/alice+/#", ""}
		alice.put(mhSubscribe(v5, 2, malformed...))
		_, codes = alice.expect(mhSUBACK, 5*time.Second).suback(t, v5)
		for i, f := range malformed {
			if want := map[bool]byte{false: 0x80, true: 0x8F}[v5]; i >= len(codes) || codes[i] != want {
				t.Errorf("%s: SUBSCRIBE %q: SUBACK % x, want 0x%02x", mhVersion(v5), f, codes, want)
			}
		}
		alice.c.Close()
	}
	e.nothingLost()
}

// ---- M2 ----

// M2: a client id or user name with + # / or U+0000 is refused at CONNECT
// (3.1.1: 0x02, 5.0: 0x85).
func TestMQTTHostileM2BadNames(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	for _, v5 := range []bool{false, true} {
		want := byte(0x02)
		if v5 {
			want = 0x85
		}
		for _, bad := range []string{"a+b", "a#b", "a/b", "a\x00b", "+", "#", "/"} {
			for _, field := range []string{"client id", "user name"} {
				what := fmt.Sprintf("%s %s %q", mhVersion(v5), field, bad)
				o := mhConnect{v5: v5, clientID: "m2@@@ok", user: "alice", password: "password-alice", clean: true, keepalive: 30}
				if field == "client id" {
					o.clientID = bad
				} else {
					o.user = bad
				}
				m := mhDial(t, e.s, v5)
				m.put(o.encode())
				p, err := m.read(5 * time.Second)
				if err != nil {
					// A client id is a UTF-8 string, which may not hold
					// U+0000: such a CONNECT is malformed, and the
					// connection is closed without a CONNACK.
					if field != "client id" || !strings.Contains(bad, "\x00") {
						t.Errorf("%s: no CONNACK: %v", what, err)
					}
					continue
				}
				if _, code, _ := p.connack(t, v5); code != want {
					t.Errorf("%s: CONNACK 0x%02x, want 0x%02x", what, code, want)
				}
				m.closedWith(what, 3*time.Second)
			}
		}
		// An empty client id asks the server for one; with a session to
		// keep (3.1.1 clean session 0) it is refused [MQTT-3.1.3-8]. MQTT
		// 5.0 assigns one (Assigned Client Identifier).
		what := mhVersion(v5) + " empty client id, clean session 0"
		o := mhConnect{v5: v5, user: "alice", password: "password-alice", keepalive: 30}
		m := mhDial(t, e.s, v5)
		m.put(o.encode())
		_, code, _ := m.expect(mhCONNACK, 5*time.Second).connack(t, v5)
		if !v5 {
			if code != 0x02 {
				t.Errorf("%s: CONNACK 0x%02x, want 0x02", what, code)
			}
			m.closedWith(what, 3*time.Second)
		} else {
			if code != 0 {
				t.Errorf("%s: CONNACK 0x%02x, want 0x00", what, code)
			}
			m.c.Close()
			mhWaitConns(t, e.s, 1)
		}
	}
	e.nothingLost()
}

// ---- M3 ----

// M3: a PUBLISH to a topic name with a wildcard, an empty topic without an
// alias, U+0000 or invalid UTF-8 ends the connection (5.0: DISCONNECT 0x81,
// 0x82 or 0x90 if one is sent) and nothing reaches anyone.
func TestMQTTHostileM3BadTopicNames(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	cases := []struct {
		topic string
		qos   byte
	}{
		{"IMS/p2p/bob+", 1}, {"IMS/p2p/+", 0}, {"IMS/p2p/#", 1}, {"#", 0}, {"", 1}, {"", 0},
		{"IMS/p2p/b\x00ob", 1}, {"IMS/p2p/\xc0\xaf", 1}, {"IMS/p2p/\xed\xa0\x80", 0}, {"IMS/p2p/bob\xff", 1},
	}
	for _, v5 := range []bool{false, true} {
		for i, c := range cases {
			what := fmt.Sprintf("%s PUBLISH QoS %d to %q", mhVersion(v5), c.qos, c.topic)
			// A device per case: the flapping ban counts a device's connects.
			alice := mhLogin(t, e.s, v5, "alice", fmt.Sprintf("m3@@@%s-%d", mhVersion(v5), i), true)
			alice.put(mhPublish(v5, mhPub{topic: c.topic, qos: c.qos, pid: uint16(c.qos) * 3, payload: "leak " + what}))
			alice.closedWith(what, 3*time.Second, 0x81, 0x82, 0x90)
		}
	}
	noMessage(t, e.bob, 300*time.Millisecond)
	e.nothingLost()
}

// ---- M4 ----

// M4: a Remaining Length of five bytes, or one declaring 200 MB, ends the
// connection at once, before anything is allocated for it. Not parallel:
// it measures the process's allocations.
func TestMQTTHostileM4RemainingLength(t *testing.T) {
	e := mhSetup(t, nil)
	goroutines := runtime.NumGoroutine()
	cases := []struct {
		name        string
		afterLogin  bool
		first, rest []byte
	}{
		{"5th length byte before CONNECT", false, []byte{0x10}, []byte{0xff, 0xff, 0xff, 0xff, 0x01}},
		{"5-byte zero length before CONNECT", false, []byte{0x10}, []byte{0x80, 0x80, 0x80, 0x80, 0x00}},
		{"endless length before CONNECT", false, []byte{0x10}, bytes.Repeat([]byte{0x80}, 64)},
		{"200 MB CONNECT", false, []byte{0x10}, append(mhVarint(200<<20), 0, 4, 'M', 'Q', 'T', 'T', 4)},
		{"5th length byte", true, []byte{0x30}, []byte{0xff, 0xff, 0xff, 0xff, 0x01}},
		{"5-byte zero length", true, []byte{0xc0}, []byte{0x80, 0x80, 0x80, 0x80, 0x00}},
		{"5-byte PUBLISH length", true, []byte{0x30}, []byte{0x8b, 0x80, 0x80, 0x80, 0x00}},
		{"endless length", true, []byte{0x30}, bytes.Repeat([]byte{0x80}, 64)},
		{"200 MB PUBLISH", true, []byte{0x32}, append(mhVarint(200<<20), mhStr("IMS/p2p/bob")...)},
		{"200 MB SUBSCRIBE", true, []byte{0x82}, append(mhVarint(200<<20), 0, 1)},
	}
	for _, v5 := range []bool{false, true} {
		for i, c := range cases {
			what := mhVersion(v5) + " " + c.name
			var m *mhConn
			if c.afterLogin {
				m = mhLogin(t, e.s, v5, "alice", fmt.Sprintf("m4@@@%s-%d", mhVersion(v5), i), true)
			} else {
				m = mhDial(t, e.s, v5)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_ = m.send(append(append([]byte{}, c.first...), c.rest...))
			// Promptly: well before the 2 s auth deadline or the 30 s
			// keepalive.
			// After CONNACK a 5.0 client is told why [MQTT-4.13.1-1].
			m.closedTold(what, c.afterLogin, 1500*time.Millisecond, 0x81, 0x95)
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 50<<20 {
				t.Errorf("%s: the process allocated %d MB meanwhile", what, d>>20)
			}
			t.Logf("%s: closed after %v, %d KB allocated meanwhile", what, time.Since(start).Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>10)
		}
	}
	mhWaitConns(t, e.s, 1)
	mhGoroutinesBack(t, goroutines)
	e.nothingLost()
}

// ---- M5 ----

// M5: a packet before CONNECT, a second CONNECT, protocol name MQTX and an
// unsupported protocol level end the connection (CONNACK 0x01 for the
// level).
func TestMQTTHostileM5ConnectSequence(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	login := mhConnect{clientID: "m5@@@d", user: "alice", password: "password-alice", clean: true, keepalive: 30}
	// Packets before CONNECT: closed without an answer.
	for name, pk := range map[string][]byte{
		"PINGREQ":    {mhPINGREQ << 4, 0},
		"SUBSCRIBE":  mhSubscribe(false, 1, "IMS/alice/Inbox/#"),
		"PUBLISH":    mhPublish(false, mhPub{topic: "IMS/p2p/bob", payload: "before connect"}),
		"DISCONNECT": {mhDISCONNECT << 4, 0},
		"CONNACK":    {mhCONNACK << 4, 2, 0, 0},
	} {
		m := mhDial(t, e.s, false)
		m.put(pk)
		m.closedWith(name+" before CONNECT", 1500*time.Millisecond)
	}
	// A second CONNECT on the same socket.
	for _, v5 := range []bool{false, true} {
		o := login
		o.v5 = v5
		m, code, _ := mhOpen(t, e.s, o)
		if code != 0 {
			t.Fatalf("connect: 0x%02x", code)
		}
		m.put(o.encode())
		m.closedWith(mhVersion(v5)+" second CONNECT", 3*time.Second, 0x82)
	}
	// Not MQTT: closed without a CONNACK [MQTT-3.1.2-1].
	for _, v5 := range []bool{false, true} {
		o := login
		o.v5, o.name = v5, "MQTX"
		m := mhDial(t, e.s, v5)
		m.put(o.encode())
		m.closedWith(mhVersion(v5)+" protocol name MQTX", 3*time.Second)
	}
	// An unsupported level: CONNACK 0x01 in the 3.1.1 form (which any
	// client can read), then closed [MQTT-3.1.2-2].
	for _, level := range []byte{0, 1, 2, 3, 6, 7, 255} {
		b := login.encode()
		if b[8] != 4 {
			t.Fatalf("protocol level not at byte 8: % x", b)
		}
		b[8] = level
		m := mhDial(t, e.s, false)
		m.put(b)
		p, err := m.read(3 * time.Second)
		if err != nil {
			t.Errorf("protocol level %d: no CONNACK: %v", level, err)
			continue
		}
		if p.typ != mhCONNACK || !bytes.Equal(p.body, []byte{0, 1}) {
			t.Errorf("protocol level %d: got %v, want CONNACK 0x01", level, p)
		}
		m.closedWith(fmt.Sprintf("protocol level %d", level), 3*time.Second)
	}
	noMessage(t, e.bob, 200*time.Millisecond)
	e.nothingLost()
}

// ---- M6 ----

// M6: wrong fixed-header flags, QoS 3, a packet id 0 where one is needed
// and a SUBSCRIBE without filters end the connection (5.0: 0x81 or 0x82 if
// a DISCONNECT is sent).
func TestMQTTHostileM6MalformedPackets(t *testing.T) {
	t.Parallel()
	// Each case connects a device of its own: more than the default cap.
	// 34 password CONNECTs: under the race detector on a loaded machine
	// one hash can take longer than the tests' 2 s auth deadline.
	e := mhSetup(t, func(c *config.Config) { c.Limits.DevicesPerUser, c.Timeouts.AuthDeadline = 64, 15*time.Second })
	for _, v5 := range []bool{false, true} {
		props := []byte(nil)
		if v5 {
			props = []byte{0}
		}
		sub := func(first byte, pid uint16, filters ...string) []byte {
			body := append(mhU16(pid), props...)
			for _, f := range filters {
				body = append(append(body, mhStr(f)...), 1)
			}
			return mhFrame(first, body)
		}
		cases := map[string][]byte{
			"SUBSCRIBE flags 0000":       sub(0x80, 1, "IMS/alice/Inbox/#"),
			"SUBSCRIBE flags 0011":       sub(0x83, 1, "IMS/alice/Inbox/#"),
			"SUBSCRIBE flags 1010":       sub(0x8a, 1, "IMS/alice/Inbox/#"),
			"PUBREL flags 0000":          mhFrame(0x60, mhU16(1)),
			"PUBREL flags 0100":          mhFrame(0x64, mhU16(1)),
			"UNSUBSCRIBE flags 0000":     mhFrame(0xa0, append(append(mhU16(1), props...), mhStr("IMS/alice/Inbox/#")...)),
			"PINGREQ flags 0001":         {0xc1, 0},
			"PUBLISH QoS 3":              mhFrame(0x36, append(append(mhStr("IMS/p2p/bob"), mhU16(1)...), append(props, "qos 3"...)...)),
			"PUBLISH QoS 1 packet id 0":  mhPublish(v5, mhPub{topic: "IMS/p2p/bob", qos: 1, payload: "pid 0"}),
			"PUBLISH QoS 2 packet id 0":  mhPublish(v5, mhPub{topic: "IMS/p2p/bob", qos: 2, payload: "pid 0"}),
			"PUBLISH QoS 0 with DUP":     mhFrame(0x38, append(mhStr("IMS/p2p/bob"), append(props, "dup"...)...)),
			"SUBSCRIBE without filters":  sub(0x82, 1),
			"SUBSCRIBE packet id 0":      sub(0x82, 0, "IMS/alice/Inbox/#"),
			"SUBSCRIBE QoS 3":            mhFrame(0x82, append(append(mhU16(1), props...), append(mhStr("IMS/alice/Inbox/#"), 3)...)),
			"SUBSCRIBE truncated filter": mhFrame(0x82, append(append(mhU16(1), props...), 0, 10, 'I', 'M')),
			"SUBSCRIBE without options":  mhFrame(0x82, append(append(mhU16(1), props...), mhStr("IMS/alice/Inbox/#")...)),
			"reserved packet type 0":     {0x00, 0},
			"packet type 15, empty":      {0xf0, 0},
		}
		i := 0
		for name, pk := range cases {
			what := mhVersion(v5) + " " + name
			i++
			alice := mhLogin(t, e.s, v5, "alice", fmt.Sprintf("m6@@@%s-%d", mhVersion(v5), i), true)
			alice.put(pk)
			alice.closedWith(what, 3*time.Second, 0x81, 0x82)
		}
	}
	noMessage(t, e.bob, 300*time.Millisecond)
	e.nothingLost()
}

// ---- M7 ----

// M7 (5.0): more QoS 2 publishes in flight than the advertised Receive
// Maximum get DISCONNECT 0x93; topic alias 0 or above the advertised
// maximum, 0x94; a packet over the advertised Maximum Packet Size ends the
// connection with DISCONNECT 0x95.
func TestMQTTHostileM7ReceiveMaximumAliasesPacketSize(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, func(c *config.Config) { c.MQTT.ReceiveMaximum = 8 })
	connect := func() (*mhConn, mhProps) {
		m, code, props := mhOpen(t, e.s, mhConnect{v5: true, clientID: "m7@@@d", user: "alice", password: "password-alice", clean: true, keepalive: 30})
		if code != 0 {
			t.Fatalf("connect: 0x%02x", code)
		}
		return m, props
	}

	alice, props := connect()
	rm, ok := props.u16(mhPropReceiveMaximum)
	if !ok || rm != 8 {
		t.Fatalf("CONNACK Receive Maximum %d (%v), want 8", rm, ok)
	}
	for i := 1; i <= int(rm); i++ {
		alice.put(mhPublish(true, mhPub{topic: "IMS/p2p/bob", qos: 2, pid: uint16(i), payload: fmt.Sprintf("qos2 %d", i)}))
		if pid, code, _ := alice.expect(mhPUBREC, 5*time.Second).ack(t); pid != uint16(i) || code != 0 {
			t.Fatalf("PUBREC %d 0x%02x, want %d 0x00", pid, code, i)
		}
	}
	alice.put(mhPublish(true, mhPub{topic: "IMS/p2p/bob", qos: 2, pid: rm + 1, payload: "one too many"}))
	if disc, others := alice.closed(3 * time.Second); disc == nil || len(disc.body) == 0 || disc.body[0] != 0x93 || len(others) > 0 {
		t.Fatalf("over the Receive Maximum: DISCONNECT %v, also %v; want 0x93", disc, others)
	}
	// The publishes within the window were stored, the one over it not.
	for _, m := range recv(t, e.bob, int(rm), 5*time.Second) {
		if m.From != "alice" || !strings.HasPrefix(m.Body, "qos2 ") {
			t.Fatalf("bob got %+v", m)
		}
	}
	noMessage(t, e.bob, 300*time.Millisecond)

	// Topic Alias Maximum: absent means 0, no aliases at all.
	m0, props := connect()
	m0.c.Close()
	tam, _ := props.u16(mhPropTopicAliasMax)
	for _, alias := range []uint16{0, tam + 1, 0xffff} {
		for _, topic := range []string{"IMS/p2p/bob", ""} {
			what := fmt.Sprintf("topic alias %d with topic %q", alias, topic)
			m, _ := connect()
			m.put(mhPublish(true, mhPub{topic: topic, props: mhPropU16(mhPropTopicAlias, alias), payload: "alias"}))
			if disc, _ := m.closed(3 * time.Second); disc == nil || len(disc.body) == 0 || (disc.body[0] != 0x94 && !(topic == "" && alias == 0 && disc.body[0] == 0x82)) {
				t.Errorf("%s: DISCONNECT %v, want 0x94", what, disc)
			}
		}
	}

	m, props := connect()
	maxSize, ok := props.u32(mhPropMaxPacketSize)
	if !ok || maxSize == 0 {
		t.Fatalf("CONNACK Maximum Packet Size %d (%v)", maxSize, ok)
	}
	// One byte over: the fixed header (1 + 3 bytes) and a body making it
	// max+1 bytes in all.
	body := int(maxSize) + 1 - 1 - len(mhVarint(int(maxSize)))
	pk := mhPublish(true, mhPub{topic: "IMS/p2p/bob", payload: strings.Repeat("x", body-len(mhStr("IMS/p2p/bob"))-1)})
	if len(pk) != int(maxSize)+1 {
		t.Fatalf("oversize packet is %d bytes, want %d", len(pk), maxSize+1)
	}
	go func() { _ = m.send(pk) }()
	m.closedTold("oversize PUBLISH", true, 3*time.Second, 0x95)
	// A packet of exactly the maximum is fine.
	m, _ = connect()
	pk = mhPublish(true, mhPub{topic: "IMS/p2p/bob", qos: 1, pid: 1, payload: strings.Repeat("y", int(maxSize)-1-len(mhVarint(int(maxSize)))-len(mhStr("IMS/p2p/bob"))-2-1)})
	if len(pk) != int(maxSize) {
		t.Fatalf("packet is %d bytes, want %d", len(pk), maxSize)
	}
	m.put(pk)
	// The packet is read; its body is over limits.max_message_bytes, which
	// the PUBACK reports (0x99) without storing it.
	if _, code, _ := m.expect(mhPUBACK, 5*time.Second).ack(t); code != 0x99 {
		t.Fatalf("PUBACK of a packet of the maximum size: 0x%02x, want 0x99", code)
	}
	m.c.Close()
	noMessage(t, e.bob, 300*time.Millisecond)
	e.nothingLost()
}

// ---- M8 ----

// M8: one SUBSCRIBE of 10,000 filters gets the per-session quota (128)
// granted and 0x97 for the rest (3.1.1: 0x80); a filter of 1,000 levels
// gets 0x8F (3.1.1: 0x80); the heap stays bounded. Not parallel: it
// measures the process's heap.
func TestMQTTHostileM8SubscriptionFlood(t *testing.T) {
	e := mhSetup(t, nil)
	filters := make([]string, 10000)
	for i := range filters {
		filters[i] = fmt.Sprintf("IMS/alice/Inbox/f%05d", i)
	}
	deep := "IMS/alice/" + strings.Repeat("l/", 997) + "x"
	goroutines := runtime.NumGoroutine()
	for _, v5 := range []bool{false, true} {
		quota, invalid := byte(0x80), byte(0x80)
		if v5 {
			quota, invalid = 0x97, 0x8F
		}
		alice := mhLogin(t, e.s, v5, "alice", "m8@@@"+mhVersion(v5), true)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		pk := mhSubscribe(v5, 7, filters...)
		if len(pk) > 256<<10 {
			t.Fatalf("SUBSCRIBE of %d bytes is over the packet limit", len(pk))
		}
		alice.put(pk)
		pid, codes := alice.expect(mhSUBACK, 10*time.Second).suback(t, v5)
		if pid != 7 || len(codes) != len(filters) {
			t.Fatalf("%s: SUBACK %d with %d codes", mhVersion(v5), pid, len(codes))
		}
		for i, c := range codes {
			if want := map[bool]byte{true: 1, false: quota}[i < 128]; c != want {
				t.Fatalf("%s: filter %d: 0x%02x, want 0x%02x", mhVersion(v5), i, c, want)
			}
		}
		alice.put(mhSubscribe(v5, 8, deep, filters[5], "IMS/alice/Inbox/#", filters[200]))
		if _, codes := alice.expect(mhSUBACK, 5*time.Second).suback(t, v5); !bytes.Equal(codes, []byte{invalid, 1, quota, quota}) {
			t.Fatalf("%s: SUBACK % x, want % x", mhVersion(v5), codes, []byte{invalid, 1, quota, quota})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		t.Logf("%s: heap %+d KB, %d KB allocated", mhVersion(v5), (int64(after.HeapAlloc)-int64(before.HeapAlloc))>>10, (after.TotalAlloc-before.TotalAlloc)>>10)
		if d := int64(after.HeapAlloc) - int64(before.HeapAlloc); d > 50<<20 {
			t.Errorf("%s: heap grew by %d MB", mhVersion(v5), d>>20)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 200<<20 {
			t.Errorf("%s: %d MB allocated for one SUBSCRIBE", mhVersion(v5), d>>20)
		}
		// The connection still works.
		alice.put([]byte{mhPINGREQ << 4, 0})
		alice.expect(13, 5*time.Second)
		alice.c.Close()
	}
	mhWaitConns(t, e.s, 1)
	mhGoroutinesBack(t, goroutines)
	e.nothingLost()
}

// ---- M9 ----

// M9: a will aimed at someone else's inbox, a group the user is not in or
// anything but a chat of the user's is refused at CONNECT (3.1.1: 0x05,
// 5.0: 0x87).
func TestMQTTHostileM9ForeignWill(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	g := e.group()
	for _, v5 := range []bool{false, true} {
		want := byte(0x05)
		if v5 {
			want = 0x87
		}
		for _, topic := range []string{"IMS/bob/Inbox/x", "IMS/bob/Inbox/Msg/" + e.before.Conv, "IMS/" + g + "/alice",
			"IMS/" + g + "/bob", "IMS/bob/Ack/" + e.before.Conv, "IMS/p2p/bob/x", "IMS/bob", "$SYS/x", "other/p2p/bob",
			"IMS/p2p/+", "IMS/p2p/#", "IMS/+/alice"} {
			what := fmt.Sprintf("%s will to %s", mhVersion(v5), topic)
			m, code, _ := mhOpen(t, e.s, mhConnect{v5: v5, clientID: "m9@@@d", user: "alice", password: "password-alice",
				clean: true, keepalive: 30, willTopic: topic, willPayload: "will of alice"})
			if code != want {
				t.Errorf("%s: CONNACK 0x%02x, want 0x%02x", what, code, want)
			}
			m.closedWith(what, 3*time.Second)
		}
	}
	noMessage(t, e.bob, 500*time.Millisecond)
	e.nothingLost()
}

// ---- M10 ----

// M10: 5.0 says Retain Available 0 and disconnects a retained PUBLISH with
// 0x9A; 3.1.1 ignores the retain flag: the message is an ordinary one and
// nothing is retained for later subscribers.
func TestMQTTHostileM10Retain(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	m, code, props := mhOpen(t, e.s, mhConnect{v5: true, clientID: "m10@@@d5", user: "alice", password: "password-alice", clean: true, keepalive: 30})
	if v, ok := props.vals[mhPropRetainAvailable]; code != 0 || !ok || !bytes.Equal(v, []byte{0}) {
		t.Fatalf("CONNACK 0x%02x, Retain Available %v (%v), want 0", code, v, ok)
	}
	m.put(mhPublish(true, mhPub{topic: "IMS/p2p/bob", qos: 1, pid: 1, retain: true, payload: "retained 5.0"}))
	if disc, others := m.closed(3 * time.Second); disc == nil || len(disc.body) == 0 || disc.body[0] != 0x9A || len(others) > 0 {
		t.Fatalf("retained PUBLISH: DISCONNECT %v, also %v; want 0x9A", disc, others)
	}
	// A 5.0 will with the retain flag: refused at CONNECT.
	m, code, _ = mhOpen(t, e.s, mhConnect{v5: true, clientID: "m10@@@d5", user: "alice", password: "password-alice", clean: true,
		keepalive: 30, willTopic: "IMS/p2p/bob", willPayload: "retained will", willRetain: true})
	if code != 0x9A {
		t.Fatalf("retained will: CONNACK 0x%02x, want 0x9A", code)
	}
	m.closedWith("retained will", 3*time.Second)
	noMessage(t, e.bob, 300*time.Millisecond)

	// 3.1.1: delivered as an ordinary message.
	alice := mhLogin(t, e.s, false, "alice", "m10@@@d3", true)
	alice.put(mhPublish(false, mhPub{topic: "IMS/p2p/bob", qos: 1, pid: 1, retain: true, payload: "retained 3.1.1"}))
	if pid, _, _ := alice.expect(mhPUBACK, 5*time.Second).ack(t); pid != 1 {
		t.Fatalf("PUBACK for packet id %d", pid)
	}
	if msg := recv(t, e.bob, 1, 5*time.Second)[0]; msg.Body != "retained 3.1.1" || msg.From != "alice" {
		t.Fatalf("bob got %+v", msg)
	}
	alice.c.Close()
	// A later subscriber gets nothing retained, on any filter it may use.
	for _, v5 := range []bool{false, true} {
		later := mhLogin(t, e.s, v5, "bob", "m10later@@@"+mhVersion(v5), true)
		later.put(mhSubscribe(v5, 1, "IMS/bob/Inbox/#", "IMS/p2p/bob", "IMS/p2p/#"))
		if _, codes := later.expect(mhSUBACK, 5*time.Second).suback(t, v5); codes[0] != 1 || codes[1] < 0x80 || codes[2] < 0x80 {
			t.Fatalf("%s: SUBACK % x", mhVersion(v5), codes)
		}
		later.noPublish(500 * time.Millisecond)
		later.c.Close()
	}
	e.nothingLost()
}

// ---- M11 ----

// M11: two clients fighting over one session: each takeover ends the older
// connection (5.0: DISCONNECT 0x8E); past 15 connects a minute the device
// is banned (5.0: CONNACK 0x9F, 3.1.1: 0x03); QoS 1 messages sent to the
// user meanwhile are delivered, each exactly once, on a later persistent
// reconnect.
func TestMQTTHostileM11TakeoverStorm(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, func(c *config.Config) { c.RateLimits.FlappingBan = 2 * time.Second })
	ctx := ctxT(t)
	tok := e.s.login("alice", "fight").Token
	fighter := func(v5 bool) (*mhConn, byte) {
		o := mhConnect{v5: v5, clientID: "fight", user: "alice", password: tok, keepalive: 30}
		if v5 {
			o.props = mhPropU32(mhPropSessionExpiry, 3600)
		}
		m, code, _ := mhOpen(t, e.s, o)
		return m, code
	}
	carol := e.s.mqttConnect("carol", "carol@@@pc", true)
	sent := 0
	send := func() {
		carol.publish("IMS/p2p/alice", 1, fmt.Sprintf("during the fight %02d", sent))
		sent++
	}

	cur, code := fighter(true)
	if code != 0 {
		t.Fatalf("first connect: 0x%02x", code)
	}
	cur.put(mhSubscribe(true, 1, "IMS/alice/Inbox/#"))
	if _, codes := cur.expect(mhSUBACK, 5*time.Second).suback(t, true); !bytes.Equal(codes, []byte{1}) {
		t.Fatalf("SUBACK % x", codes)
	}
	send()
	for i := 2; i <= 15; i++ {
		next, code := fighter(true)
		if code != 0 {
			t.Fatalf("connect %d: CONNACK 0x%02x", i, code)
		}
		if disc, _ := cur.closed(5 * time.Second); disc == nil || len(disc.body) == 0 || disc.body[0] != 0x8E {
			t.Fatalf("takeover %d: the older connection got DISCONNECT %v, want 0x8E", i, disc)
		}
		cur = next
		send()
	}
	// The 16th connect within the minute is refused, and so is any connect
	// while the ban lasts; the connection holding the session is left alone.
	for i := 0; i < 2; i++ {
		m, code := fighter(true)
		if code != 0x9F {
			t.Fatalf("connect while flapping: CONNACK 0x%02x, want 0x9F", code)
		}
		m.closedWith("connect while flapping", 3*time.Second)
		send()
	}
	cur.put([]byte{mhPINGREQ << 4, 0})
	cur.expect(13, 5*time.Second)
	cur.c.Close()
	for sent < 20 {
		send()
	}

	// The same in 3.1.1, on a device of its own: older connections are
	// closed (3.1.1 has no server DISCONNECT), then CONNACK 0x03.
	tok3 := e.s.login("alice", "fight3").Token
	var prev *mhConn
	for i := 1; i <= 16; i++ {
		m, code, _ := mhOpen(t, e.s, mhConnect{clientID: "fight3", user: "alice", password: tok3, keepalive: 30})
		want := byte(0)
		if i == 16 {
			want = 0x03
		}
		if code != want {
			t.Fatalf("3.1.1 connect %d: CONNACK 0x%02x, want 0x%02x", i, code, want)
		}
		if code != 0 {
			m.closedWith("3.1.1 connect while flapping", 3*time.Second)
			break
		}
		if prev != nil {
			prev.closedWith(fmt.Sprintf("3.1.1 takeover %d", i), 5*time.Second)
		}
		prev = m
	}
	prev.put([]byte{mhPINGREQ << 4, 0})
	prev.expect(13, 5*time.Second)
	prev.c.Close()

	// After the ban, the session resumes: every message once.
	var final *mhConn
	deadline := time.Now().Add(15 * time.Second)
	for final == nil {
		m, code := fighter(true)
		switch {
		case code == 0:
			final = m
		case code == 0x9F && time.Now().Before(deadline):
			m.c.Close()
			time.Sleep(200 * time.Millisecond)
		default:
			t.Fatalf("reconnect after the ban: CONNACK 0x%02x", code)
		}
	}
	seen := map[uint64]int{}
	var conv string
	collect := func(p mhPacket) {
		topic, pid, qos, _, payload := p.publish(t, true)
		var msg protocol.Message
		if err := json.Unmarshal(payload, &msg); err != nil {
			t.Fatalf("delivery on %s: %v", topic, err)
		}
		if msg.From != "carol" {
			t.Fatalf("unexpected delivery %+v", msg)
		}
		conv = msg.Conv
		seen[msg.Seq]++
		if qos > 0 {
			final.put(mhPuback(pid))
		}
	}
	for _, p := range final.pubs {
		collect(p)
	}
	final.pubs = nil
	until := time.Now().Add(10 * time.Second)
	for len(seen) < sent && time.Now().Before(until) {
		collect(final.expect(mhPUBLISH, time.Until(until)))
	}
	final.noPublish(500 * time.Millisecond)
	if len(seen) != sent {
		t.Fatalf("%d of %d messages delivered after the storm: %v", len(seen), sent, seen)
	}
	for seq, n := range seen {
		if n != 1 {
			t.Errorf("seq %d delivered %d times", seq, n)
		}
	}
	page, err := e.s.login("alice", "history").History(ctx, conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]int{}
	for _, m := range page.Messages {
		bodies[m.Body]++
	}
	if len(page.Messages) != sent || len(bodies) != sent {
		t.Fatalf("history has %d messages, %d distinct, want %d", len(page.Messages), len(bodies), sent)
	}
	final.put([]byte{mhDISCONNECT << 4, 0})
	final.closedWith("DISCONNECT", 3*time.Second)
	carol.c.Disconnect(50)
	e.nothingLost()
}

// ---- M12 ----

// M12: a QoS 1 PUBLISH whose socket dies before the PUBACK, re-sent with
// DUP and the same packet id on the resumed persistent session, is stored
// once.
func TestMQTTHostileM12DupAfterReconnect(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, nil)
	ctx := ctxT(t)
	hist := e.s.login("bob", "history")
	var conv string
	count := func(body string) int {
		page, err := hist.History(ctx, conv, parley.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range page.Messages {
			if m.Body == body {
				n++
			}
		}
		return n
	}
	_, err := e.s.login("alice", "web").Send(ctx, "", parley.SendOptions{To: "bob", Body: "hello bob"})
	if err != nil {
		t.Fatal(err)
	}
	conv = recv(t, e.bob, 1, 5*time.Second)[0].Conv
	for _, v5 := range []bool{false, true} {
		body := "once " + mhVersion(v5)
		pub := mhPub{topic: "IMS/p2p/bob", qos: 1, pid: 7, payload: body}
		m := mhLogin(t, e.s, v5, "alice", "m12@@@"+mhVersion(v5), false)
		m.put(mhPublish(v5, pub))
		m.c.Close() // before the PUBACK
		waitFor(t, "the first PUBLISH committed", 5*time.Second, func() bool { return count(body) > 0 })
		if msg := recv(t, e.bob, 1, 5*time.Second)[0]; msg.Body != body {
			t.Fatalf("bob got %+v", msg)
		}

		m = mhLogin(t, e.s, v5, "alice", "m12@@@"+mhVersion(v5), false)
		pub.dup = true
		m.put(mhPublish(v5, pub))
		pid, code, props := m.expect(mhPUBACK, 5*time.Second).ack(t)
		if pid != 7 || code != 0 {
			t.Fatalf("%s: PUBACK %d 0x%02x", mhVersion(v5), pid, code)
		}
		// The 5.0 PUBACK's user properties, if any, say the send was a
		// duplicate (ackProps).
		if len(props.user) > 0 && props.userProp("duplicate") != "true" {
			t.Errorf("5.0 PUBACK of the re-sent PUBLISH: user properties %v, want duplicate=true", props.user)
		}
		if n := count(body); n != 1 {
			t.Fatalf("%s: %d messages %q stored, want 1", mhVersion(v5), n, body)
		}
		noMessage(t, e.bob, 300*time.Millisecond)
		// The packet id is free again afterwards: a new PUBLISH (no DUP)
		// with it is a new message.
		pub.dup, pub.payload = false, body+" again"
		m.put(mhPublish(v5, pub))
		if pid, code, _ := m.expect(mhPUBACK, 5*time.Second).ack(t); pid != 7 || code != 0 {
			t.Fatalf("%s: PUBACK %d 0x%02x", mhVersion(v5), pid, code)
		}
		if msg := recv(t, e.bob, 1, 5*time.Second)[0]; msg.Body != body+" again" {
			t.Fatalf("bob got %+v", msg)
		}
		m.put([]byte{mhDISCONNECT << 4, 0})
		m.closedWith("DISCONNECT", 3*time.Second)
	}
	e.nothingLost()
}

// ---- M13 ----

// mhClose is how a watched connection ended.
type mhClose struct {
	at     time.Time
	disc   *mhPacket
	others []mhPacket
	open   bool // still open at the watch's deadline
}

// watchClose reads m in the background until the server ends it or
// timeout passes. The caller does not use m meanwhile.
func (m *mhConn) watchClose(timeout time.Duration) <-chan mhClose {
	ch := make(chan mhClose, 1)
	deadline := time.Now().Add(timeout)
	go func() {
		var r mhClose
		for {
			p, err := m.read(time.Until(deadline))
			if err != nil {
				var ne net.Error
				r.at, r.open = time.Now(), errors.As(err, &ne) && ne.Timeout()
				ch <- r
				return
			}
			switch p.typ {
			case mhDISCONNECT:
				d := p
				r.disc = &d
			case mhPUBLISH:
			default:
				r.others = append(r.others, p)
			}
		}
	}()
	return ch
}

// M13: a silent client is disconnected after 1.5 times its keepalive; one
// asking for none (or too long a one) is held to the server's (5.0: told
// in CONNACK Server Keep Alive); the will of a client that vanishes is
// delivered as its user's message, the will of one that says DISCONNECT is
// not.
func TestMQTTHostileM13KeepAliveAndWill(t *testing.T) {
	t.Parallel()
	e := mhSetup(t, func(c *config.Config) { c.MQTT.KeepAlive = 2 * time.Second })
	type silent struct {
		what      string
		v5        bool
		keepalive time.Duration
		start     time.Time
		closed    <-chan mhClose
	}
	var watched []silent
	watch := func(what string, m *mhConn, keepalive time.Duration) {
		watched = append(watched, silent{what, m.v5, keepalive, time.Now(), m.watchClose(keepalive*3/2 + 3*time.Second)})
	}
	var wills []string
	for _, v5 := range []bool{false, true} {
		for i, ka := range []uint16{2, 0, 400} {
			what := fmt.Sprintf("%s keepalive %d", mhVersion(v5), ka)
			m, code, props := mhOpen(t, e.s, mhConnect{v5: v5, clientID: fmt.Sprintf("m13@@@%s-ka%d", mhVersion(v5), i), user: "alice",
				password: "password-alice", clean: true, keepalive: ka})
			if code != 0 {
				t.Fatalf("%s: CONNACK 0x%02x", what, code)
			}
			// 5.0 is told the server's keepalive when it is imposed.
			ska, told := props.u16(mhPropServerKeepAlive)
			if v5 && ka != 2 && (!told || ska != 2) {
				t.Errorf("%s: CONNACK Server Keep Alive %d (%v), want 2", what, ska, told)
			}
			if v5 && ka == 2 && told && ska != 2 {
				t.Errorf("%s: CONNACK Server Keep Alive %d", what, ska)
			}
			watch(what, m, 2*time.Second)
		}
		// Wills: of a client that goes silent, one whose socket just
		// closes, and one that says DISCONNECT (no will).
		for _, how := range []string{"silent", "socket closed", "DISCONNECT"} {
			what := mhVersion(v5) + " will, " + how
			body := "will of alice, " + what
			m, code, _ := mhOpen(t, e.s, mhConnect{v5: v5, clientID: "m13@@@" + mhVersion(v5) + "-" + strings.ReplaceAll(how, " ", "-"), user: "alice",
				password: "password-alice", clean: true, keepalive: 2, willTopic: "IMS/p2p/bob", willPayload: body})
			if code != 0 {
				t.Fatalf("%s: CONNACK 0x%02x", what, code)
			}
			switch how {
			case "silent":
				watch(what, m, 2*time.Second)
				wills = append(wills, body)
			case "socket closed":
				m.c.Close()
				wills = append(wills, body)
			case "DISCONNECT":
				m.put([]byte{mhDISCONNECT << 4, 0})
				m.closedWith(what, 3*time.Second)
			}
		}
	}
	if !testing.Short() {
		// The row's own numbers: keepalive 10, closed by 15 s.
		m, _, _ := mhOpen(t, e.s, mhConnect{v5: true, clientID: "m13@@@ten", user: "alice", password: "password-alice", clean: true, keepalive: 10})
		watch("5.0 keepalive 10", m, 10*time.Second)
	}
	for _, w := range watched {
		r := <-w.closed
		took := r.at.Sub(w.start)
		switch {
		case r.open:
			t.Errorf("%s: still open after %v", w.what, took)
		case took < w.keepalive*3/2-500*time.Millisecond:
			t.Errorf("%s: closed after %v, before 1.5 × %v", w.what, took, w.keepalive)
		case len(r.others) > 0 || (r.disc != nil && (!w.v5 || len(r.disc.body) == 0 || r.disc.body[0] != 0x8D)):
			t.Errorf("%s: got %v and DISCONNECT %v before the close", w.what, r.others, r.disc)
		}
		t.Logf("%s: closed after %v", w.what, took.Round(time.Millisecond))
	}
	got := map[string]bool{}
	for _, m := range recv(t, e.bob, len(wills), 5*time.Second) {
		if m.From != "alice" {
			t.Fatalf("bob got %+v", m)
		}
		got[m.Body] = true
	}
	for _, w := range wills {
		if !got[w] {
			t.Errorf("will %q not delivered; got %v", w, got)
		}
	}
	noMessage(t, e.bob, 300*time.Millisecond)
	e.nothingLost()
}

package e2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

// q2conn is a minimal MQTT 3.1.1 client speaking raw packets, so a test
// can re-send a QoS 2 PUBLISH before PUBREL and drop the socket at will.
type q2conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func q2str(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// q2dial connects user with clientID and a persistent session.
func q2dial(t *testing.T, addr, user, clientID string) *q2conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	body := append(q2str("MQTT"), 4, 0x80|0x40, 0, 30) // level 4; user name, password; clean 0; keepalive 30
	body = append(body, q2str(clientID)...)
	body = append(body, q2str(user)...)
	body = append(body, q2str("password-"+user)...)
	q := &q2conn{t: t, c: c, r: bufio.NewReader(c)}
	q.write(mhFrame(0x10, body))
	if typ, b := q.read(); typ != 0x20 || len(b) != 2 || b[1] != 0 {
		t.Fatalf("CONNACK %x %x", typ, b)
	}
	return q
}

func (q *q2conn) write(b []byte) {
	q.t.Helper()
	if _, err := q.c.Write(b); err != nil {
		q.t.Fatal(err)
	}
}

// read returns the next packet's first byte and body.
func (q *q2conn) read() (byte, []byte) {
	q.t.Helper()
	_ = q.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	first, err := q.r.ReadByte()
	if err != nil {
		q.t.Fatalf("read: %v", err)
	}
	n, mult := 0, 1
	for {
		d, err := q.r.ReadByte()
		if err != nil {
			q.t.Fatal(err)
		}
		n += int(d&0x7f) * mult
		if d&0x80 == 0 {
			break
		}
		mult *= 128
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(q.r, b); err != nil {
		q.t.Fatal(err)
	}
	return first, b
}

// publish2 sends a QoS 2 PUBLISH (dup: re-send) and expects its PUBREC.
func (q *q2conn) publish2(topic string, pid uint16, payload string, dup bool) {
	q.t.Helper()
	first := byte(0x34)
	if dup {
		first |= 0x08
	}
	body := append(q2str(topic), byte(pid>>8), byte(pid))
	q.write(mhFrame(first, append(body, payload...)))
	q.expect(0x50, pid)
}

// expect reads packets until one of type first for pid arrives.
func (q *q2conn) expect(first byte, pid uint16) {
	q.t.Helper()
	for range 16 {
		typ, b := q.read()
		if typ == first && len(b) >= 2 && binary.BigEndian.Uint16(b) == pid {
			return
		}
	}
	q.t.Fatalf("no packet 0x%02x for id %d", first, pid)
}

func (q *q2conn) release(pid uint16) {
	q.t.Helper()
	q.write([]byte{0x62, 2, byte(pid >> 8), byte(pid)})
	q.expect(0x70, pid)
}

// TestMQTTQoS2ExactlyOnceWithoutClientMsgID: a QoS 2 PUBLISH without a
// client message id is stored once however often it is re-sent before
// PUBREL, across a dropped socket and a server restart; after PUBREL the
// packet id names a new message (DESIGN.md §2.1).
func TestMQTTQoS2ExactlyOnceWithoutClientMsgID(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	q := q2dial(t, s.app.MQTTAddr(), "alice", "q2dev")
	q.publish2("IMS/p2p/bob", 7, "once", false)
	q.publish2("IMS/p2p/bob", 7, "once", true)
	q.c.Close() // before PUBREL

	q = q2dial(t, s.app.MQTTAddr(), "alice", "q2dev")
	q.publish2("IMS/p2p/bob", 7, "once", true)
	q.c.Close()

	s.stop()
	s = startWith(t, s.cfg)
	q = q2dial(t, s.app.MQTTAddr(), "alice", "q2dev")
	q.publish2("IMS/p2p/bob", 7, "once", true)
	q.release(7)
	q.publish2("IMS/p2p/bob", 7, "second", false)
	q.release(7)

	api := s.login("bob", "web")
	conv, err := api.Direct(ctxT(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	page, err := api.History(ctxT(t), conv.ID, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range page.Messages {
		bodies = append(bodies, m.Body)
	}
	if !slices.Equal(bodies, []string{"once", "second"}) {
		t.Fatalf("stored %q, want [once second]", bodies)
	}
}

// TestMQTTQoS2ReleaseKeepsClientMsgID: the client_msg_id a QoS 2 message
// without one is delivered with is the one history shows, before and after
// its PUBREL; the released packet id then names a new message with an id
// of its own, and neither id changes afterwards.
func TestMQTTQoS2ReleaseKeepsClientMsgID(t *testing.T) {
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	bob := s.dial("bob", "phone")
	q := q2dial(t, s.app.MQTTAddr(), "alice", "q2dev")
	api := s.login("bob", "web")
	conv, err := api.Direct(ctxT(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	stored := func() []string {
		t.Helper()
		page, err := api.History(ctxT(t), conv.ID, parley.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Messages {
			ids = append(ids, m.ClientMsgID)
		}
		return ids
	}

	q.publish2("IMS/p2p/bob", 9, "first", false)
	first := recv(t, bob, 1, 5*time.Second)[0]
	if first.Body != "first" || first.ClientMsgID == "" {
		t.Fatalf("bob got %+v", first)
	}
	if ids := stored(); !slices.Equal(ids, []string{first.ClientMsgID}) {
		t.Fatalf("before PUBREL history has %q, delivered %q", ids, first.ClientMsgID)
	}
	q.release(9)
	if ids := stored(); !slices.Equal(ids, []string{first.ClientMsgID}) {
		t.Fatalf("after PUBREL history has %q, delivered %q", ids, first.ClientMsgID)
	}

	q.publish2("IMS/p2p/bob", 9, "second", false)
	q.publish2("IMS/p2p/bob", 9, "second", true) // before its PUBREL: the same message
	second := recv(t, bob, 1, 5*time.Second)[0]
	if second.Body != "second" || second.ClientMsgID == "" || second.ClientMsgID == first.ClientMsgID {
		t.Fatalf("bob got %+v after %+v", second, first)
	}
	q.release(9)
	if ids := stored(); !slices.Equal(ids, []string{first.ClientMsgID, second.ClientMsgID}) {
		t.Fatalf("history has %q, delivered %q and %q", ids, first.ClientMsgID, second.ClientMsgID)
	}
}

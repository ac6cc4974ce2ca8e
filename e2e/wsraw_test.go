package e2e

// A hand-made WebSocket client for the hostile tests (hostile_ws_test.go).
// It does the HTTP upgrade itself over a net.Conn and writes frames byte by
// byte, so it can send what no WebSocket library would: unmasked frames,
// RSV bits, reserved opcodes, bad close payloads, oversized and fragmented
// control frames, continuation frames out of place.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	wsrCont   = 0x0
	wsrText   = 0x1
	wsrBinary = 0x2
	wsrClose  = 0x8
	wsrPing   = 0x9
	wsrPong   = 0xA
)

// wsrTimeout bounds every read of a raw connection.
const wsrTimeout = 10 * time.Second

// wsrConn is a raw client connection. After a successful upgrade a reader
// goroutine answers the server's pings (so a connection the test is not
// reading from is not closed as vanished) and queues every other frame.
type wsrConn struct {
	t      *testing.T
	c      net.Conn
	br     *bufio.Reader
	in     chan wsrItem
	done   chan struct{}
	err    error // the read error, once read returned it
	strict bool  // next fails on a pushed msg, page or typing frame
}

// wsrItem is a frame or the read error that ended the reader.
type wsrItem struct {
	f   wsrFrame
	err error
}

// wsrFrame is a frame read from the server.
type wsrFrame struct {
	Fin     bool
	Opcode  byte
	Payload []byte
}

// wsrHeaders are the headers of a valid upgrade request.
func wsrHeaders(host string) http.Header {
	key := make([]byte, 16)
	rand.Read(key)
	return http.Header{
		"Host":                  {host},
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {base64.StdEncoding.EncodeToString(key)},
		"Sec-Websocket-Version": {"13"},
	}
}

// wsrHandshake sends an upgrade request for /v1/ws, with the headers of a
// valid one changed by mutate, and returns the response and the connection
// (closed at the end of the test).
func wsrHandshake(t *testing.T, s *server, mutate func(http.Header)) (*wsrConn, *http.Response) {
	t.Helper()
	return wsrHandshakeFrom(t, s, "", mutate)
}

// wsrHandshakeFrom is wsrHandshake from the local address ip ("" for any);
// it skips the test where ip cannot be bound.
func wsrHandshakeFrom(t *testing.T, s *server, ip string, mutate func(http.Header)) (*wsrConn, *http.Response) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return wsrHandshakeWith(t, s, d, mutate, true)
}

// wsrHandshakeWith is wsrHandshake through the dialer d; without
// startReader nothing reads the socket until the test calls readFrame or
// starts the reader itself.
func wsrHandshakeWith(t *testing.T, s *server, d *net.Dialer, mutate func(http.Header), startReader bool) (*wsrConn, *http.Response) {
	t.Helper()
	c, err := d.Dial("tcp", s.app.Addr())
	if err != nil {
		if strings.Contains(err.Error(), "assign requested address") {
			t.Skipf("cannot bind %v on this system: %v", d.LocalAddr, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := wsrHeaders(s.app.Addr())
	if mutate != nil {
		mutate(h)
	}
	var b strings.Builder
	b.WriteString("GET /v1/ws HTTP/1.1\r\n")
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	c.SetDeadline(time.Now().Add(wsrTimeout))
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade response: %v", err)
	}
	c.SetDeadline(time.Time{})
	wc := &wsrConn{t: t, c: c, br: br, in: make(chan wsrItem, 1024), done: make(chan struct{})}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		sum := sha1.Sum([]byte(h.Get("Sec-Websocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		if got := resp.Header.Get("Sec-Websocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Fatalf("Sec-WebSocket-Accept %q does not match the key", got)
		}
		t.Cleanup(func() { close(wc.done) })
		if startReader {
			go wc.reader()
		}
	}
	return wc, resp
}

// reader reads the server's frames until an error, answering pings.
func (c *wsrConn) reader() {
	for {
		f, err := c.readFrame()
		if err == nil && f.Opcode == wsrPing {
			c.raw(wsrFrameBytes(true, 0, wsrPong, true, f.Payload))
			continue
		}
		select {
		case c.in <- wsrItem{f, err}:
		case <-c.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// wsrDial opens a raw WebSocket connection (not yet authenticated).
func wsrDial(t *testing.T, s *server) *wsrConn {
	t.Helper()
	c, resp := wsrHandshake(t, s, nil)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	return c
}

// wsrLogin opens a raw connection authenticated as user's device (the
// user must exist), after the hello reply.
func wsrLogin(t *testing.T, s *server, user, device string) *wsrConn {
	t.Helper()
	c := wsrDial(t, s)
	c.hello(s.login(user, device).Token)
	return c
}

// wsrFrameBytes encodes a client frame: rsv holds the RSV1-3 bits
// (0x40, 0x20, 0x10); mask false leaves it unmasked, as no client may.
func wsrFrameBytes(fin bool, rsv, opcode byte, mask bool, payload []byte) []byte {
	b0 := rsv&0x70 | opcode&0x0f
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, m|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, m|127), uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

// raw writes bytes as they are; the error is returned, not fatal, since a
// hostile test may write to a connection the server already closed.
func (c *wsrConn) raw(b []byte) error {
	c.c.SetWriteDeadline(time.Now().Add(wsrTimeout))
	_, err := c.c.Write(b)
	return err
}

// frame writes one frame and fails the test if it cannot.
func (c *wsrConn) frame(fin bool, rsv, opcode byte, mask bool, payload []byte) {
	c.t.Helper()
	if err := c.raw(wsrFrameBytes(fin, rsv, opcode, mask, payload)); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

// text writes a masked text frame.
func (c *wsrConn) text(s string) { c.t.Helper(); c.frame(true, 0, wsrText, true, []byte(s)) }

// send writes req as a JSON text frame.
func (c *wsrConn) send(req any) {
	c.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.text(string(b))
}

// read returns the next frame from the server other than a ping.
func (c *wsrConn) read() (wsrFrame, error) {
	if c.err != nil {
		return wsrFrame{}, c.err
	}
	select {
	case it := <-c.in:
		c.err = it.err
		return it.f, it.err
	case <-time.After(wsrTimeout):
		return wsrFrame{}, fmt.Errorf("no frame from the server within %v", wsrTimeout)
	}
}

// readFrame reads one frame from the socket; a server frame must be
// unmasked and without RSV bits.
func (c *wsrConn) readFrame() (wsrFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return wsrFrame{}, err
	}
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return wsrFrame{}, fmt.Errorf("server frame with RSV bits or a mask: % x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wsrFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wsrFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 16<<20 {
		return wsrFrame{}, fmt.Errorf("server frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return wsrFrame{}, err
	}
	return wsrFrame{Fin: h[0]&0x80 != 0, Opcode: h[0] & 0x0f, Payload: p}, nil
}

// next returns the next JSON frame from the server; a close frame or a
// read error fails the test.
func (c *wsrConn) next() protocol.Frame {
	c.t.Helper()
	for {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		switch f.Opcode {
		case wsrText:
			var pf protocol.Frame
			if err := json.Unmarshal(f.Payload, &pf); err != nil {
				c.t.Fatalf("server frame is not JSON: %q", f.Payload)
			}
			if c.strict && pf.ID == "" && (pf.Type == protocol.TypeMsg || pf.Type == protocol.TypePage || pf.Type == protocol.TypeTyping) {
				c.t.Fatalf("pushed: %s", f.Payload)
			}
			return pf
		case wsrClose:
			code, reason := wsrCloseCode(f.Payload)
			c.t.Fatalf("closed by the server: %d %q", code, reason)
		default:
			c.t.Fatalf("unexpected server frame opcode %#x", f.Opcode)
		}
	}
}

// reply returns the server's answer to request id, skipping pushes.
func (c *wsrConn) reply(id string) protocol.Frame {
	c.t.Helper()
	for {
		if f := c.next(); f.ID == id {
			return f
		}
	}
}

// call sends req (whose ID must be set) and returns the reply.
func (c *wsrConn) call(req protocol.Request) protocol.Frame {
	c.t.Helper()
	c.send(req)
	return c.reply(req.ID)
}

// hello authenticates and waits for the ok.
func (c *wsrConn) hello(token string) {
	c.t.Helper()
	if f := c.call(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: token}); f.Type != protocol.TypeOK {
		c.t.Fatalf("hello: %+v", f)
	}
}

// resume starts the delivery of messages and waits for the end of the
// resume stream.
func (c *wsrConn) resume() {
	c.t.Helper()
	if f := c.call(protocol.Request{ID: "resume", Op: protocol.OpResume}); f.Type != protocol.TypeResumed {
		c.t.Fatalf("resume: %+v", f)
	}
}

// wsrCloseCode decodes a close frame's payload.
func wsrCloseCode(p []byte) (int, string) {
	if len(p) < 2 {
		return 1005, ""
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}

// closed reads until the server's close frame, which must carry code,
// answers it as RFC 6455 asks, and checks that the server then ends the
// TCP connection. It returns the frames read before the close and the
// close reason.
func (c *wsrConn) closed(code int) ([]wsrFrame, string) {
	c.t.Helper()
	var before []wsrFrame
	for {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("reading to the close frame (want %d): %v after %d frames", code, err, len(before))
		}
		if f.Opcode != wsrClose {
			before = append(before, f)
			continue
		}
		got, reason := wsrCloseCode(f.Payload)
		if got != code {
			c.t.Fatalf("closed with %d %q, want %d", got, reason, code)
		}
		c.raw(wsrFrameBytes(true, 0, wsrClose, true, f.Payload[:min(2, len(f.Payload))]))
		c.ended()
		return before, reason
	}
}

// ended checks that the server closes the TCP connection, discarding
// whatever else it sends.
func (c *wsrConn) ended() {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
			c.t.Fatalf("the server did not end the TCP connection: %v", err)
		}
		return
	}
}

// bye closes the connection normally (1000) and waits until it ended.
func (c *wsrConn) bye() {
	c.t.Helper()
	c.frame(true, 0, wsrClose, true, []byte{0x03, 0xe8})
	c.closed(1000)
}

// wsrWitness is what "nothing lost" is checked against: alice stays
// connected (over the SDK) through a hostile test, and a message she sent
// to bob, offline, was acknowledged before it.
type wsrWitness struct {
	s      *server
	alice  *parley.Client
	before protocol.Ack
}

// witness creates alice and bob and sends the message acknowledged before
// the hostile part of a test.
func witness(t *testing.T, s *server) *wsrWitness {
	t.Helper()
	s.user("alice")
	s.user("bob")
	alice := s.dial("alice", "phone")
	ack, err := alice.Send(ctxT(t), parley.SendOptions{To: "bob", Body: "acked before"})
	if err != nil {
		t.Fatal(err)
	}
	return &wsrWitness{s: s, alice: alice, before: ack}
}

// check verifies that nothing was lost: alice's connection was never
// interrupted and she can still send; bob, connecting now, gets what was
// acknowledged before and after, in seq order; and of the hostile
// connections nothing stays attached.
func (w *wsrWitness) check(t *testing.T) {
	t.Helper()
	if err := w.alice.Err(); err != nil {
		t.Fatalf("alice's connection was interrupted: %v", err)
	}
	after, err := w.alice.Send(ctxT(t), parley.SendOptions{To: "bob", Body: "acked after"})
	if err != nil {
		t.Fatalf("alice cannot send after the hostile part: %v", err)
	}
	bob := w.s.dial("bob", "phone")
	var got []protocol.Message // of alice's conversation with bob; others may be resumed too
	for len(got) < 2 {
		if m := recv(t, bob, 1, 10*time.Second)[0]; m.Conv == w.before.Conv {
			got = append(got, m)
		}
	}
	if got[0].ID != w.before.ID || got[0].Seq != w.before.Seq || got[1].ID != after.ID || got[1].Seq != w.before.Seq+1 {
		t.Fatalf("bob got %+v, want seq %d then %d", got, w.before.Seq, w.before.Seq+1)
	}
	core := w.s.app.Core()
	waitFor(t, "only alice and bob to stay attached", 10*time.Second, func() bool { return core.Online() == 2 })
}

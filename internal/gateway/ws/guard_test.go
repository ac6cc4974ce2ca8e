package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coder/websocket"
)

// frame encodes one WebSocket frame as a client would (mask true) or as
// a broken client might.
func frame(fin bool, opcode byte, mask bool, payload []byte) []byte {
	var b []byte
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	b = append(b, b0)
	var mbit byte
	if mask {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mbit|byte(n))
	case n <= 0xffff:
		b = append(b, mbit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// readerConn is a net.Conn whose reads come from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

var testGuardOptions = guardOptions{pingRate: 2, pingBurst: 3}

// drain reads everything the guard passes, in reads of the given size.
func drain(g *frameGuard, size int) ([]byte, error) {
	var out []byte
	buf := make([]byte, size)
	for {
		n, err := g.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

func TestGuardPassesValidStreamsUnchanged(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 70_000)
	var stream []byte
	for _, f := range [][]byte{
		frame(true, 0x1, true, []byte(`{"op":"ping"}`)),
		frame(false, 0x1, true, []byte(`{"op":`)),
		frame(true, 0x9, true, []byte("in the middle")), // a ping between fragments
		frame(false, 0x0, true, nil),
		frame(true, 0x0, true, []byte(`"ping"}`)),
		frame(true, 0x1, true, big), // 64-bit length
		frame(true, 0x1, true, big[:300]),
		frame(true, 0xA, true, []byte("unsolicited pong")),
		frame(true, 0x9, true, bytes.Repeat([]byte("p"), maxControlPayload)),
		frame(true, 0x8, true, closePayload(1000, "bye – ok")),
	} {
		stream = append(stream, f...)
	}
	for _, tc := range []struct {
		name     string
		buffered int // bytes the HTTP server had buffered
		src      func(io.Reader) io.Reader
		size     int
	}{
		{"whole reads", 0, func(r io.Reader) io.Reader { return r }, 4096},
		{"one byte at a time from the socket", 0, iotest.OneByteReader, 4096},
		{"one byte at a time to the library", 0, func(r io.Reader) io.Reader { return r }, 1},
		{"half reads", 0, iotest.HalfReader, 7},
		{"buffered by the HTTP server", 1000, iotest.HalfReader, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFrameGuard(readerConn{r: tc.src(bytes.NewReader(stream[tc.buffered:]))}, stream[:tc.buffered], testGuardOptions)
			got, err := drain(g, tc.size)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("err = %v, want EOF", err)
			}
			if !bytes.Equal(got, stream) {
				t.Fatalf("passed %d bytes, want the %d bytes of the stream unchanged", len(got), len(stream))
			}
		})
	}
}

func TestGuardRefuses(t *testing.T) {
	t.Parallel()
	ok := frame(true, 0x1, true, []byte(`{"op":"ping"}`))
	long := frame(true, 0x2, true, make([]byte, 1000))
	huge := frame(true, 0x2, true, nil)[:2]
	huge[1] = 0x80 | 127
	huge = binary.BigEndian.AppendUint64(huge, 1<<63)
	huge = append(huge, 1, 2, 3, 4)
	pings := func(n int) []byte {
		var b []byte
		for range n {
			b = append(b, frame(true, 0x9, true, []byte("p"))...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		good []byte // passed through before the refusal
		bad  []byte
		code websocket.StatusCode
	}{
		{"unmasked text", ok, frame(true, 0x1, false, []byte(`{"op":"ping"}`)), websocket.StatusProtocolError},
		{"unmasked first frame", nil, frame(true, 0x1, false, nil), websocket.StatusProtocolError},
		{"unmasked continuation", frame(false, 0x1, true, []byte("{")), frame(true, 0x0, false, []byte("}")), websocket.StatusProtocolError},
		{"unmasked after a long payload", long, frame(true, 0x9, false, nil), websocket.StatusProtocolError},
		{"unmasked close", ok, frame(true, 0x8, false, closePayload(1000, "")), websocket.StatusProtocolError},
		{"length with the top bit set", ok, huge, websocket.StatusProtocolError},
		{"close reason not UTF-8", ok, frame(true, 0x8, true, closePayload(1000, "\xce\xba\xe1\xbd")), websocket.StatusProtocolError},
		{"close reason overlong", nil, frame(true, 0x8, true, closePayload(1001, "\xc0\xaf")), websocket.StatusProtocolError},
		{"close reason surrogate", nil, frame(true, 0x8, true, closePayload(1000, "ok \xed\xa0\x80")), websocket.StatusProtocolError},
		{"ping flood", pings(3), pings(1), websocket.StatusPolicyViolation},
		{"ping flood after data", append(append([]byte{}, ok...), pings(3)...), pings(5), websocket.StatusPolicyViolation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stream := append(append(append([]byte{}, tc.good...), tc.bad...), ok...)
			for _, src := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader} {
				g := newFrameGuard(readerConn{r: src(bytes.NewReader(stream))}, nil, testGuardOptions)
				now := time.Unix(1e9, 0)
				g.now = func() time.Time { return now } // no refill
				got, err := drain(g, 4096)
				var fe *frameError
				if !errors.As(err, &fe) || fe.Code != tc.code || fe.Reason == "" {
					t.Fatalf("err = %v, want a frameError %d", err, tc.code)
				}
				if !bytes.Equal(got, tc.good) {
					t.Fatalf("passed %d bytes, want exactly the %d before the refused frame", len(got), len(tc.good))
				}
				if n, err2 := g.Read(make([]byte, 10)); n != 0 || err2 != err {
					t.Fatalf("read after the refusal: %d, %v", n, err2)
				}
			}
		})
	}
}

func TestGuardPingRateRefills(t *testing.T) {
	t.Parallel()
	g := newFrameGuard(readerConn{}, nil, guardOptions{pingRate: 2, pingBurst: 3})
	now := time.Unix(1e9, 0)
	g.now = func() time.Time { return now }
	for i := range 3 {
		if !g.allowPing() {
			t.Fatalf("ping %d of the burst refused", i+1)
		}
	}
	if g.allowPing() {
		t.Fatal("ping beyond the burst allowed")
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if !g.allowPing() || g.allowPing() {
		t.Fatal("want exactly one ping after half a second")
	}
	now = now.Add(time.Hour) // refills to the burst, no further
	for i := range 3 {
		if !g.allowPing() {
			t.Fatalf("ping %d after an hour refused", i+1)
		}
	}
	if g.allowPing() {
		t.Fatal("the bucket grew beyond the burst")
	}
}

// TestGuardStop: stop fails a read in progress and every later one, so a
// failed connection's close handshake never waits on the client.
func TestGuardStop(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe()
	defer client.Close()
	defer server.Close()
	g := newFrameGuard(server, frame(true, 0x1, true, []byte("hi")), testGuardOptions)
	buf := make([]byte, 100)
	if n, err := g.Read(buf); err != nil || n != 8 {
		t.Fatalf("buffered frame: %d %v", n, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := g.Read(buf) // blocks: the client sends nothing
		errc <- err
	}()
	g.stop()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("blocked read returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not wake the blocked read")
	}
	go client.Write(frame(true, 0x1, true, []byte("more")))
	if _, err := g.Read(buf); !errors.Is(err, errStopped) {
		t.Fatalf("read after stop: %v", err)
	}
}

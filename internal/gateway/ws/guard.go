package ws

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/internal/gateway/cork"
)

// The WebSocket library enforces most of RFC 6455 on what a client sends
// (reserved bits and opcodes, control frame length and fragmentation,
// continuation order, close codes) and answers a violation with close 1002.
// A few rules it leaves to the application, and frameGuard keeps them, on
// the raw byte stream before the library reads it:
//
//   - a client frame must be masked (RFC 6455 §5.1): the library refuses an
//     unmasked frame but closes without telling the client why;
//   - a 64-bit payload length must have its top bit clear (§5.2): likewise;
//   - the reason of a close frame must be UTF-8 (§5.5.1, §8.1): the library
//     does not check it and echoes it back;
//   - pings are answered at a bounded rate (BAD_INPUTS W10): the library
//     answers every ping with a pong.
//
// The guard passes the stream through unchanged up to the first frame that
// breaks a rule; the reader then gets a *frameError, and the session closes
// with its code. The frame itself never reaches the library.

// frameError is a rule broken by the client's frames.
type frameError struct {
	Code   websocket.StatusCode
	Reason string
}

func (e *frameError) Error() string {
	return fmt.Sprintf("websocket: client frame refused (%d): %s", int(e.Code), e.Reason)
}

// guardOptions are the limits a frameGuard enforces.
type guardOptions struct {
	// pingRate is how many pings per second a client may send on average,
	// pingBurst how many at once.
	pingRate  float64
	pingBurst float64
}

// maxControlPayload is the largest payload of a control frame (§5.5).
const maxControlPayload = 125

// frameGuard is the net.Conn the WebSocket library reads the client's
// frames from. Writes, deadlines and Close go straight to the socket. Read
// is called by the library's reader only, one call at a time.
type frameGuard struct {
	net.Conn
	src io.Reader // the bytes the HTTP server had buffered, then the socket
	opt guardOptions
	now func() time.Time

	buf  []byte // read from src and not yet returned
	ok   int    // buf[:ok] has been checked and may be returned
	left int64  // payload bytes of the current data frame not yet checked
	err  error  // returned once buf[:ok] is drained

	tokens   float64 // pings the client may send now
	lastPing time.Time

	stopped atomic.Bool // set by stop, from any goroutine
}

// errStopped is what reads return after stop.
var errStopped = errors.New("websocket: connection failed, not read further")

// stop ends the reading of the client's stream: a read in progress and
// every later one fail at once. The session calls it when the connection
// has failed (RFC 6455 §7.1.7: a protocol error, a message too big, an I/O
// error), so that the library's close handshake sends its close frame but
// neither parses what follows the bad frame nor waits for the client.
func (g *frameGuard) stop() {
	if g.stopped.Swap(true) {
		return
	}
	_ = g.Conn.SetReadDeadline(time.Now()) // wakes a blocked Read
}

func newFrameGuard(conn net.Conn, buffered []byte, opt guardOptions) *frameGuard {
	var src io.Reader = conn
	if len(buffered) > 0 {
		src = io.MultiReader(bytes.NewReader(buffered), conn)
	}
	return &frameGuard{Conn: conn, src: src, opt: opt, now: time.Now,
		buf: make([]byte, 0, 4096), tokens: opt.pingBurst}
}

// Read returns checked bytes of the client's stream; after the last bytes
// before a refused frame it returns the *frameError.
func (g *frameGuard) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if g.stopped.Load() {
		return 0, errStopped
	}
	for g.ok == 0 {
		if g.err != nil {
			return 0, g.err
		}
		if g.left > 0 && len(g.buf) == 0 {
			// Inside a data frame's payload: nothing to check, no copy.
			if int64(len(p)) > g.left {
				p = p[:g.left]
			}
			n, err := g.src.Read(p)
			g.left -= int64(n)
			if err != nil {
				g.err = err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		g.fill()
	}
	n := copy(p, g.buf[:g.ok])
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	g.ok -= n
	return n, nil
}

// fill reads more of the stream and checks what it can. It is called with
// nothing checked in buf: what is there is the start of a frame header or
// of a whole control frame, at most 14+125 bytes.
func (g *frameGuard) fill() {
	n, err := g.src.Read(g.buf[len(g.buf):cap(g.buf)])
	g.buf = g.buf[:len(g.buf)+n]
	g.scan()
	if err != nil && g.err == nil {
		g.err = err
	}
}

func (g *frameGuard) fail(code websocket.StatusCode, reason string) {
	g.err = &frameError{Code: code, Reason: reason}
}

// scan advances g.ok over every complete frame header (and whole control
// frame) that keeps the rules, stopping at an incomplete one or the first
// that breaks a rule.
func (g *frameGuard) scan() {
	for g.err == nil {
		rest := g.buf[g.ok:]
		if g.left > 0 {
			k := min(int64(len(rest)), g.left)
			g.ok += int(k)
			g.left -= k
			if g.left > 0 {
				return
			}
			continue
		}
		if len(rest) < 2 {
			return
		}
		fin, opcode := rest[0]&0x80 != 0, rest[0]&0x0f
		masked, length := rest[1]&0x80 != 0, int64(rest[1]&0x7f)
		hlen := 2
		switch length {
		case 126:
			hlen += 2
		case 127:
			hlen += 8
		}
		if masked {
			hlen += 4
		}
		if len(rest) < hlen {
			return
		}
		switch length {
		case 126:
			length = int64(binary.BigEndian.Uint16(rest[2:]))
		case 127:
			u := binary.BigEndian.Uint64(rest[2:])
			if u>>63 != 0 {
				g.fail(websocket.StatusProtocolError, "frame length with the most significant bit set")
				return
			}
			length = int64(u)
		}
		if !masked {
			g.fail(websocket.StatusProtocolError, "client frames must be masked")
			return
		}
		if opcode >= 0x8 && fin && length <= maxControlPayload {
			// A control frame: check it whole before the library acts on it.
			end := hlen + int(length)
			if len(rest) < end {
				return
			}
			g.checkControl(opcode, rest[hlen-4:hlen], rest[hlen:end])
			if g.err != nil {
				return
			}
			g.ok += end
			continue
		}
		// A data frame, or a control frame the library refuses by its
		// header (too long or fragmented): pass its payload through.
		g.ok += hlen
		g.left = length
	}
}

// checkControl checks a control frame's masked payload.
func (g *frameGuard) checkControl(opcode byte, key, masked []byte) {
	switch opcode {
	case 0x8: // close
		if len(masked) <= 2 {
			return // empty, or 1 byte which the library refuses itself
		}
		var b [maxControlPayload]byte
		p := b[:len(masked)]
		for i := range masked {
			p[i] = masked[i] ^ key[i&3]
		}
		if !utf8.Valid(p[2:]) {
			g.fail(websocket.StatusProtocolError, "invalid UTF-8 in close reason")
		}
	case 0x9: // ping
		if !g.allowPing() {
			g.fail(websocket.StatusPolicyViolation, "too many pings")
		}
	}
}

// allowPing takes a token from the ping bucket.
func (g *frameGuard) allowPing() bool {
	now := g.now()
	if !g.lastPing.IsZero() {
		g.tokens = min(g.opt.pingBurst, g.tokens+now.Sub(g.lastPing).Seconds()*g.opt.pingRate)
	}
	g.lastPing = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}

// libBufferSize is the size of the WebSocket library's read and write
// buffers (see guardedWriter.Hijack).
const libBufferSize = 512

// guardedWriter hands the WebSocket library a frameGuard when it hijacks
// the connection, and keeps it for the session.
type guardedWriter struct {
	http.ResponseWriter
	opt          guardOptions
	writeTimeout time.Duration
	guard        *frameGuard  // set by Hijack
	cork         *cork.Writer // set by Hijack: the library writes through it
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes over the connection. Bytes the client sent right after its
// upgrade request, already buffered by the HTTP server, go through the
// guard too.
func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		buffered = bytes.Clone(b)
	}
	g := newFrameGuard(conn, buffered, w.opt)
	w.guard = g
	// The library's buffers sit on ours: the frameGuard holds what is read
	// (4 KiB), the cork.Writer what the core's writer writes in a run. Small
	// buffers above them (instead of the HTTP server's 4 KiB each) keep an
	// idle connection's memory down without costing system calls.
	w.cork = &cork.Writer{Conn: conn, Timeout: w.writeTimeout}
	brw = bufio.NewReadWriter(bufio.NewReaderSize(g, libBufferSize), bufio.NewWriterSize(w.cork, libBufferSize))
	return g, brw, nil
}

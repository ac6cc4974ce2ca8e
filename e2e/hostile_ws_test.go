package e2e

// BAD_INPUTS.md rows W1–W15 (WebSocket transport, RFC 6455) and J1–J12 (the
// JSON protocol), each against a real in-process server. Frames no library
// would send are written by hand (wsraw_test.go). "Nothing lost" is checked
// with a wsrWitness: a connection that must stay up through the attack and
// a message acknowledged before it that must still be delivered after.
//
// Rows covered elsewhere:
//   - W13 (handshake, never authenticates: closed with 3500 after
//     timeouts.auth_deadline): TestWebSocketHandshakeRules (auth_test.go).
//   - W14 (a client that never reads is disconnected when its outbound queue
//     overflows, and resumes everything in seq order):
//     TestSlowConsumerIsDisconnectedAndResumes (slow_test.go) overflows the
//     queue with 480 messages of 60 KB (28.8 MB, more than loopback buffers
//     hold, where 10,000 small messages would sit in socket buffers) and
//     checks that all 480 arrive on reconnect with seq 1..480 in order;
//     TestResumeManyConversations (resume_test.go) resumes 10,000 messages
//     in 100 conversations and checks seq order in each. Parley resumes
//     from stored positions, not from a client's "since".
//   - W15 (client vanishes without FIN): TestVanishedClientGoesOffline
//     (heartbeat_test.go) checks the ping timeout and the offline presence;
//     TestHostileWSVanishedClientResumes below adds "messages queue, resume
//     works".
//   - J7 after a server kill -9: TestCrashLoopLosesNothingAcknowledged
//     (crash_test.go) retries unacknowledged sends with the same client
//     message id across SIGKILLs and the checker finds no duplicate.
//   - J8's browser half (headless Chromium sees no dialog) waits for a web
//     client; J10's subscribe half waits for MQTT; J11 "on another node"
//     waits for cluster mode. Their one-node parts are below.

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// wsrCase is one hostile input on an authenticated connection and the
// close code it must get.
type wsrCase struct {
	name  string
	write func(c *wsrConn)
	code  int
}

// runCases runs each case on a fresh connection of mallory's (signed in
// once), one after another, checking the close code.
func runCases(t *testing.T, s *server, cases []wsrCase) {
	t.Helper()
	s.user("mallory")
	tok := s.login("mallory", "m").Token
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := wsrDial(t, s)
			c.hello(tok)
			tc.write(c)
			c.closed(tc.code)
		})
	}
}

// frames returns a write function sending the given frames in one write.
func frames(fs ...[]byte) func(c *wsrConn) {
	return func(c *wsrConn) { c.raw(bytes.Join(fs, nil)) }
}

// W1: a browser upgrade from an origin not on the allow-list is refused
// with 403 before any WebSocket exists, and logged. Parley has no cookie
// authentication, so a cookie changes nothing.
func TestHostileWSForeignOrigin(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	cfg := testConfig(t)
	cfg.HTTP.AllowedOrigins = []string{"https://app.example"}
	a, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, app: a, cfg: cfg, URL: "http://" + a.Addr()}
	t.Cleanup(s.stop)
	w := witness(t, s)
	for _, origin := range []string{"https://evil.example", "null", "https://app.example.evil.example", "http://app.example", "https://app.example:8443"} {
		_, resp := wsrHandshake(t, s, func(h http.Header) {
			h.Set("Origin", origin)
			h.Set("Cookie", "session=stolen")
		})
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-Websocket-Accept") != "" {
			t.Errorf("origin %q: %s %v %q, want 403 without an upgrade", origin, resp.Status, resp.Header, body)
		}
	}
	if !strings.Contains(logs.String(), "websocket origin refused") || !strings.Contains(logs.String(), "origin=https://evil.example") {
		t.Errorf("refused origin not logged:\n%s", logs.String())
	}
	for _, origin := range []string{"https://app.example", "HTTPS://APP.EXAMPLE"} {
		if _, resp := wsrHandshake(t, s, func(h http.Header) { h.Set("Origin", origin) }); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("allowed origin %q: %s", origin, resp.Status)
		}
	}
	w.check(t)
}

// W2: an upgrade without Sec-WebSocket-Key is a bad request; one for
// another protocol version gets 426 naming version 13 (RFC 6455 §4.4).
func TestHostileWSBadUpgrade(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	for _, tc := range []struct {
		name    string
		mutate  func(http.Header)
		status  int
		version string // the Sec-WebSocket-Version the answer must name
	}{
		{"no key", func(h http.Header) { h.Del("Sec-Websocket-Key") }, http.StatusBadRequest, ""},
		{"key not 16 bytes", func(h http.Header) { h.Set("Sec-Websocket-Key", "c2hvcnQ=") }, http.StatusBadRequest, ""},
		{"two keys", func(h http.Header) { h.Add("Sec-Websocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==") }, http.StatusBadRequest, ""},
		{"version 8", func(h http.Header) { h.Set("Sec-Websocket-Version", "8") }, http.StatusUpgradeRequired, "13"},
		{"version 14", func(h http.Header) { h.Set("Sec-Websocket-Version", "14") }, http.StatusUpgradeRequired, "13"},
		{"no version", func(h http.Header) { h.Del("Sec-Websocket-Version") }, http.StatusUpgradeRequired, "13"},
		{"no upgrade header", func(h http.Header) { h.Del("Upgrade") }, http.StatusUpgradeRequired, ""},
	} {
		_, resp := wsrHandshake(t, s, tc.mutate)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.status)
		}
		if tc.version != "" && resp.Header.Get("Sec-Websocket-Version") != tc.version {
			t.Errorf("%s: Sec-WebSocket-Version %q, want %q", tc.name, resp.Header.Get("Sec-Websocket-Version"), tc.version)
		}
	}
	w.check(t)
}

// W3: a message of limit+1 bytes, in one frame or in 10,000 one-byte
// frames, closes with 1009 and is not processed: the send inside it is
// never stored. A message of exactly the limit is served.
func TestHostileWSMessageTooBig(t *testing.T) {
	t.Parallel()
	const limit = 9_999 // so that limit+1 is 10,000 one-byte frames
	s := startServer(t, func(c *config.Config) {
		c.Limits.MaxFrameBytes = limit
		c.Limits.MaxMessageBytes = 9_000
		// Writing 10,000 frames on a loaded machine can outlast the test
		// config's one-second ping round: this test is about 1009.
		c.Timeouts.PingInterval, c.Timeouts.PongTimeout = time.Minute, time.Minute
	})
	w := witness(t, s)
	// sized pads a JSON request with a "pad" field to exactly n bytes.
	sized := func(req string, n int) []byte {
		head := req[:len(req)-1] + `,"pad":"`
		return []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
	}
	send := func(cmid string) string {
		return `{"id":"s","op":"send","to":"bob","client_msg_id":"` + cmid + `","body":"must not be stored"}`
	}
	runCases(t, s, []wsrCase{
		{"one frame", frames(wsrFrameBytes(true, 0, wsrText, true, sized(send("w3-one"), limit+1))), 1009},
		{"10,000 one-byte frames", func(c *wsrConn) {
			msg := sized(send("w3-many"), limit+1)
			var b []byte
			for i, ch := range msg {
				op := byte(wsrCont)
				if i == 0 {
					op = wsrText
				}
				b = append(b, wsrFrameBytes(i == len(msg)-1, 0, op, true, []byte{ch})...)
			}
			c.raw(b)
		}, 1009},
		{"a megabyte", func(c *wsrConn) {
			go c.raw(wsrFrameBytes(true, 0, wsrText, true, sized(send("w3-mb"), 1<<20)))
		}, 1009},
	})
	// Exactly the limit is accepted.
	c := wsrLogin(t, s, "mallory", "m2")
	c.frame(true, 0, wsrText, true, sized(`{"id":"fits","op":"ping"}`, limit))
	if f := c.reply("fits"); f.Type != protocol.TypePong {
		t.Fatalf("a message of exactly the limit: %+v", f)
	}
	c.bye()
	// Nothing of the refused sends was stored: their client message ids
	// are still unused.
	api := s.login("mallory", "m3")
	for _, cmid := range []string{"w3-one", "w3-many", "w3-mb"} {
		ack, err := api.Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "now", ClientMsgID: cmid})
		if err != nil || ack.Duplicate {
			t.Fatalf("%s was stored from a refused message: %+v %v", cmid, ack, err)
		}
	}
	w.check(t)
}

// W4: an unmasked client frame closes with 1002, before hello and after.
func TestHostileWSUnmaskedFrame(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	c := wsrDial(t, s)
	c.frame(true, 0, wsrText, false, []byte(`{"id":"h","op":"hello","version":1}`))
	if _, reason := c.closed(1002); !strings.Contains(reason, "masked") {
		t.Errorf("reason %q", reason)
	}
	runCases(t, s, []wsrCase{
		{"text", frames(wsrFrameBytes(true, 0, wsrText, false, []byte(`{"op":"ping"}`))), 1002},
		{"ping", frames(wsrFrameBytes(true, 0, wsrPing, false, nil)), 1002},
		{"close", frames(wsrFrameBytes(true, 0, wsrClose, false, []byte{0x03, 0xe8})), 1002},
		{"continuation", frames(wsrFrameBytes(false, 0, wsrText, true, []byte(`{"op":`)), wsrFrameBytes(true, 0, wsrCont, false, []byte(`"ping"}`))), 1002},
	})
	w.check(t)
}

// W5: RSV bits without a negotiated extension, and reserved opcodes,
// close with 1002.
func TestHostileWSReservedBitsAndOpcodes(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	var cases []wsrCase
	for _, rsv := range []byte{0x40, 0x20, 0x10} {
		cases = append(cases, wsrCase{fmt.Sprintf("rsv %#x", rsv), frames(wsrFrameBytes(true, rsv, wsrText, true, []byte(`{"op":"ping"}`))), 1002})
	}
	cases = append(cases, wsrCase{"rsv on a ping", frames(wsrFrameBytes(true, 0x20, wsrPing, true, nil)), 1002})
	for _, op := range []byte{0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, wsrCase{fmt.Sprintf("opcode %#x", op), frames(wsrFrameBytes(true, 0, op, true, []byte("x"))), 1002})
	}
	runCases(t, s, cases)
	w.check(t)
}

// W6: control frames over 125 bytes or fragmented, continuation frames
// out of place, and a data frame inside a fragmented message close with
// 1002. A ping of exactly 125 bytes is answered.
func TestHostileWSBadFraming(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	start := wsrFrameBytes(false, 0, wsrText, true, []byte(`{"op":`))
	runCases(t, s, []wsrCase{
		{"ping of 126 bytes", frames(wsrFrameBytes(true, 0, wsrPing, true, make([]byte, 126))), 1002},
		{"close of 126 bytes", frames(wsrFrameBytes(true, 0, wsrClose, true, append([]byte{0x03, 0xe8}, make([]byte, 124)...))), 1002},
		{"fragmented ping", frames(wsrFrameBytes(false, 0, wsrPing, true, []byte("a")), wsrFrameBytes(true, 0, wsrCont, true, []byte("b"))), 1002},
		{"continuation without a start", frames(wsrFrameBytes(true, 0, wsrCont, true, []byte(`{"op":"ping"}`))), 1002},
		{"text inside a fragmented message", frames(start, wsrFrameBytes(true, 0, wsrText, true, []byte(`{"op":"ping"}`))), 1002},
		{"binary inside a fragmented message", frames(start, wsrFrameBytes(true, 0, wsrBinary, true, []byte("x"))), 1002},
	})
	c := wsrLogin(t, s, "mallory", "m2")
	ping := bytes.Repeat([]byte("p"), 125)
	c.frame(true, 0, wsrPing, true, ping)
	if f, err := c.read(); err != nil || f.Opcode != wsrPong || !bytes.Equal(f.Payload, ping) {
		t.Fatalf("ping of 125 bytes: %+v %v, want its pong", f, err)
	}
	c.bye()
	w.check(t)
}

// W7: invalid UTF-8 in a text message closes with 1007, however it is
// fragmented; a valid character split across fragments is fine.
func TestHostileWSInvalidUTF8(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	text := func(s string) func(c *wsrConn) {
		return frames(wsrFrameBytes(true, 0, wsrText, true, []byte(`{"op":"send","to":"bob","client_msg_id":"w7","body":"`+s+`"}`)))
	}
	runCases(t, s, []wsrCase{
		{"truncated sequence", text("\xce\xba\xe1\xbd"), 1007},
		{"overlong slash", text("\xc0\xaf"), 1007},
		{"surrogate", text("\xed\xa0\x80"), 1007},
		{"outside a string", frames(wsrFrameBytes(true, 0, wsrText, true, []byte("{\xff}"))), 1007},
		{"split over fragments", frames(
			wsrFrameBytes(false, 0, wsrText, true, []byte("{\"op\":\"ping\",\"x\":\"\xce")),
			wsrFrameBytes(true, 0, wsrCont, true, []byte("A\"}"))), 1007},
	})
	// "κ" (ce ba) split between two fragments is valid UTF-8.
	c := wsrLogin(t, s, "mallory", "m2")
	c.frame(false, 0, wsrText, true, []byte(`{"id":"k","op":"ping","x":"`+"\xce"))
	c.frame(true, 0, wsrCont, true, []byte("\xba"+`"}`))
	if f := c.reply("k"); f.Type != protocol.TypePong {
		t.Fatalf("valid UTF-8 across fragments: %+v", f)
	}
	c.bye()
	if _, err := s.login("mallory", "m3").Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "x", ClientMsgID: "w7"}); err != nil {
		t.Fatal(err)
	}
	w.check(t)
}

// W8: the protocol is JSON text; a binary message closes with 1003.
func TestHostileWSBinaryFrame(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	c := wsrDial(t, s)
	c.frame(true, 0, wsrBinary, true, []byte(`{"op":"hello","version":1}`))
	c.closed(1003)
	runCases(t, s, []wsrCase{
		{"after hello", frames(wsrFrameBytes(true, 0, wsrBinary, true, []byte(`{"op":"ping"}`))), 1003},
		{"fragmented", frames(wsrFrameBytes(false, 0, wsrBinary, true, []byte(`{"op":`)), wsrFrameBytes(true, 0, wsrCont, true, []byte(`"ping"}`))), 1003},
	})
	w.check(t)
}

// W9: a close frame with a 1-byte payload, a code that may not be sent
// on the wire, or a reason that is not UTF-8 is answered with 1002; a
// valid close is echoed.
func TestHostileWSBadClosePayload(t *testing.T) {
	t.Parallel()
	// runCases reconnects one device per case: more than the default
	// flapping limit (15 connects a minute) would ban it.
	s := startServer(t, func(c *config.Config) { c.RateLimits.FlappingConnectsPerMinute = 100 })
	w := witness(t, s)
	closeFrame := func(p []byte) func(c *wsrConn) { return frames(wsrFrameBytes(true, 0, wsrClose, true, p)) }
	code := func(c uint16, reason string) []byte { return append([]byte{byte(c >> 8), byte(c)}, reason...) }
	cases := []wsrCase{{"one byte", closeFrame([]byte{0x03}), 1002}}
	for _, c := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} {
		cases = append(cases, wsrCase{fmt.Sprintf("code %d", c), closeFrame(code(c, "")), 1002})
	}
	for name, reason := range map[string]string{"truncated": "\xce\xba\xe1\xbd", "overlong": "\xc0\xaf", "surrogate": "\xed\xa0\x80"} {
		cases = append(cases, wsrCase{"reason " + name, closeFrame(code(1000, "bye "+reason)), 1002})
	}
	cases = append(cases,
		wsrCase{"valid 1000", closeFrame(code(1000, "bye κ")), 1000},
		wsrCase{"valid 4000", closeFrame(code(4000, "")), 4000},
		wsrCase{"empty (no status: 1005 is echoed as an empty close)", closeFrame(nil), 1005})
	runCases(t, s, cases)
	w.check(t)
}

// W10: a ping flood gets a bounded number of pongs and then close 1008;
// the server keeps serving everyone else.
func TestHostileWSPingFlood(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	s.user("mallory")
	c := wsrLogin(t, s, "mallory", "m")
	ping := wsrFrameBytes(true, 0, wsrPing, true, []byte("flood"))
	go func() {
		// 10,000 pings, as fast as loopback takes them (far above
		// 10,000/s), until the server closes.
		for i := 0; i < 10; i++ {
			if c.raw(bytes.Repeat(ping, 1000)) != nil {
				return
			}
		}
	}()
	before, reason := c.closed(1008)
	pongs := 0
	for _, f := range before {
		if f.Opcode == wsrPong {
			pongs++
		}
	}
	if pongs > 10 {
		t.Errorf("%d pongs before the close, want at most the burst of 10", pongs)
	}
	if !strings.Contains(reason, "ping") {
		t.Errorf("close reason %q", reason)
	}
	// A client pinging at a sane rate is not bothered.
	calm := wsrLogin(t, s, "mallory", "calm")
	for i := 0; i < 5; i++ {
		calm.frame(true, 0, wsrPing, true, []byte{byte(i)})
		if f, err := calm.read(); err != nil || f.Opcode != wsrPong {
			t.Fatalf("ping %d: %+v %v", i, f, err)
		}
	}
	calm.bye()
	w.check(t)
}

// W11: per-message compression is not negotiated, so a deflate "bomb"
// (64 KiB that would inflate to 64 MiB) is a frame with RSV1 set: 1002,
// never inflated.
func TestHostileWSCompressionBomb(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	bomb, inflated := deflateBomb(64<<10 - 64)
	// It is a valid deflate stream of zeros.
	head, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(bomb)), 1<<20))
	if err != nil || len(head) != 1<<20 || bytes.Count(head, []byte{0}) != len(head) || inflated < 64<<20 {
		t.Fatalf("bad bomb: %d zeros of %d, %v", bytes.Count(head, []byte{0}), inflated, err)
	}
	s.user("mallory")
	tok := s.login("mallory", "m").Token
	c, resp := wsrHandshake(t, s, func(h http.Header) {
		h.Set("Sec-Websocket-Extensions", "permessage-deflate; client_max_window_bits; server_no_context_takeover")
	})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); ext != "" {
		t.Fatalf("the server negotiated %q", ext)
	}
	c.hello(tok)
	c.frame(true, 0x40, wsrText, true, bomb)
	c.closed(1002)
	w.check(t)
}

// deflateBomb returns a raw deflate stream of about size bytes that
// inflates to a run of zeros (returned: its length), at deflate's best
// ratio of 1032:1. It is one dynamic-Huffman block coding a literal 0, then
// "copy 258 bytes from distance 1" in 2 bits, again and again.
func deflateBomb(size int) ([]byte, int) {
	var out []byte
	var acc uint64
	var nacc uint
	bits := func(v uint64, n uint) { // fields and extra bits: LSB first
		acc |= v << nacc
		nacc += n
		for nacc >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			nacc -= 8
		}
	}
	code := func(c uint64, n uint) { // Huffman codes: MSB first
		for i := int(n) - 1; i >= 0; i-- {
			bits(c>>uint(i)&1, 1)
		}
	}
	bits(1, 1)  // BFINAL
	bits(2, 2)  // BTYPE: dynamic Huffman
	bits(29, 5) // HLIT: 286 literal/length codes
	bits(0, 5)  // HDIST: 1 distance code
	bits(14, 4) // HCLEN: 18 code length codes
	// Code length code lengths, in their order 16 17 18 0 8 7 9 6 10 5 11 4
	// 12 3 13 2 14 1: 18 gets 1 bit, 1 and 2 get 2 bits.
	for _, l := range []uint64{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2} {
		bits(l, 3)
	}
	// Canonical codes: 18 -> 0, 1 -> 10, 2 -> 11.
	zeros := func(n uint64) { code(0, 1); bits(n-11, 7) } // symbol 18: 11-138 zeros
	code(3, 2)                                            // literal 0: length 2
	zeros(138)
	zeros(117) // literals 1-255 unused
	code(3, 2) // 256 (end of block): length 2
	zeros(28)  // lengths 257-284 unused
	code(2, 2) // 285 (length 258): length 1
	code(2, 2) // distance 0 (distance 1): length 1
	// Literal/length codes: 285 -> 0, 0 -> 10, 256 -> 11; distance 0 -> 0.
	code(2, 2) // the literal 0
	inflated := 1
	for len(out) < size {
		code(0, 1) // length 258
		code(0, 1) // distance 1
		inflated += 258
	}
	code(3, 2) // end of block
	if nacc > 0 {
		out = append(out, byte(acc))
	}
	return out, inflated
}

// W12: slowloris. Forty sockets trickle an upgrade request one byte at a
// time; each is closed once http.read_header_timeout has passed, and real
// clients connect and chat meanwhile.
func TestHostileWSSlowloris(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	s := startServer(t, func(c *config.Config) { c.HTTP.ReadHeaderTimeout = timeout })
	const sockets = 40
	// A valid start, then a header value that never ends.
	req := []byte("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nX-Slow: ")
	nextByte := func(i int) []byte {
		if i < len(req) {
			return req[i : i+1]
		}
		return []byte("a")
	}
	type result struct {
		after time.Duration
		err   error
	}
	results := make(chan result, sockets)
	started := make(chan struct{}, sockets)
	for range sockets {
		go func() {
			c, err := net.Dial("tcp", s.app.Addr())
			if err != nil {
				started <- struct{}{}
				results <- result{err: err}
				return
			}
			defer c.Close()
			t0 := time.Now()
			closed := make(chan struct{})
			go func() {
				// The server closes the connection (it sends nothing).
				c.SetReadDeadline(t0.Add(timeout + 10*time.Second))
				io.Copy(io.Discard, c)
				close(closed)
			}()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			_, err = c.Write(nextByte(0))
			started <- struct{}{}
		trickle:
			for i := 1; err == nil; i++ {
				select {
				case <-closed:
					break trickle
				case <-tick.C:
					_, err = c.Write(nextByte(i))
				}
			}
			<-closed
			results <- result{after: time.Since(t0)}
		}()
	}
	for range sockets {
		<-started
	}
	// Under attack, real clients connect and chat.
	w := witness(t, s)
	w.check(t)
	for range sockets {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.after > timeout+5*time.Second {
			t.Errorf("a slow socket was closed after %v, with a header timeout of %v", r.after, timeout)
		}
	}
}

// W15: a client that vanishes (stops reading and answering pings, no FIN)
// is closed by the ping timeout; what was sent to it meanwhile is stored
// and delivered, in seq order, when it comes back.
func TestHostileWSVanishedClientResumes(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Timeouts.PingInterval = 200 * time.Millisecond
		c.Timeouts.PongTimeout = 200 * time.Millisecond
	})
	s.user("alice")
	s.user("bob")
	alice := s.dial("alice", "phone")
	rawDial(t, s, s.login("bob", "phone").Token) // hello, resume, and never a read again
	core := s.app.Core()
	var acks []protocol.Ack
	for i := range 5 {
		ack, err := alice.Send(ctxT(t), parley.SendOptions{To: "bob", Body: fmt.Sprint("while gone ", i)})
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	waitFor(t, "the vanished client to be closed by the ping timeout", 10*time.Second, func() bool { return core.Online() == 1 })
	bob := s.dial("bob", "phone")
	for i, m := range recv(t, bob, 5, 10*time.Second) {
		if m.ID != acks[i].ID || m.Seq != uint64(i+1) {
			t.Fatalf("message %d: %+v, want %+v", i, m, acks[i])
		}
	}
}

// J1: a truncated frame gets an error reply and the connection stays
// usable; limits.max_consecutive_errors malformed frames in a row close it
// with 1008, and a good frame in between starts the count again.
func TestHostileWSMalformedFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Limits.MaxConsecutiveErrors = 5 })
	w := witness(t, s)
	s.user("mallory")
	c := wsrLogin(t, s, "mallory", "m")
	c.text(`{"op":"send",`)
	if f := c.next(); f.Type != protocol.TypeError || f.Error.Code != protocol.CodeBadRequest {
		t.Fatalf("truncated frame: %+v", f)
	}
	if f := c.call(protocol.Request{ID: "p", Op: protocol.OpPing}); f.Type != protocol.TypePong {
		t.Fatalf("after the error: %+v", f)
	}
	bad := []string{`{"op":"send",`, `{"id":"u","op":"nope"}`, `{"id":"s","op":"ack","seq":"abc"}`, `[]`, `{"op":"ping","op":"ping"}`}
	for _, b := range bad[:4] {
		c.text(b)
		if f := c.next(); f.Type != protocol.TypeError {
			t.Fatalf("%s: %+v", b, f)
		}
	}
	if f := c.call(protocol.Request{ID: "p2", Op: protocol.OpPing}); f.Type != protocol.TypePong {
		t.Fatalf("a good frame after 4 errors: %+v", f)
	}
	for _, b := range bad {
		c.text(b)
	}
	before, reason := c.closed(1008)
	if len(before) > 5 || !strings.Contains(reason, "malformed") {
		t.Fatalf("closed after %d frames with %q", len(before), reason)
	}
	w.check(t)
}

// J2: 30,000 nested arrays (within the frame size) are refused by the
// depth check before they are decoded, and so is one level over the limit
// (limits.json_max_depth, 32); the limit itself is fine.
func TestHostileWSDeepNesting(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	s.user("mallory")
	c := wsrLogin(t, s, "mallory", "m")
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deep := `{"id":"d","op":"send","to":"bob","client_msg_id":"j2","payload":` + nested(30_000) + `}`
	if len(deep) > s.cfg.Limits.MaxFrameBytes {
		t.Fatalf("%d bytes is over the frame limit", len(deep))
	}
	c.text(deep)
	if f := c.next(); f.Type != protocol.TypeError || f.Error.Code != protocol.CodeBadRequest || !strings.Contains(f.Error.Message, "nested") {
		t.Fatalf("30,000 nested arrays: %+v", f)
	}
	c.text(`{"id":"33","op":"ping","x":` + nested(32) + `}`) // depth 33 with the frame's object
	if f := c.next(); f.Type != protocol.TypeError {
		t.Fatalf("depth 33: %+v", f)
	}
	c.text(`{"id":"32","op":"ping","x":` + nested(31) + `}`)
	if f := c.reply("32"); f.Type != protocol.TypePong {
		t.Fatalf("depth 32: %+v", f)
	}
	if ack, err := s.login("mallory", "m2").Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "x", ClientMsgID: "j2"}); err != nil || ack.Duplicate {
		t.Fatalf("the deep send was stored: %+v %v", ack, err)
	}
	c.bye()
	w.check(t)
}

// J3: Parley refuses a request that names a field twice, in whatever case
// or escaping (encoding/json would silently keep the last one, another
// parser the first): 400 naming the field, nothing sent.
func TestHostileWSDuplicateKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	s.user("mallory")
	c := wsrLogin(t, s, "mallory", "m")
	for i, tc := range []struct{ frame, field string }{
		{`{"id":"1","op":"send","to":"alice","to":"bob","client_msg_id":"j3","body":"to whom?"}`, "to"},
		{`{"id":"2","op":"send","to":"alice","TO":"bob","client_msg_id":"j3","body":"to whom?"}`, "to"},
		{`{"id":"3","op":"send","To":"alice","t\u006f":"bob","client_msg_id":"j3","body":"to whom?"}`, "to"},
		{`{"id":"4","op":"send","to":"bob","client_msg_id":"j3","body":"a","body":"b"}`, "body"},
		{`{"id":"5","op":"send","to":"bob","client_msg_id":"j3","CLIENT_MSG_ID":"j3b","body":"x"}`, "client_msg_id"},
		{`{"id":"6","op":"send","conv":"` + w.before.Conv + `","conv":"g_other","client_msg_id":"j3","body":"x"}`, "conv"},
	} {
		c.text(tc.frame)
		f := c.reply(fmt.Sprint(i + 1))
		if f.Type != protocol.TypeError || f.Error.Code != protocol.CodeBadRequest || f.Error.Field != tc.field {
			t.Fatalf("%s: %+v, want 400 naming %q", tc.frame, f.Error, tc.field)
		}
	}
	// Nothing was sent: the client message id is unused, and alice got
	// nothing from mallory.
	ack, err := s.login("mallory", "m2").Send(ctxT(t), "", parley.SendOptions{To: "alice", Body: "only this", ClientMsgID: "j3"})
	if err != nil || ack.Duplicate {
		t.Fatalf("j3 was stored: %+v %v", ack, err)
	}
	for {
		m := recv(t, w.alice, 1, 5*time.Second)[0]
		if m.From == "alice" {
			continue // her own "acked before"
		}
		if m.ID != ack.ID {
			t.Fatalf("alice got %+v, want only mallory's last message", m)
		}
		break
	}
	c.bye()
	w.check(t)
}

// J4: wrong types and huge values get a 400 naming the field, and the
// connection stays usable.
func TestHostileWSWrongTypesAndHugeValues(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	s.user("mallory")
	c := wsrLogin(t, s, "mallory", "m")
	conv := w.before.Conv
	for _, tc := range []struct {
		frame, field string
		code         int
	}{
		{`{"id":"x","op":"ack","conv":"` + conv + `","seq":"abc"}`, "seq", 400},
		{`{"id":"x","op":"ack","conv":"` + conv + `","seq":1e999}`, "seq", 400},
		{`{"id":"x","op":"read","conv":"` + conv + `","seq":-1}`, "seq", 400},
		{`{"id":"x","op":"ack","conv":"` + conv + `","seq":18446744073709551616}`, "seq", 400},
		{`{"id":"x","op":"history","conv":"` + conv + `","limit":-1}`, "limit", 400},
		{`{"id":"x","op":"history","conv":"` + conv + `","limit":1000000}`, "limit", 400},
		{`{"id":"x","op":"history","conv":"` + conv + `","limit":1e999}`, "limit", 400},
		{`{"id":"x","op":"history","conv":"` + conv + `","before":"last"}`, "before", 400},
		{`{"id":"x","op":"edit","conv":"` + conv + `","target":-3,"client_msg_id":"e","body":"b"}`, "target", 400},
		{`{"id":"x","op":"send","to":"bob","client_msg_id":"` + strings.Repeat("c", 60_000) + `","body":"hi"}`, "client_msg_id", 400},
		{`{"id":"x","op":"send","to":"bob","client_msg_id":"j4","body":"hi","encrypted":"yes"}`, "encrypted", 400},
		{`{"id":"x","op":"presence","users":"alice"}`, "users", 400},
		{`{"id":"x","op":"send","to":"bob","client_msg_id":"j4","body":"` + strings.Repeat("b", 65_537) + `"}`, "", protocol.CodeTooLarge},
	} {
		c.text(tc.frame)
		f := c.reply("x")
		if f.Type != protocol.TypeError || f.Error.Code != tc.code || f.Error.Field != tc.field {
			t.Errorf("%.80s: %+v, want %d naming %q", tc.frame, f.Error, tc.code, tc.field)
		}
		if f.Error != nil && len(f.Error.Message) > 200 {
			t.Errorf("%.80s: the error echoes %d bytes", tc.frame, len(f.Error.Message))
		}
	}
	if f := c.call(protocol.Request{ID: "p", Op: protocol.OpPing}); f.Type != protocol.TypePong {
		t.Fatalf("after the errors: %+v", f)
	}
	c.bye()
	w.check(t)
}

// J5: an unknown op and missing required fields get a 400 naming the
// field; unknown fields are ignored (docs/protocol.md, 4.1).
func TestHostileWSUnknownOpAndFields(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := witness(t, s)
	s.user("mallory")
	c := wsrLogin(t, s, "mallory", "m")
	for _, tc := range []struct{ frame, field string }{
		{`{"id":"x","op":"frobnicate"}`, "op"},
		{`{"id":"x","op":"SEND","to":"bob","client_msg_id":"j5","body":"x"}`, "op"},
		{`{"id":"x","op":"hello","version":1,"token":"again"}`, "op"},
		{`{"id":"x","to":"bob"}`, "op"},
		{`{"id":"x","op":"send","to":"bob","body":"x"}`, "client_msg_id"},
		{`{"id":"x","op":"send","client_msg_id":"j5","body":"x"}`, "conv"},
		{`{"id":"x","op":"send","to":"bob","conv":"` + w.before.Conv + `","client_msg_id":"j5","body":"x"}`, "to"},
		{`{"id":"x","op":"send","to":"bob","client_msg_id":"j5"}`, "body"},
		{`{"id":"x","op":"history"}`, "conv"},
		{`{"id":"x","op":"ack","seq":1}`, "conv"},
		{`{"id":"x","op":"read","conv":"` + w.before.Conv + `"}`, "seq"},
		{`{"id":"x","op":"edit","conv":"` + w.before.Conv + `","client_msg_id":"e","body":"b"}`, "target"},
	} {
		c.text(tc.frame)
		if f := c.reply("x"); f.Type != protocol.TypeError || f.Error.Code != protocol.CodeBadRequest || f.Error.Field != tc.field {
			t.Errorf("%s: %+v, want 400 naming %q", tc.frame, f.Error, tc.field)
		}
	}
	c.text(`{"id":"p","op":"ping","priority":"urgent","nested":{"a":[1,2]},"Token":null}`)
	if f := c.reply("p"); f.Type != protocol.TypePong {
		t.Fatalf("ping with extra fields: %+v", f)
	}
	c.text(`{"id":"s","op":"send","to":"bob","client_msg_id":"j5","body":"x","admin":true,"kind":"system","seq":99,"time":1}`)
	f := c.reply("s")
	var ack protocol.Ack
	if f.Type != protocol.TypeAck || json.Unmarshal(f.Data, &ack) != nil || ack.Seq == 99 {
		t.Fatalf("send with extra fields: %+v", f)
	}
	h, err := s.login("bob", "probe").History(ctxT(t), ack.Conv, parley.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := h.Messages[len(h.Messages)-1]; m.ID != ack.ID || m.Kind != protocol.KindMessage || m.Time == 1 {
		t.Fatalf("stored %+v", m)
	}
	c.bye()
	w.check(t)
}

// J6: a "from" in a send is ignored; the sender is who authenticated.
func TestHostileWSSpoofedSender(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	s.user("mallory")
	bob := s.dial("bob", "phone")
	c := wsrLogin(t, s, "mallory", "m")
	c.text(`{"id":"s","op":"send","to":"bob","from":"alice","sender":"alice","user":"alice","client_msg_id":"j6","body":"it's alice, honest"}`)
	if f := c.reply("s"); f.Type != protocol.TypeAck {
		t.Fatalf("send: %+v", f)
	}
	if m := recv(t, bob, 1, 5*time.Second)[0]; m.From != "mallory" {
		t.Fatalf("bob sees the message from %q", m.From)
	}
	// And nothing reached a conversation between alice and bob.
	if list, err := s.login("alice", "probe").Conversations(ctxT(t)); err != nil || len(list.Conversations) != 0 {
		t.Fatalf("alice's conversations: %+v %v", list, err)
	}
}

// J7: the same send frame three times, twice on one connection (the
// second before the first is answered) and once after reconnecting, is
// stored once, and all three acks carry the same seq and message id.
func TestHostileWSReplayedSend(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("bob")
	s.user("mallory")
	bob := s.dial("bob", "phone")
	tok := s.login("mallory", "m").Token
	frame := `{"id":"r","op":"send","to":"bob","client_msg_id":"j7-once","body":"exactly once"}`
	c := wsrDial(t, s)
	c.hello(tok)
	c.text(frame)
	c.text(frame)
	acks := []protocol.Ack{}
	for range 2 {
		f := c.reply("r")
		var a protocol.Ack
		if f.Type != protocol.TypeAck || json.Unmarshal(f.Data, &a) != nil {
			t.Fatalf("reply: %+v", f)
		}
		acks = append(acks, a)
	}
	c.c.Close() // gone without a close handshake
	c2 := wsrDial(t, s)
	c2.hello(tok)
	c2.text(frame)
	f := c2.reply("r")
	var a protocol.Ack
	if f.Type != protocol.TypeAck || json.Unmarshal(f.Data, &a) != nil {
		t.Fatalf("reply after reconnecting: %+v", f)
	}
	acks = append(acks, a)
	originals := 0
	for _, a := range acks {
		if a.Seq != acks[0].Seq || a.ID != acks[0].ID || a.Time != acks[0].Time || a.Conv != acks[0].Conv {
			t.Fatalf("acks differ: %+v", acks)
		}
		if !a.Duplicate {
			originals++
		}
	}
	if originals != 1 {
		t.Fatalf("%d acks are not marked duplicate, want 1: %+v", originals, acks)
	}
	// Bob gets it once: the next message he gets is the one sent after.
	next, err := s.login("mallory", "m2").Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "next", ClientMsgID: "j7-next"})
	if err != nil {
		t.Fatal(err)
	}
	got := recv(t, bob, 2, 5*time.Second)
	if got[0].ID != acks[0].ID || got[1].ID != next.ID || got[1].Seq != acks[0].Seq+1 {
		t.Fatalf("bob got %+v", got)
	}
}

// J8: hostile text is stored and returned byte for byte, JSON-escaped so
// that no HTML-significant character appears raw in a frame.
func TestHostileWSTextByteExact(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("mallory")
	s.user("bob")
	bodies := []string{
		`<img src=x onerror=alert(1)>`,
		`</script><script>alert(document.cookie)</script>`,
		"invoice\u202Egpj.exe",
		"nul\x00byte",
		"family 👩\u200d👩\u200d👧\u200d👦 zwj, joiner\u200d\u200cnon-joiner",
		"parrot 🦜 and 𝄞",
		"line\u2028separator\u2029paragraph",
		`quote " backslash \ amp & apos '`,
		"\ufeffBOM and \uffff noncharacter",
	}
	bob := wsrLogin(t, s, "bob", "phone")
	bob.resume()
	c := wsrLogin(t, s, "mallory", "m")
	var acks []protocol.Ack
	for i, body := range bodies {
		encoded, _ := json.Marshal(body) // < > & as \u003c \u003e \u0026
		unescaped := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(encoded))
		for j, b := range []string{string(encoded), unescaped} {
			c.text(fmt.Sprintf(`{"id":"s","op":"send","to":"bob","client_msg_id":"j8-%d-%d","body":%s}`, i, j, b))
			f := c.reply("s")
			var a protocol.Ack
			if f.Type != protocol.TypeAck || json.Unmarshal(f.Data, &a) != nil {
				t.Fatalf("send %s: %+v", b, f)
			}
			acks = append(acks, a)
		}
	}
	for i := range acks {
		want := bodies[i/2]
		var frame []byte
		for {
			f, err := bob.read()
			if err != nil {
				t.Fatal(err)
			}
			if f.Opcode == wsrText && bytes.Contains(f.Payload, []byte(`"type":"msg"`)) {
				frame = f.Payload
				break
			}
		}
		for _, raw := range []string{"<", ">", "&", "\u2028", "\u2029"} {
			if bytes.Contains(frame, []byte(raw)) {
				t.Errorf("frame for %q has a raw %q: %s", want, raw, frame)
			}
		}
		var pf struct{ Data protocol.Message }
		if err := json.Unmarshal(frame, &pf); err != nil {
			t.Fatal(err)
		}
		if pf.Data.ID != acks[i].ID || pf.Data.Body != want {
			t.Errorf("delivered %q (id %s), want %q (id %s)", pf.Data.Body, pf.Data.ID, want, acks[i].ID)
		}
	}
	h, err := s.login("bob", "probe").History(ctxT(t), acks[0].Conv, parley.HistoryOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != len(acks) {
		t.Fatalf("history has %d messages, want %d", len(h.Messages), len(acks))
	}
	for i, m := range h.Messages {
		if m.Body != bodies[i/2] {
			t.Errorf("history %d: %q, want %q", i, m.Body, bodies[i/2])
		}
	}
}

// J9: a hello with a token that is logged out, signed with another key
// (the server's signing key was rotated), alg "none", for another audience,
// expired or signed with another HMAC algorithm gets 401 and close 3501.
func TestHostileWSBadTokens(t *testing.T) {
	t.Parallel()
	const key1 = "first-signing-key-0123456789abcdef0123"
	const key2 = "rotated-signing-key-0123456789abcdef01"
	cfg := testConfig(t)
	cfg.Auth.SigningKey = key1
	s := startWith(t, cfg)
	w := witness(t, s)
	s.user("mallory")
	good := s.login("mallory", "m").Token
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(good, &claims); err != nil {
		t.Fatal(err)
	}
	forge := func(method jwt.SigningMethod, key any, change func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		change(c)
		tok, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	same := func(jwt.MapClaims) {}
	loggedOut := s.login("mallory", "old").Token
	if status, _ := httpDo(t, "POST", s.URL+"/v1/logout", loggedOut, nil); status != http.StatusNoContent {
		t.Fatalf("logout: %d", status)
	}
	refused := func(t *testing.T, s *server, name, token string) {
		t.Helper()
		c := wsrDial(t, s)
		f := c.call(protocol.Request{ID: "h", Op: protocol.OpHello, Version: 1, Token: token})
		if f.Type != protocol.TypeError || f.Error.Code != protocol.CodeUnauthorized {
			t.Fatalf("%s: %+v, want 401", name, f)
		}
		c.closed(protocol.CloseAuthFailed)
	}
	// The forging works: the same claims signed with the right key pass.
	c := wsrDial(t, s)
	c.hello(forge(jwt.SigningMethodHS256, []byte(key1), same))
	c.bye()
	for name, tok := range map[string]string{
		"logged out":      loggedOut,
		"another key":     forge(jwt.SigningMethodHS256, []byte(key2), same),
		"alg none":        forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, same),
		"wrong audience":  forge(jwt.SigningMethodHS256, []byte(key1), func(c jwt.MapClaims) { c["aud"] = []string{"another-service"} }),
		"no audience":     forge(jwt.SigningMethodHS256, []byte(key1), func(c jwt.MapClaims) { delete(c, "aud") }),
		"wrong issuer":    forge(jwt.SigningMethodHS256, []byte(key1), func(c jwt.MapClaims) { c["iss"] = "someone" }),
		"expired":         forge(jwt.SigningMethodHS256, []byte(key1), func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"no expiry":       forge(jwt.SigningMethodHS256, []byte(key1), func(c jwt.MapClaims) { delete(c, "exp") }),
		"HS512":           forge(jwt.SigningMethodHS512, []byte(key1), same),
		"unknown session": forge(jwt.SigningMethodHS256, []byte(key1), func(c jwt.MapClaims) { c["sid"] = "s0000" }),
		"other user":      forge(jwt.SigningMethodHS256, []byte(key1), func(c jwt.MapClaims) { c["sub"] = "alice" }),
		"not a JWT":       "not-a-token",
	} {
		t.Run(name, func(t *testing.T) { refused(t, s, name, tok) })
	}
	w.check(t)

	// Rotation: the same data directory with a new signing key refuses
	// every token signed with the old one.
	s.stop()
	cfg2 := cfg
	cfg2.Auth.SigningKey = key2
	s2 := startWith(t, cfg2)
	refused(t, s2, "token of the old key after rotation", good)
	c2 := wsrDial(t, s2)
	c2.hello(s2.login("mallory", "m").Token)
}

// notMemberSetup: alice and bob have a group and a direct conversation,
// mallory is in neither and has a resumed raw connection.
func notMemberSetup(t *testing.T) (s *server, alice *parley.API, group, direct protocol.Conversation, c *wsrConn) {
	t.Helper()
	s = startServer(t, nil)
	s.user("alice")
	s.user("bob")
	s.user("mallory")
	alice = s.login("alice", "web")
	var err error
	if group, err = alice.CreateGroup(ctxT(t), "private", "bob"); err != nil {
		t.Fatal(err)
	}
	if direct, err = alice.Direct(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	for _, conv := range []string{group.ID, direct.ID} {
		if _, err := alice.Send(ctxT(t), conv, parley.SendOptions{Body: "secret"}); err != nil {
			t.Fatal(err)
		}
	}
	c = wsrLogin(t, s, "mallory", "m")
	c.resume()
	return s, alice, group, direct, c
}

// nextMsg returns the next message pushed to c, skipping other frames.
func nextMsg(t *testing.T, c *wsrConn) protocol.Message {
	t.Helper()
	for {
		f := c.next()
		if f.Type == protocol.TypeMsg {
			var m protocol.Message
			if err := json.Unmarshal(f.Data, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		if f.Type == protocol.TypeTyping {
			t.Fatalf("typing pushed: %s", f.Data)
		}
	}
}

// J10: for a conversation that exists but the user is not in, and for one
// that does not exist (random and sequential-looking ids), every operation
// answers with the same 404 error; nothing of it is delivered, not even
// when resume names it.
func TestHostileWSNotMemberLooksAbsent(t *testing.T) {
	t.Parallel()
	_, alice, group, direct, c := notMemberSetup(t)
	c.strict = true // any msg, page or typing push fails the test
	convs := map[string]string{
		"forbidden group":  group.ID,
		"forbidden direct": direct.ID,
		"absent random":    "g_" + strings.Repeat("q", len(group.ID)-2),
		"absent sequence":  "g_1",
		"absent direct":    "d_aaaaaaaaaaaaaaaaaaaaaaaaaa",
	}
	ops := map[string]func(conv string) protocol.Request{
		"send": func(conv string) protocol.Request {
			return protocol.Request{Op: protocol.OpSend, Conv: conv, ClientMsgID: "j10", Body: "hi"}
		},
		"history": func(conv string) protocol.Request { return protocol.Request{Op: protocol.OpHistory, Conv: conv} },
		"members": func(conv string) protocol.Request { return protocol.Request{Op: protocol.OpMembers, Conv: conv} },
		"edit": func(conv string) protocol.Request {
			return protocol.Request{Op: protocol.OpEdit, Conv: conv, Target: 1, ClientMsgID: "j10e", Body: "x"}
		},
		"delete": func(conv string) protocol.Request {
			return protocol.Request{Op: protocol.OpDelete, Conv: conv, Target: 1, ClientMsgID: "j10d"}
		},
		"read":   func(conv string) protocol.Request { return protocol.Request{Op: protocol.OpRead, Conv: conv, Seq: 1} },
		"ack":    func(conv string) protocol.Request { return protocol.Request{Op: protocol.OpAck, Conv: conv, Seq: 1} },
		"typing": func(conv string) protocol.Request { return protocol.Request{Op: protocol.OpTyping, Conv: conv} },
	}
	for op, mk := range ops {
		var first []byte
		for name, conv := range convs {
			req := mk(conv)
			req.ID = "q"
			f := c.call(req)
			if f.Type != protocol.TypeError || f.Error.Code != protocol.CodeNotFound {
				t.Errorf("%s on the %s: %+v, want 404", op, name, f)
				continue
			}
			body, _ := json.Marshal(f.Error)
			if first == nil {
				first = body
			} else if !bytes.Equal(body, first) {
				t.Errorf("%s: the %s answers %s, another conversation %s", op, name, body, first)
			}
		}
	}
	// Positions for conversations one is not in are ignored by resume.
	positions := map[string]uint64{}
	for _, conv := range convs {
		positions[conv] = 0
	}
	f := c.call(protocol.Request{ID: "r", Op: protocol.OpResume, Positions: positions})
	var resumed protocol.Resumed
	if f.Type != protocol.TypeResumed || json.Unmarshal(f.Data, &resumed) != nil || resumed.Messages != 0 {
		t.Fatalf("resume naming foreign conversations: %+v", f)
	}
	// Nothing said later reaches mallory either: the first message she
	// gets is the one alice sends her after.
	for _, conv := range []string{group.ID, direct.ID} {
		if _, err := alice.Send(ctxT(t), conv, parley.SendOptions{Body: "more secrets"}); err != nil {
			t.Fatal(err)
		}
	}
	sentinel, err := alice.Send(ctxT(t), "", parley.SendOptions{To: "mallory", Body: "hello mallory"})
	if err != nil {
		t.Fatal(err)
	}
	c.strict = false
	if m := nextMsg(t, c); m.ID != sentinel.ID {
		t.Fatalf("mallory got %+v", m)
	}
	// And nothing of hers was stored in them.
	for _, conv := range []string{group.ID, direct.ID} {
		h, err := alice.History(ctxT(t), conv, parley.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			if m.From == "mallory" || m.Kind == protocol.KindEdit || m.Kind == protocol.KindDelete {
				t.Fatalf("stored in %s: %+v", conv, m)
			}
		}
	}
}

// J11 on one node: a member removed while connected gets her removal,
// then nothing more of the group, and her sends are refused like a
// stranger's.
func TestHostileWSRemovedMemberSession(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "mallory"} {
		s.user(u)
	}
	alice := s.login("alice", "web")
	g, err := alice.CreateGroup(ctxT(t), "team", "bob", "mallory")
	if err != nil {
		t.Fatal(err)
	}
	bob := s.dial("bob", "phone")
	c := wsrLogin(t, s, "mallory", "m")
	c.resume()
	before, err := alice.Send(ctxT(t), g.ID, parley.SendOptions{Body: "before"})
	if err != nil {
		t.Fatal(err)
	}
	for m := nextMsg(t, c); m.ID != before.ID; m = nextMsg(t, c) {
	}
	removed, err := alice.RemoveMember(ctxT(t), g.ID, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, c); m.Seq != removed.Seq || m.Member == nil || m.Member.Action != protocol.MemberRemoved || m.Member.User != "mallory" {
		t.Fatalf("mallory's removal: %+v", m)
	}
	after, err := alice.Send(ctxT(t), g.ID, parley.SendOptions{Body: "after"})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []protocol.Request{
		{ID: "s", Op: protocol.OpSend, Conv: g.ID, ClientMsgID: "j11", Body: "still here?"},
		{ID: "t", Op: protocol.OpTyping, Conv: g.ID},
		{ID: "e", Op: protocol.OpEdit, Conv: g.ID, Target: before.Seq, ClientMsgID: "j11e", Body: "x"},
	} {
		if f := c.call(op); f.Type != protocol.TypeError || f.Error.Code != protocol.CodeNotFound {
			t.Errorf("%s after removal: %+v, want 404", op.Op, f)
		}
	}
	sentinel, err := alice.Send(ctxT(t), "", parley.SendOptions{To: "mallory", Body: "bye"})
	if err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, c); m.ID != sentinel.ID {
		t.Fatalf("mallory got %+v after her removal, want only alice's direct message", m)
	}
	// Bob gets what alice said after, and nothing from mallory.
	for {
		m := recv(t, bob, 1, 5*time.Second)[0]
		if m.From == "mallory" {
			t.Fatalf("bob got %+v", m)
		}
		if m.ID == after.ID {
			break
		}
	}
}

// J12: editing or deleting someone else's message is forbidden (403) and
// changes nothing.
func TestHostileWSEditOthersMessage(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob"} {
		s.user(u)
	}
	alice := s.login("alice", "web")
	g, err := alice.CreateGroup(ctxT(t), "team", "bob")
	if err != nil {
		t.Fatal(err)
	}
	a, err := alice.Send(ctxT(t), g.ID, parley.SendOptions{Body: "alice's words"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := alice.Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "alice's direct words"})
	if err != nil {
		t.Fatal(err)
	}
	c := wsrLogin(t, s, "bob", "phone")
	for _, target := range []protocol.Ack{a, d} {
		for i, req := range []protocol.Request{
			{ID: "e", Op: protocol.OpEdit, Conv: target.Conv, Target: target.Seq, ClientMsgID: "j12e", Body: "bob's words"},
			{ID: "d", Op: protocol.OpDelete, Conv: target.Conv, Target: target.Seq, ClientMsgID: "j12d"},
		} {
			req.ClientMsgID += fmt.Sprint(target.Conv, i)
			if f := c.call(req); f.Type != protocol.TypeError || f.Error.Code != protocol.CodeForbidden {
				t.Errorf("%s of alice's message in %s: %+v, want 403", req.Op, target.Conv, f)
			}
		}
		h, err := alice.History(ctxT(t), target.Conv, parley.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last := h.Messages[len(h.Messages)-1]
		if last.ID != target.ID || last.EditedAt != 0 || last.Deleted || !strings.HasPrefix(last.Body, "alice's") {
			t.Fatalf("after the refused edits: %+v", h.Messages)
		}
	}
}

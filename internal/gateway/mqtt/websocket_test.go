package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"
)

// serveWebSocket serves s's /mqtt on a test HTTP server and returns its
// ws:// URL.
func serveWebSocket(t *testing.T, s *Server) string {
	t.Helper()
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/mqtt"
}

// dialWebSocket is an MQTT client over WebSocket to url; the packets the
// server writes are read at once and queued.
func dialWebSocket(t *testing.T, url string) *pipeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	pc := &pipeClient{t: t, c: websocket.NetConn(context.Background(), wc, websocket.MessageBinary),
		pkts: make(chan rawPacket, 256), done: make(chan struct{})}
	close(pc.done) // the server's side is not this test's goroutine
	pc.read()
	t.Cleanup(func() { pc.c.Close() })
	return pc
}

// handlerGoroutines counts the goroutines of the HTTP server that are
// inside the MQTT gateway's code: requests whose handler has not returned.
func handlerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "net/http.(*conn).serve(") && strings.Contains(g, "internal/gateway/mqtt.") {
			count++
		}
	}
	return count
}

// TestWebSocketConnectionsLeaveTheHandler: an MQTT-over-WebSocket
// connection is served on a goroutine of its own once upgraded, so the
// HTTP server's per-request state and the handler's stack do not stay
// with it for its whole life (as for /v1/ws); the connection goes on.
func TestWebSocketConnectionsLeaveTheHandler(t *testing.T) {
	s, _ := newGateway(t, nil)
	url := serveWebSocket(t, s)
	var clients []*pipeClient
	for i := range 3 {
		pc := dialWebSocket(t, url)
		pk := connectPacket(4)
		pk.Connect.ClientIdentifier = fmt.Sprintf("ws-%d", i)
		pc.connected(pk)
		clients = append(clients, pc)
	}
	waitUntil(t, "the /mqtt handlers to return", 5*time.Second, func() bool { return handlerGoroutines() == 0 })
	for _, pc := range clients {
		pc.put(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		pc.expect(packets.Pingresp, 5*time.Second)
	}
}

// TestWebSocketBytesSentWithTheUpgrade: a client that sends its CONNECT
// right behind the upgrade request, in the same write, so that the HTTP
// server has read it ahead with the request, is served from those bytes
// on.
func TestWebSocketBytesSentWithTheUpgrade(t *testing.T) {
	s, _ := newGateway(t, nil)
	url := serveWebSocket(t, s)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/mqtt")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	req := "GET /mqtt HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
	out := append([]byte(req), maskedFrame(encodePacket(t, connectPacket(4)))...)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatalf("no frame after the upgrade: %v", err)
	}
	payload := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x82 || !bytes.Equal(payload, []byte{packets.Connack << 4, 2, 0, 0}) {
		t.Fatalf("frame % x: % x, want a binary frame with a successful CONNACK", hdr, payload)
	}
}

// maskedFrame is a final binary WebSocket frame from a client carrying p
// (shorter than 126 bytes).
func maskedFrame(p []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := append([]byte{0x82, 0x80 | byte(len(p))}, mask[:]...)
	for i, b := range p {
		f = append(f, b^mask[i%4])
	}
	return f
}

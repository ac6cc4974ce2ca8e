package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// rawDial opens a WebSocket, says hello with token and resumes, without
// reading anything further.
func rawDial(t *testing.T, s *server, token string) *websocket.Conn {
	t.Helper()
	ctx := ctxT(t)
	conn, _, err := websocket.Dial(ctx, strings.Replace(s.URL, "http://", "ws://", 1)+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	conn.SetReadLimit(1 << 20)
	for _, req := range []protocol.Request{{ID: "h", Op: protocol.OpHello, Version: 1, Token: token}, {ID: "r", Op: protocol.OpResume}} {
		b, _ := json.Marshal(req)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// A client that stops reading is disconnected when its outbound queue is
// full (close 3001), nothing stored is dropped, and on reconnect it resumes
// every message in seq order.
func TestSlowConsumerIsDisconnectedAndResumes(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Timeouts.PingInterval = time.Minute // isolate the queue limit from the ping timeout
		c.Limits.OutboundQueueMessages = 32
	})
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	bobAPI := s.login("bob", "phone")
	stuck := rawDial(t, s, bobAPI.Token)
	alice := s.login("alice", "web") // over HTTP: this test reads no sent-sync copies
	// More than loopback's socket buffers hold (several MiB), so the
	// server's queue for the stuck client must overflow.
	const n, senders = 480, 4
	body := strings.Repeat("x", 60_000)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/senders; i++ {
				if _, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: body, ClientMsgID: parley.NewClientMsgID()}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	// Drain what the stuck client's socket buffered: it must end in 3001.
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for err == nil {
		_, _, err = stuck.Read(rctx)
	}
	// The close frame (3001) reaches the client if the socket drains within
	// the library's close handshake; otherwise the TCP connection is cut.
	// Either way the server must have counted a slow-consumer disconnect.
	if code := websocket.CloseStatus(err); code != protocol.CloseSlowConsumer && code != -1 {
		t.Fatalf("stuck client closed with %v (%d), want %d or a cut connection", err, code, protocol.CloseSlowConsumer)
	}
	_, metrics := httpDo(t, "GET", s.URL+"/metrics", "", nil)
	if !strings.Contains(string(metrics), `parley_disconnects_total{reason="slow_consumer"} 1`) ||
		!strings.Contains(string(metrics), "parley_queue_overflows_total 1") {
		t.Fatalf("no slow-consumer disconnect counted:\n%s", metrics)
	}
	bob := s.dial("bob", "phone")
	got := recv(t, bob, n, 30*time.Second)
	for i, m := range got {
		if m.Conv != conv.ID || m.Seq != uint64(i+1) || m.Body != body {
			t.Fatalf("message %d: %s/%d", i, m.Conv, m.Seq)
		}
	}
}

// A client that stops reading while its queue still has room is cut off
// by the write timeout: the server's blocked write gives up after
// timeouts.write_timeout and the connection closes, nothing stored is
// dropped, and on reconnect it resumes every message. (WebSocket writes are
// bounded by the write deadline the gateway sets on every write to the
// socket, not by a context per frame.)
func TestStuckWriteTimesOutAndResumes(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Timeouts.PingInterval = time.Minute // isolate the write timeout from the ping timeout
		c.Timeouts.WriteTimeout = 500 * time.Millisecond
		c.Limits.OutboundQueueMessages = 100_000 // the queue never overflows here
		c.Limits.OutboundQueueBytes = 1 << 30
	})
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	bobAPI := s.login("bob", "phone")
	stuck := rawDial(t, s, bobAPI.Token)
	alice := s.login("alice", "web")
	// Well over what loopback's socket buffers hold (a few MiB each way,
	// tcp_wmem and tcp_rmem): the server's write to the stuck client blocks.
	const n = 400
	body := strings.Repeat("x", 60_000)
	for i := 0; i < n; i++ {
		if _, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: body, ClientMsgID: parley.NewClientMsgID()}); err != nil {
			t.Fatal(err)
		}
	}
	var metrics []byte
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, metrics = httpDo(t, "GET", s.URL+"/metrics", "", nil)
		if strings.Contains(string(metrics), `parley_connections{protocol="websocket"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stuck connection is still open 15 s after its writes blocked:\n%s", metrics)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(metrics), "parley_queue_overflows_total 0") {
		t.Fatalf("the queue overflowed: this test is about the write timeout:\n%s", metrics)
	}
	if !strings.Contains(string(metrics), `parley_disconnects_total{reason="write_failed"} 1`) {
		t.Fatalf("the connection whose write timed out is not counted as write_failed:\n%s", metrics)
	}
	stuck.CloseNow()
	bob := s.dial("bob", "phone")
	got := recv(t, bob, n, 30*time.Second)
	for i, m := range got {
		if m.Seq != uint64(i+1) || m.Body != body {
			t.Fatalf("message %d: seq %d", i, m.Seq)
		}
	}
}

package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
)

// newGateway is a gateway on a core with a fresh SQLite store and the
// users alice and bob (password "password-<user>"). tune, if not nil,
// adjusts the core's options (it may wrap the store).
func newGateway(tb testing.TB, tune func(*core.Options)) (*Server, *core.Core) {
	tb.Helper()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "parley.db"), sqlite.Options{Unsafe: true, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := auth.NewSigner(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		tb.Fatal(err)
	}
	opts := core.Options{Store: db, Bus: local.New(), Signer: signer, Logger: log,
		Limits: core.Limits{MaxMessageBytes: 4096, HistoryPageMax: 100, OutboundQueueMessages: 128, OutboundQueueBytes: 1 << 20},
		Timeouts: core.Timeouts{AccessTTL: time.Hour, RefreshTTL: time.Hour, AckFlushInterval: 20 * time.Millisecond,
			PresenceCoalesce: 20 * time.Millisecond, WriteTimeout: 2 * time.Second, DeviceExpiry: 24 * time.Hour}}
	if tune != nil {
		tune(&opts)
	}
	c, err := core.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- c.Run(ctx) }()
	s, err := New(ctx, c, Options{MaxPacketBytes: 16 << 10, AuthDeadline: 2 * time.Second, WriteTimeout: 2 * time.Second, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		cancel()
		<-stopped
		db.Close()
	})
	for _, u := range []string{"alice", "bob"} {
		if _, err := c.CreateUser(ctx, u, "password-"+u, ""); err != nil {
			tb.Fatal(err)
		}
	}
	return s, c
}

// pipeClient is an MQTT client on a net.Pipe into Server.serveConn; the
// packets the server writes are read at once and queued.
type pipeClient struct {
	t    *testing.T
	c    net.Conn
	pkts chan rawPacket
	done chan struct{} // closed when serveConn has returned
}

// rawPacket is a packet the server wrote: its fixed header's first byte
// and its body.
type rawPacket struct {
	first byte
	body  []byte
}

func (p rawPacket) typ() byte { return p.first >> 4 }

// dialPipe serves server (the server's end of a pipe whose other end is
// client) and reads what the server writes.
func dialPipe(t *testing.T, s *Server, client, server net.Conn) *pipeClient {
	t.Helper()
	pc := &pipeClient{t: t, c: client, pkts: make(chan rawPacket, 256), done: make(chan struct{})}
	go func() {
		defer close(pc.done)
		s.serveConn("test", server, "")
	}()
	pc.read()
	t.Cleanup(func() {
		client.Close()
		<-pc.done
	})
	return pc
}

// read queues the packets the server writes, until the connection ends.
func (pc *pipeClient) read() {
	go func() {
		defer close(pc.pkts)
		r := bufio.NewReader(pc.c)
		for {
			first, err := r.ReadByte()
			if err != nil {
				return
			}
			n, _, err := packets.DecodeLength(r)
			if err != nil {
				return
			}
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			pc.pkts <- rawPacket{first: first, body: body}
		}
	}()
}

func (pc *pipeClient) put(pk packets.Packet) {
	pc.t.Helper()
	_ = pc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := pc.c.Write(encodePacket(pc.t, pk)); err != nil {
		pc.t.Fatalf("write packet type %d: %v", pk.FixedHeader.Type, err)
	}
}

// expect returns the next packet of type typ, skipping PUBLISH packets
// (which it returns in skipped).
func (pc *pipeClient) expect(typ byte, timeout time.Duration) (p rawPacket, skipped []rawPacket) {
	pc.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p, ok := <-pc.pkts:
			if !ok {
				pc.t.Fatalf("connection closed while waiting for packet type %d", typ)
			}
			if p.typ() == typ {
				return p, skipped
			}
			if p.typ() != packets.Publish {
				pc.t.Fatalf("waiting for packet type %d, got type %d: % x", typ, p.typ(), p.body)
			}
			skipped = append(skipped, p)
		case <-deadline:
			pc.t.Fatalf("no packet type %d within %v", typ, timeout)
		}
	}
}

// connected sends CONNECT pk and expects a CONNACK with code 0.
func (pc *pipeClient) connected(pk packets.Packet) {
	pc.t.Helper()
	pc.put(pk)
	ack, _ := pc.expect(packets.Connack, 10*time.Second)
	if len(ack.body) < 2 || ack.body[1] != 0 {
		pc.t.Fatalf("CONNACK % x, want success", ack.body)
	}
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// history returns the bodies of the newest messages of the direct
// conversation of alice and bob, as bob sees them.
func history(t *testing.T, c *core.Core) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conv := core.DirectID("alice", "bob")
	page, err := c.History(ctx, "bob", core.HistoryRequest{Conv: conv, Limit: 100})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // no message yet
		}
		t.Fatal(err)
	}
	var out []string
	for _, m := range page.Messages {
		out = append(out, m.Body)
	}
	return out
}

// heldConn is the server's end of a pipe whose reads, once it has been
// closed, return only when release is closed: the engine's read goroutine
// of the connection then handles the connection's end (its will) when the
// test says so.
type heldConn struct {
	net.Conn
	once    sync.Once
	closed  chan struct{}
	release chan struct{}
}

func newHeldConn(c net.Conn) *heldConn {
	return &heldConn{Conn: c, closed: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldConn) Read(b []byte) (int, error) {
	n, err := h.Conn.Read(b)
	if err != nil {
		select {
		case <-h.closed:
			<-h.release
		default:
		}
	}
	return n, err
}

func (h *heldConn) Close() error {
	h.once.Do(func() { close(h.closed) })
	return h.Conn.Close()
}

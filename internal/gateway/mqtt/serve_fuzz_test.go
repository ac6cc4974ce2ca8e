package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
)

// newFuzzGateway is newGateway with an access token of alice's device
// "fuzz".
func newFuzzGateway(tb testing.TB) (*Server, *core.Core, string) {
	tb.Helper()
	s, c := newGateway(tb, nil)
	tok, err := c.OpenSession(context.Background(), "alice", "fuzz", time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return s, c, tok.AccessToken
}

// FuzzServeConn drives the gateway itself, hooks included, through a
// connection (net.Pipe and serveConn): an authenticated CONNECT (3.1.1 or
// 5.0), then arbitrary bytes. The gateway must not panic, must end the
// connection once the client has gone, and must leave no connection state
// behind.
func FuzzServeConn(f *testing.F) {
	for _, seed := range seedStreams(f) {
		// The seeds after their CONNECT.
		remaining, bu, err := packets.DecodeLength(bytes.NewReader(seed[1:]))
		if err != nil {
			f.Fatal(err)
		}
		body := seed[1+bu : 1+bu+remaining]
		f.Add(connectVersion(body) == 5, seed[1+bu+remaining:])
	}
	for _, v5 := range []bool{false, true} {
		v := byte(4)
		if v5 {
			v = 5
		}
		f.Add(v5, bytes.Join([][]byte{
			encodePacket(f, subscribePacket(v, 1, "IMS/alice/Inbox/#", "#", "IMS/bob/#", "IMS/alice/"+string(bytes.Repeat([]byte("x/"), 9)))),
			encodePacket(f, publishPacket(v, 1, 2, "IMS/p2p/bob", `{"body":"hi"}`)),
			encodePacket(f, publishPacket(v, 1, 2, "IMS/p2p/alice", "to self")),
			encodePacket(f, publishPacket(v, 2, 3, "IMS/p2p/nobody", "q2")),
			encodePacket(f, publishPacket(v, 0, 0, "IMS/alice/Read/d_x", "x")),
			encodePacket(f, publishPacket(v, 1, 4, "IMS/alice/Ack/d_x", "1")),
			encodePacket(f, publishPacket(v, 0, 0, "IMS/alice/Typing/d_x", "")),
			encodePacket(f, publishPacket(v, 1, 5, "IMS/g_x/alice", "not a member")),
			encodePacket(f, publishPacket(v, 1, 6, "IMS/bob/Inbox/Msg/x", "leak")),
		}, nil))
	}
	s, c, tok := newFuzzGateway(f)
	f.Fuzz(func(t *testing.T, v5 bool, data []byte) { serveOne(t, s, c, tok, v5, data) })
}

// framed reports whether b is a sequence of whole packets (by their fixed
// headers).
func framed(b []byte) bool {
	for len(b) > 0 {
		n, bu, ok := 0, 0, false
		for i, shift := 1, 0; i < len(b) && i <= 4; i, shift = i+1, shift+7 {
			n |= int(b[i]&0x7f) << shift
			if b[i]&0x80 == 0 {
				bu, ok = i, true
				break
			}
		}
		if !ok || 1+bu+n > len(b) {
			return false
		}
		b = b[1+bu+n:]
	}
	return true
}

// serveOne serves one connection of alice's device "fuzz": CONNECT with
// tok, then data; see FuzzServeConn.
func serveOne(t *testing.T, s *Server, c *core.Core, tok string, v5 bool, data []byte) {
	version := byte(4)
	if v5 {
		version = 5
	}
	connect := connectPacket(version)
	connect.Connect.ClientIdentifier, connect.Connect.Password = "fuzz", []byte(tok)
	hello := encodePacket(t, connect)
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serveConn("fuzz", server, "")
	}()
	// Read what the server writes; a PINGRESP says it has handled
	// everything before the PINGREQ sent after the data.
	pong := make(chan struct{}, 1)
	go func() {
		r := bufio.NewReader(client)
		for {
			b, err := r.ReadByte()
			if err != nil {
				return
			}
			n, _, err := packets.DecodeLength(r)
			if err != nil {
				return
			}
			if _, err := r.Discard(n); err != nil {
				return
			}
			if b>>4 == packets.Pingresp {
				select {
				case pong <- struct{}{}:
				default:
				}
			}
		}
	}()
	// Data that ends inside a packet would swallow a PINGREQ: the client
	// goes once the server has read the data.
	complete := framed(data)
	wrote := make(chan struct{})
	go func() {
		_ = client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for i, b := range [][]byte{hello, data, {packets.Pingreq << 4, 0}} {
			if i == 2 && !complete {
				close(wrote)
				return
			}
			if _, err := client.Write(b); err != nil {
				return
			}
		}
	}()
	select {
	case <-pong:
	case <-wrote:
	case <-done:
	case <-time.After(5 * time.Second):
	}
	client.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection is still served 10 s after the client went")
	}
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections left in the gateway", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var m dto.Metric
		if err := c.Metrics().Connections.WithLabelValues(core.ProtoMQTT).Write(&m); err != nil {
			t.Fatal(err)
		}
		if m.GetGauge().GetValue() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v connections left attached to the core", m.GetGauge().GetValue())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

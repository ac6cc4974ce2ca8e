package mqttclient

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
)

func TestRemainingLength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0}}, {127, []byte{0x7f}}, {128, []byte{0x80, 0x01}}, {16383, []byte{0xff, 0x7f}},
		{16384, []byte{0x80, 0x80, 0x01}}, {268435455, []byte{0xff, 0xff, 0xff, 0x7f}},
	} {
		if got := appendRemLen(nil, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("appendRemLen(%d) = % x, want % x", tc.n, got, tc.want)
		}
	}
}

func TestConnectPacket(t *testing.T) {
	t.Parallel()
	got := connectPacket("d1", "u", "p", 60, true)
	want := []byte{0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 60, 0, 2, 'd', '1', 0, 1, 'u', 0, 1, 'p'}
	if !bytes.Equal(got, want) {
		t.Fatalf("CONNECT = % x, want % x", got, want)
	}
	if got := subscribePacket(7, 1, "a/#"); !bytes.Equal(got, []byte{0x82, 8, 0, 7, 0, 3, 'a', '/', '#', 1}) {
		t.Fatalf("SUBSCRIBE = % x", got)
	}
}

func TestPublishRoundTrip(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte("x"), 300) // a two-byte remaining length
	for _, qos := range []byte{0, 1} {
		pk := publishPacket("IMS/p2p/r1", payload, qos, 513)
		first, body, err := readMQTTPacket(bufio.NewReader(bytes.NewReader(pk)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if first>>4 != mqttPublish {
			t.Fatalf("type %d", first>>4)
		}
		p, err := parsePublish(first, body)
		if err != nil {
			t.Fatal(err)
		}
		wantPID := uint16(0)
		if qos == 1 {
			wantPID = 513
		}
		if p.Topic != "IMS/p2p/r1" || p.QoS != qos || p.PID != wantPID || !bytes.Equal(p.Payload, payload) {
			t.Fatalf("qos %d: parsed %q qos %d pid %d, %d bytes", qos, p.Topic, p.QoS, p.PID, len(p.Payload))
		}
	}
	if _, err := parsePublish(0x32, []byte{0, 9, 'a'}); err == nil {
		t.Fatal("short topic parsed")
	}
	if _, _, err := readMQTTPacket(bufio.NewReader(bytes.NewReader([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})), nil); err == nil {
		t.Fatal("five-byte remaining length accepted")
	}
}

// TestClientAgainstBroker runs the harness's client against an in-process
// MQTT broker (the engine the gateway is built on): connect, subscribe at
// QoS 1, a closed-loop QoS 1 publish, the delivery and its PUBACK, a QoS 0
// publish, a ping.
func TestClientAgainstBroker(t *testing.T) {
	t.Parallel()
	b := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: false})
	if err := b.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Serve(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = b.EstablishConnection("t", c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan Pub, 4)
	var seen atomic.Int64
	recv, err := dialMQTT(ctx, DialOptions{Addr: ln.Addr().String(), ClientID: "r", User: "r", Password: "x", KeepAlive: 30 * time.Second,
		OnPublish: func(p *Pub, _ time.Time) {
			seen.Add(1)
			got <- Pub{Topic: p.Topic, QoS: p.QoS, Payload: append([]byte(nil), p.Payload...)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	if err := recv.Subscribe(ctx, 1, "IMS/r/Inbox/Msg/#"); err != nil {
		t.Fatal(err)
	}
	send, err := dialMQTT(ctx, DialOptions{Addr: ln.Addr().String(), ClientID: "s", User: "s", Password: "x", KeepAlive: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	if err := send.PublishWait(ctx, "IMS/r/Inbox/Msg/c1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p.Topic != "IMS/r/Inbox/Msg/c1" || p.QoS != 1 || string(p.Payload) != "hello" {
			t.Fatalf("received %q qos %d %q", p.Topic, p.QoS, p.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no delivery")
	}
	if _, err := send.Publish("IMS/r/Inbox/Msg/c2", []byte(strings.Repeat("y", 200)), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p.QoS != 0 || len(p.Payload) != 200 {
			t.Fatalf("received qos %d, %d bytes", p.QoS, len(p.Payload))
		}
	case <-ctx.Done():
		t.Fatal("no QoS 0 delivery")
	}
	if err := recv.ping(); err != nil {
		t.Fatal(err)
	}
	for recv.pings.Load() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no PINGRESP")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if seen.Load() != 2 {
		t.Fatalf("%d publishes received", seen.Load())
	}
}

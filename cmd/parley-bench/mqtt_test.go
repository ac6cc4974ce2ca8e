package main

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

func TestParseMQTTAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		out, want string
		ok        bool
	}{
		{"parley listening on http://127.0.0.1:40000 (WebSocket: /v1/ws, metrics: /metrics)\n" +
			"parley MQTT on mqtt://127.0.0.1:41883 (topics under IMS/, docs/mqtt.md)\n", "127.0.0.1:41883", true},
		{`time=2026-11-24T00:00:00Z level=INFO msg="parley started" http=127.0.0.1:1 mqtt=127.0.0.1:1883 mqtts="" data_dir=/x`, "127.0.0.1:1883", true},
		{`{"time":"x","level":"INFO","msg":"parley started","http":"127.0.0.1:1","mqtt":"[::1]:1883","mqtts":""}`, "[::1]:1883", true},
		{`level=INFO msg="parley started" http=127.0.0.1:1 mqtt="" mqtts=127.0.0.1:8883`, "", false},
		{"parley listening on http://127.0.0.1:40000\n", "", false},
	} {
		got, ok := parseMQTTAddr(tc.out)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMQTTAddr(%q) = %q, %v; want %q, %v", tc.out, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFanBody(t *testing.T) {
	t.Parallel()
	for _, k := range []int{0, 7, 49, 123456} {
		b := fanBodyOf(3, k, 100)
		if s, got, ok := parseFanBody(b); len(b) != 100 || !ok || s != 3 || got != k {
			t.Errorf("fanBodyOf(3, %d) = %q (len %d), parsed %d %d %v", k, b, len(b), s, got, ok)
		}
	}
	for _, b := range []string{"", "b2 ", "b2 1", "b2 x 1", "hello", "b2 -1 2", "lt 1 2"} {
		if s, k, ok := parseFanBody(b); ok {
			t.Errorf("parseFanBody(%q) = %d %d", b, s, k)
		}
	}
	d, err := parseDelivery([]byte(`{"conv":"g_x","seq":3,"id":"m1","from":"fs","body":"b2 0 2 xx","kind":"text"}`))
	if _, k, ok := parseFanBody(d.Body); err != nil || d.Conv != "g_x" || d.Seq != 3 || !ok || k != 2 {
		t.Fatalf("parseDelivery: %+v, %v", d, err)
	}
}

func TestFanoutLatencies(t *testing.T) {
	t.Parallel()
	sent := []int64{100, 200, 300}
	recv := [][]int64{
		{110, 230, 0},   // member 0 missed message 2
		{150, 210, 320}, //
	}
	last, all := fanLatencies(sent, recv)
	if want := []int64{30, 50}; !slicesEqual(last, want) {
		t.Errorf("last = %v, want %v", last, want)
	}
	if want := []int64{10, 10, 20, 30, 50}; !slicesEqual(all, want) {
		t.Errorf("all = %v, want %v", all, want)
	}
	if p := percentileNs(all, 0.5); p != 20 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentileNs(nil, 0.5); p != 0 {
		t.Errorf("p50 of none = %d", p)
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
	got := make(chan mqttPub, 4)
	var seen atomic.Int64
	recv, err := dialMQTT(ctx, mqttDialOptions{Addr: ln.Addr().String(), ClientID: "r", User: "r", Password: "x", KeepAlive: 30 * time.Second,
		OnPublish: func(p *mqttPub, _ time.Time) {
			seen.Add(1)
			got <- mqttPub{Topic: p.Topic, QoS: p.QoS, Payload: append([]byte(nil), p.Payload...)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.close()
	if err := recv.subscribe(ctx, 1, "IMS/r/Inbox/Msg/#"); err != nil {
		t.Fatal(err)
	}
	send, err := dialMQTT(ctx, mqttDialOptions{Addr: ln.Addr().String(), ClientID: "s", User: "s", Password: "x", KeepAlive: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer send.close()
	if err := send.publishWait(ctx, "IMS/r/Inbox/Msg/c1", []byte("hello")); err != nil {
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
	if _, err := send.publish("IMS/r/Inbox/Msg/c2", []byte(strings.Repeat("y", 200)), 0); err != nil {
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

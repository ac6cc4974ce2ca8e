package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

type mqttDurableFlags struct {
	server      string
	duration    time.Duration
	warmup      time.Duration
	drain       time.Duration
	cpuServer   int
	cpuClient   int
	bodyBytes   int
	authMode    string
	echo        bool
	subQoS      int
	keepalive   time.Duration
	sendTimeout time.Duration
	// onWindow, if set, is called when a measured window starts (b4's
	// -profile-dir); see loop.
	onWindow func(s *server, d time.Duration) (wait func() error)
}

type mqttDurableResult struct {
	windowStats
	received, echoes, other, windowDeliveries, serverDeliveries int64
	connections                                                 int
}

func mqttDurableRun(f mqttDurableFlags, n int, dir string, passwords map[string]string, env []string) (mqttDurableResult, error) {
	var r mqttDurableResult
	srv, err := startServer(f.server, dir, f.cpuServer, env)
	if err != nil {
		return r, err
	}
	defer srv.stopOrLog()
	addr, err := mqttAddr(srv)
	if err != nil {
		return r, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.warmup+f.duration+f.drain+3*time.Minute)
	defer cancel()

	// Receivers first (each r<i> subscribed to its inbox at QoS 1), then
	// senders (subscribed to their inbox only with -echo).
	var received, echoes, other, inWindow atomic.Int64
	var winStartNs, winEndNs atomic.Int64 // set once the window is known
	winStartNs.Store(1 << 62)
	counter := func(cnt *atomic.Int64) func(int) func(*mqttPub, time.Time) {
		return func(int) func(*mqttPub, time.Time) {
			return func(p *mqttPub, at time.Time) {
				if !strings.Contains(p.Topic, "/Inbox/Msg/") {
					other.Add(1)
					return
				}
				cnt.Add(1)
				if cnt == &received {
					if t := at.UnixNano(); t >= winStartNs.Load() && (winEndNs.Load() == 0 || t < winEndNs.Load()) {
						inWindow.Add(1)
					}
				}
			}
		}
	}
	mk := func(role string) []mqttUser {
		us := make([]mqttUser, n)
		for i := range n {
			u := fmt.Sprintf("%s%d", role, i)
			us[i] = mqttUser{user: u, device: "load", password: passwords[u]}
		}
		return us
	}
	inbox := func(us []mqttUser) func(int) []string {
		return func(i int) []string { return []string{"IMS/" + us[i].user + "/Inbox/Msg/#"} }
	}
	rUsers, sUsers := mk("r"), mk("s")
	receivers := make([]*mqttClient, n)
	senders := make([]*mqttClient, n)
	defer func() { closeMQTT(senders); closeMQTT(receivers) }()
	if err := connectMQTT(ctx, addr, f.keepalive, rUsers, receivers, 0, n, 16, byte(f.subQoS), inbox(rUsers), counter(&received)); err != nil {
		return r, err
	}
	var sFilters func(int) []string
	if f.echo {
		sFilters = inbox(sUsers)
	}
	if err := connectMQTT(ctx, addr, f.keepalive, sUsers, senders, 0, n, 16, byte(f.subQoS), sFilters, counter(&echoes)); err != nil {
		return r, err
	}
	all := append(append([]*mqttClient(nil), receivers...), senders...)
	mqttPinger(ctx, func() []*mqttClient { return all }, f.keepalive/2)

	payload := []byte(strings.Repeat("x", f.bodyBytes))
	start := time.Now()
	winStart := start.Add(f.warmup)
	winEnd := winStart.Add(f.duration)
	winStartNs.Store(winStart.UnixNano())
	winEndNs.Store(winEnd.UnixNano())
	s0, s1, w, err := closedLoop(ctx, cancel, loop{srv: srv, n: n, winStart: winStart, winEnd: winEnd,
		sendTimeout: f.sendTimeout, what: "publishes", onWindow: f.onWindow}, func(ctx context.Context, i int) (bool, error) {
		c := senders[i]
		if err := c.publishWait(ctx, "IMS/p2p/"+rUsers[i].user, payload); err != nil {
			return c.readErr() != nil, err // stop once the connection has ended
		}
		return false, nil
	})
	if err != nil {
		return r, err
	}
	r.windowStats = w
	// Let the last deliveries arrive, to count them against the PUBACKs.
	for dl := time.Now().Add(f.drain); time.Now().Before(dl) && received.Load() < w.sentTotal; {
		time.Sleep(10 * time.Millisecond)
	}
	r.serverDeliveries = int64(s1.metrics["parley_deliveries_total"] - s0.metrics["parley_deliveries_total"])
	r.connections = int(s1.metrics["parley_connections"])
	r.received, r.echoes, r.other, r.windowDeliveries = received.Load(), echoes.Load(), other.Load(), inWindow.Load()
	return r, nil
}

package scenario

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/mqttclient"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
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
	onWindow func(s *proc.Server, d time.Duration) (wait func() error)
}

type mqttDurableResult struct {
	measure.WindowStats
	received, echoes, other, windowDeliveries, serverDeliveries int64
	connections                                                 int
}

func mqttDurableRun(f mqttDurableFlags, n int, dir string, passwords map[string]string, env []string) (mqttDurableResult, error) {
	var r mqttDurableResult
	srv, err := proc.StartServer(f.server, dir, f.cpuServer, env)
	if err != nil {
		return r, err
	}
	defer srv.StopOrLog()
	addr, err := proc.MQTTAddr(srv)
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
	counter := func(cnt *atomic.Int64) func(int) func(*mqttclient.Pub, time.Time) {
		return func(int) func(*mqttclient.Pub, time.Time) {
			return func(p *mqttclient.Pub, at time.Time) {
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
	mk := func(role string) []mqttclient.User {
		us := make([]mqttclient.User, n)
		for i := range n {
			u := fmt.Sprintf("%s%d", role, i)
			us[i] = mqttclient.User{User: u, Device: "load", Password: passwords[u]}
		}
		return us
	}
	inbox := func(us []mqttclient.User) func(int) []string {
		return func(i int) []string { return []string{"IMS/" + us[i].User + "/Inbox/Msg/#"} }
	}
	rUsers, sUsers := mk("r"), mk("s")
	receivers := make([]*mqttclient.Client, n)
	senders := make([]*mqttclient.Client, n)
	defer func() { mqttclient.CloseAll(senders); mqttclient.CloseAll(receivers) }()
	if err := mqttclient.Connect(ctx, addr, f.keepalive, rUsers, receivers, 0, n, 16, byte(f.subQoS), inbox(rUsers), counter(&received)); err != nil {
		return r, err
	}
	var sFilters func(int) []string
	if f.echo {
		sFilters = inbox(sUsers)
	}
	if err := mqttclient.Connect(ctx, addr, f.keepalive, sUsers, senders, 0, n, 16, byte(f.subQoS), sFilters, counter(&echoes)); err != nil {
		return r, err
	}
	all := append(append([]*mqttclient.Client(nil), receivers...), senders...)
	mqttclient.Pinger(ctx, func() []*mqttclient.Client { return all }, f.keepalive/2)

	payload := []byte(strings.Repeat("x", f.bodyBytes))
	start := time.Now()
	winStart := start.Add(f.warmup)
	winEnd := winStart.Add(f.duration)
	winStartNs.Store(winStart.UnixNano())
	winEndNs.Store(winEnd.UnixNano())
	s0, s1, w, err := measure.ClosedLoop(ctx, cancel, measure.Loop{Srv: srv, N: n, WinStart: winStart, WinEnd: winEnd,
		SendTimeout: f.sendTimeout, What: "publishes", OnWindow: f.onWindow}, func(ctx context.Context, i int) (bool, error) {
		c := senders[i]
		if err := c.PublishWait(ctx, "IMS/p2p/"+rUsers[i].User, payload); err != nil {
			return c.ReadErr() != nil, err // stop once the connection has ended
		}
		return false, nil
	})
	if err != nil {
		return r, err
	}
	r.WindowStats = w
	// Let the last deliveries arrive, to count them against the PUBACKs.
	for dl := time.Now().Add(f.drain); time.Now().Before(dl) && received.Load() < w.SentTotal; {
		time.Sleep(10 * time.Millisecond)
	}
	r.serverDeliveries = int64(s1.Metrics["parley_deliveries_total"] - s0.Metrics["parley_deliveries_total"])
	r.connections = int(s1.Metrics["parley_connections"])
	r.received, r.echoes, r.other, r.windowDeliveries = received.Load(), echoes.Load(), other.Load(), inWindow.Load()
	return r, nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

type mqttDurableFlags struct {
	server      string
	senders     []int
	duration    time.Duration
	warmup      time.Duration
	drain       time.Duration
	cpuServer   int
	cpuClient   int
	bodyBytes   int
	authMode    string
	workers     int
	perfDir     string
	keep        bool
	echo        bool
	subQoS      int
	peer        string
	keepalive   time.Duration
	sendTimeout time.Duration
}

func runMQTTDurable(args []string) error {
	fs := flag.NewFlagSet("mqtt-durable", flag.ContinueOnError)
	var f mqttDurableFlags
	var senders string
	fs.StringVar(&f.server, "server", "", "path of the parley binary (required)")
	fs.StringVar(&senders, "senders", "1,16,256", "comma-separated concurrent sender counts; one fresh server per count")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured window per sender count")
	fs.DurationVar(&f.warmup, "warmup", 3*time.Second, "closed-loop sending before the window (not measured)")
	fs.DurationVar(&f.drain, "drain", 5*time.Second, "after the window, wait at most this long for the last deliveries")
	fs.IntVar(&f.cpuServer, "cpu-server", 0, "CPU to pin the server to with taskset (-1: no pinning)")
	fs.IntVar(&f.cpuClient, "cpu-client", 1, "CPU to pin the harness to with taskset (-1: no pinning)")
	fs.IntVar(&f.bodyBytes, "body-bytes", 100, "message body size in bytes (the PUBLISH payload: plain text)")
	fs.StringVar(&f.authMode, "auth", "external", "external: application-signed JWTs as the MQTT password; cli: users and tokens made with 'parley user add' and 'parley token'")
	fs.IntVar(&f.workers, "cli-workers", 2, "parallel 'parley user add/token' processes while preparing (-auth cli)")
	fs.StringVar(&f.perfDir, "perf-dir", "", "if set, record the server with 'perf record -g' during each window into DIR/server-N.data (perf costs CPU: do not use these runs' CPU figures)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary data directories and server logs")
	fs.BoolVar(&f.echo, "echo", false, "senders also subscribe to their own inbox at QoS 1 (they then receive their own messages, like the WebSocket sent-sync)")
	fs.IntVar(&f.subQoS, "sub-qos", 1, "QoS of the receivers' (and with -echo the senders') inbox subscriptions: 1 (every delivery PUBACKed, which advances the device's position) or 0 (a diagnostic: no PUBACK, no device ack)")
	fs.StringVar(&f.peer, "peer", "ws", "ws: after each MQTT measurement, measure the same sender count over WebSocket (the durable scenario, Go SDK) on a fresh server in the same run, for ratios; none: MQTT only")
	fs.DurationVar(&f.keepalive, "keepalive", 60*time.Second, "MQTT keepalive of every client (the harness pings at half of it)")
	fs.DurationVar(&f.sendTimeout, "send-timeout", 30*time.Second, "give up on one publish after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench mqtt-durable -server BIN [flags]\n\n"+
			"Closed-loop QoS 1 publishes over MQTT 3.1.1: sender s<i> publishes to IMS/p2p/r<i> and\n"+
			"waits for the PUBACK (sent after the durable commit); receiver r<i> is subscribed to\n"+
			"IMS/r<i>/Inbox/Msg/# at QoS 1 and PUBACKs every delivery. One fresh server per sender\n"+
			"count. Reports acks/s, PUBACK latency p50/p99, server CPU µs per acked message,\n"+
			"the mean commit batch and the deliveries received.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.server == "" {
		fs.Usage()
		return errNoServer
	}
	for _, s := range strings.Split(senders, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 5000 {
			return fmt.Errorf("-senders: %q is not a count in 1..5000", s)
		}
		f.senders = append(f.senders, n)
	}
	if f.duration <= 0 || f.duration > time.Hour || f.warmup < 0 || f.warmup > 10*time.Minute || f.drain < 0 || f.drain > time.Minute {
		return errors.New("-duration must be in (0, 1h], -warmup in [0, 10m], -drain in [0, 1m]")
	}
	if f.authMode != "cli" && f.authMode != "external" {
		return errors.New("-auth must be cli or external")
	}
	if f.peer != "ws" && f.peer != "none" {
		return errors.New("-peer must be ws or none")
	}
	if f.subQoS != 0 && f.subQoS != 1 {
		return errors.New("-sub-qos must be 0 or 1")
	}
	if f.keepalive < 10*time.Second || f.keepalive > 300*time.Second {
		return errors.New("-keepalive must be in [10s, 300s] (the server's max_keepalive is 300 s by default)")
	}
	bin, err := filepath.Abs(f.server)
	if err != nil {
		return err
	}
	f.server = bin
	pinSelf(f.cpuClient)
	if _, err := checkNoFile(4 * slices.Max(f.senders)); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "parley-bench-mqtt-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Println("data directories under", root)
	} else {
		defer os.RemoveAll(root)
	}
	mach := describeMachine()
	fmt.Printf("machine: %d cores, %s, %s, kernel %s; harness %s GOMAXPROCS=%d pinned=%q; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, runtime.GOMAXPROCS(0), os.Getenv(pinnedEnv), loadAvg())

	maxN := slices.Max(f.senders)
	users := make([]string, 0, 2*maxN)
	for i := range maxN {
		users = append(users, fmt.Sprintf("r%d", i), fmt.Sprintf("s%d", i))
	}
	tmpl := filepath.Join(root, "template")
	if err := os.MkdirAll(tmpl, 0o700); err != nil {
		return err
	}
	var serverEnv []string
	passwords := map[string]string{}
	switch f.authMode {
	case "cli":
		t0 := time.Now()
		fmt.Printf("preparing %d users and tokens with %s user add / token (%d at a time)...\n", len(users), filepath.Base(bin), f.workers)
		if passwords, err = cliTokens(bin, tmpl, users, "load", f.workers); err != nil {
			return err
		}
		fmt.Printf("prepared in %s\n", time.Since(t0).Round(time.Second))
	case "external":
		ext, err := newExternalAuth()
		if err != nil {
			return err
		}
		serverEnv = ext.env()
		for _, u := range users {
			if passwords[u], err = ext.token(u, "load", 2*time.Hour); err != nil {
				return err
			}
		}
	}

	var base float64
	for _, n := range f.senders {
		dir := filepath.Join(root, fmt.Sprintf("run-%d", n))
		if err := copyDir(tmpl, dir); err != nil {
			return err
		}
		r, err := mqttDurableRun(f, n, dir, passwords, serverEnv)
		if err != nil {
			return fmt.Errorf("%d senders: %w", n, err)
		}
		if n == f.senders[0] {
			base = r.ackedPerS
		}
		res := map[string]any{
			"scenario": "mqtt-durable", "senders": n, "acked_per_s": round(r.ackedPerS, 0),
			"p50_ms": round(r.p50, 3), "p99_ms": round(r.p99, 3), "max_ms": round(r.maxLat, 3),
			"server_cpu_us_per_msg": round(r.serverCPUPerMsg, 1), "harness_cpu_us_per_msg": round(r.harnessCPUPerMsg, 1),
			"server_cpu_util": round(r.serverUtil, 2), "harness_cpu_util": round(r.harnessUtil, 2), "other_cpu_util": round(r.otherUtil, 2),
			"commit_batch_mean": round(r.batchMean, 1), "commits_per_s": round(r.commitsPerS, 0),
			"acked": r.acked, "errors": r.errors, "window_s": round(r.window.Seconds(), 2), "body_bytes": f.bodyBytes,
			"run_acked": r.sentTotal, "run_deliveries": r.received, "run_deliveries_missing": r.sentTotal - r.received,
			"run_echoes": r.echoes, "run_other_publishes": r.other, "window_deliveries": r.windowDeliveries,
			"server_sends_delta": r.serverSends, "server_deliveries_delta": r.serverDeliveries,
			"server_connections": r.connections, "echo": f.echo, "sub_qos": f.subQoS, "keepalive_s": int(f.keepalive.Seconds()),
			"gomaxprocs": r.gomaxprocs, "harness_gomaxprocs": runtime.GOMAXPROCS(0), "cores": mach.Cores,
			"cpu_server": f.cpuServer, "cpu_client": f.cpuClient, "auth": f.authMode, "loadavg": r.loadavg, "client": "raw-mqtt-3.1.1",
			"profiled": f.perfDir != "", "date": time.Now().UTC().Format(time.RFC3339),
		}
		if base > 0 && n != f.senders[0] {
			res[fmt.Sprintf("ratio_vs_%d_senders", f.senders[0])] = round(r.ackedPerS/base, 2)
		}
		fmt.Printf("mqtt-durable senders=%d: %.0f acks/s, PUBACK p50 %.2f ms p99 %.2f ms (max %.1f), server CPU %.1f µs/msg (%.2f cores busy), "+
			"harness CPU %.1f µs/msg (%.2f cores), other processes %.2f cores, commit batch mean %.1f (%.0f commits/s), "+
			"deliveries %d of %d acked (%d in the window), errors %d\n",
			n, r.ackedPerS, r.p50, r.p99, r.maxLat, r.serverCPUPerMsg, r.serverUtil, r.harnessCPUPerMsg, r.harnessUtil, r.otherUtil,
			r.batchMean, r.commitsPerS, r.received, r.sentTotal, r.windowDeliveries, r.errors)
		emit(res)
		if !f.keep {
			os.RemoveAll(dir)
			os.Remove(dir + ".server.log")
		}
		if f.peer == "ws" {
			if err := mqttDurablePeer(f, n, root, tmpl, passwords, serverEnv, r, mach); err != nil {
				return fmt.Errorf("%d senders, WebSocket peer: %w", n, err)
			}
		}
	}
	return nil
}

// mqttDurablePeer measures n WebSocket senders (the durable scenario's
// run, with the same users, tokens and window) on a fresh server and
// prints the MQTT/WebSocket ratios of the same run.
func mqttDurablePeer(f mqttDurableFlags, n int, root, tmpl string, tokens map[string]string, env []string, m mqttDurableResult, mach machine) error {
	dir := filepath.Join(root, fmt.Sprintf("run-ws-%d", n))
	if err := copyDir(tmpl, dir); err != nil {
		return err
	}
	if !f.keep {
		defer os.Remove(dir + ".server.log")
		defer os.RemoveAll(dir)
	}
	df := durableFlags{server: f.server, duration: f.duration, warmup: f.warmup, cpuServer: f.cpuServer, cpuClient: f.cpuClient,
		bodyBytes: f.bodyBytes, authMode: f.authMode, sendTimeout: f.sendTimeout}
	w, err := durableRun(df, n, dir, tokens, env)
	if err != nil {
		return err
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return round(a/b, 2)
	}
	fmt.Printf("  peer: websocket senders=%d: %.0f acked/s, ack p50 %.2f ms p99 %.2f ms, server CPU %.1f µs/msg (%.2f cores busy), "+
		"other processes %.2f cores, commit batch mean %.1f; MQTT/WebSocket: acks/s %.2f, server CPU per message %.2f, p50 %.2f\n",
		n, w.ackedPerS, w.p50, w.p99, w.serverCPUPerMsg, w.serverUtil, w.otherUtil, w.batchMean,
		ratio(m.ackedPerS, w.ackedPerS), ratio(m.serverCPUPerMsg, w.serverCPUPerMsg), ratio(m.p50, w.p50))
	emit(map[string]any{
		"scenario": "mqtt-durable-peer", "transport": "websocket", "senders": n, "acked_per_s": round(w.ackedPerS, 0),
		"p50_ms": round(w.p50, 3), "p99_ms": round(w.p99, 3), "server_cpu_us_per_msg": round(w.serverCPUPerMsg, 1),
		"harness_cpu_us_per_msg": round(w.harnessCPUPerMsg, 1), "server_cpu_util": round(w.serverUtil, 2),
		"harness_cpu_util": round(w.harnessUtil, 2), "other_cpu_util": round(w.otherUtil, 2), "commit_batch_mean": round(w.batchMean, 1),
		"acked": w.acked, "errors": w.errors, "window_s": round(w.window.Seconds(), 2), "body_bytes": f.bodyBytes,
		"mqtt_over_ws_acked_per_s": ratio(m.ackedPerS, w.ackedPerS), "mqtt_over_ws_server_cpu_per_msg": ratio(m.serverCPUPerMsg, w.serverCPUPerMsg),
		"mqtt_over_ws_p50": ratio(m.p50, w.p50), "gomaxprocs": w.gomaxprocs, "cores": mach.Cores, "auth": f.authMode,
		"cpu_server": f.cpuServer, "cpu_client": f.cpuClient, "date": time.Now().UTC().Format(time.RFC3339),
	})
	return nil
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
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop server:", err)
		}
	}()
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
		sendTimeout: f.sendTimeout, perfDir: f.perfDir, what: "publishes"}, func(ctx context.Context, i int) (bool, error) {
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

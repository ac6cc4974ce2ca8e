package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/coder/websocket"
)

type mqttIdleFlags struct {
	server      string
	conns       int
	perUser     int
	concurrency int
	settle      time.Duration
	idle        time.Duration
	cpuServer   int
	cpuClient   int
	timeout     time.Duration
	keepalive   time.Duration
	peer        string
	keep        bool
}

func runMQTTIdle(args []string) error {
	fs := flag.NewFlagSet("mqtt-idle", flag.ContinueOnError)
	var f mqttIdleFlags
	fs.StringVar(&f.server, "server", "", "path of the parley binary (required)")
	fs.IntVar(&f.conns, "conns", 10000, "idle authenticated connections to open (per transport)")
	fs.IntVar(&f.perUser, "devices-per-user", 100, "connections (devices) per user: users u0.. with devices d0..")
	fs.IntVar(&f.concurrency, "dial-concurrency", 32, "connections being opened at once")
	fs.DurationVar(&f.settle, "settle", 3*time.Second, "wait after the last connection before measuring")
	fs.DurationVar(&f.idle, "idle", 10*time.Second, "idle window over which the server's CPU is measured")
	fs.IntVar(&f.cpuServer, "cpu-server", 0, "CPU to pin the server to with taskset (-1: no pinning)")
	fs.IntVar(&f.cpuClient, "cpu-client", 1, "CPU to pin the harness to with taskset (-1: no pinning)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up if connecting takes longer than this")
	fs.DurationVar(&f.keepalive, "keepalive", 60*time.Second, "MQTT keepalive of every connection (the harness pings at half of it)")
	fs.StringVar(&f.peer, "peer", "ws", "ws: also measure the same number of idle WebSocket connections (hello + resume) on a fresh server in the same run; none: MQTT only")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary data directories and server logs")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench mqtt-idle -server BIN [flags]\n\n"+
			"Opens N authenticated MQTT 3.1.1 connections (CONNECT with an application-signed token,\n"+
			"then SUBSCRIBE IMS/<user>/Inbox/Msg/# at QoS 1) and keeps them idle; then, on a fresh\n"+
			"server, the same with WebSocket connections (the idle scenario's hello + resume).\n"+
			"Reports per transport the server's RSS delta per connection (VmRSS), Go heap and stacks\n"+
			"per connection, goroutines per connection and idle CPU, and the MQTT/WebSocket ratios.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.server == "" {
		fs.Usage()
		return errNoServer
	}
	if f.conns < 1 || f.conns > 100_000 || f.perUser < 1 || f.concurrency < 1 {
		return errors.New("-conns must be in 1..100000; -devices-per-user and -dial-concurrency at least 1")
	}
	if f.peer != "ws" && f.peer != "none" {
		return errors.New("-peer must be ws or none")
	}
	if f.keepalive < 10*time.Second || f.keepalive > 300*time.Second {
		return errors.New("-keepalive must be in [10s, 300s]")
	}
	bin, err := filepath.Abs(f.server)
	if err != nil {
		return err
	}
	f.server = bin
	pinSelf(f.cpuClient)
	limit, err := checkNoFile(f.conns)
	if err != nil {
		return err
	}
	mach := describeMachine()
	fmt.Printf("machine: %d cores, %s, %s, kernel %s; harness %s GOMAXPROCS=%d pinned=%q; RLIMIT_NOFILE %d; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, runtime.GOMAXPROCS(0), os.Getenv(pinnedEnv), limit, loadAvg())
	root, err := os.MkdirTemp("", "parley-bench-mqtt-idle-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Println("data directories under", root)
	} else {
		defer os.RemoveAll(root)
	}
	transports := []string{"mqtt"}
	if f.peer == "ws" {
		transports = append(transports, "ws")
	}
	results := map[string]idleMeasure{}
	for _, tr := range transports {
		m, err := mqttIdleRun(f, tr, filepath.Join(root, tr))
		if err != nil {
			return fmt.Errorf("%s: %w", tr, err)
		}
		results[tr] = m
		fmt.Printf("%s idle conns=%d: RSS %d -> %d KiB (%d after %s idle): %.2f KiB/conn (marginal, second half: %.2f; after idle %.2f); "+
			"Go heap in use %.2f KiB/conn, stacks %.2f KiB/conn; %.2f goroutines/conn; OS threads %d; idle server CPU %.0f µs/s "+
			"(%.3f µs per conn per s); server reports %d connections; connected in %.1f s\n",
			tr, f.conns, m.base.rssKB, m.full.rssKB, m.end.rssKB, f.idle, m.kbPerConn, m.marginal, m.kbPerConnEnd,
			m.heapPer, m.stackPer, m.gorPer, m.full.threads, m.idleCPU, m.idleCPU/float64(f.conns), int(m.full.connections), m.connect.Seconds())
		res := map[string]any{
			"scenario": "mqtt-idle", "transport": tr, "conns": f.conns,
			"kb_per_conn": round(m.kbPerConn, 2), "kb_per_conn_marginal": round(m.marginal, 2), "kb_per_conn_after_idle": round(m.kbPerConnEnd, 2),
			"heap_kb_per_conn": round(m.heapPer, 2), "stack_kb_per_conn": round(m.stackPer, 2), "goroutines_per_conn": round(m.gorPer, 2),
			"heap_kb_per_conn_after_idle": round((m.end.heapInuse-m.base.heapInuse)/1024/float64(f.conns), 2),
			"rss_base_kb":                 m.base.rssKB, "rss_kb": m.full.rssKB, "rss_after_idle_kb": m.end.rssKB, "rss_peak_kb": m.hwm,
			"server_connections": int(m.full.connections), "threads": m.full.threads,
			"idle_cpu_us_per_s": round(m.idleCPU, 0), "connect_s": round(m.connect.Seconds(), 1), "idle_s": round(m.idleSecs, 1),
			"gc_cycles_during_idle": int(m.end.gcCount - m.full.gcCount), "keepalive_s": int(f.keepalive.Seconds()),
			"gomaxprocs": gomaxprocsOf(m.full.metrics), "harness_gomaxprocs": runtime.GOMAXPROCS(0), "cores": mach.Cores,
			"cpu_server": f.cpuServer, "cpu_client": f.cpuClient, "devices_per_user": f.perUser, "loadavg": loadAvg(),
			"date": time.Now().UTC().Format(time.RFC3339),
		}
		if m.end.gcCount > m.full.gcCount {
			// Live heap estimated from the goal of a GC that ran while idle
			// (as the idle scenario does); meaningless without one.
			res["heap_live_est_kb_per_conn_after_idle"] = round(m.end.liveEst/1024/float64(f.conns), 2)
		}
		emit(res)
	}
	if w, ok := results["ws"]; ok {
		m := results["mqtt"]
		ratio := func(a, b float64) float64 {
			if b == 0 {
				return 0
			}
			return round(a/b, 2)
		}
		fmt.Printf("mqtt/ws at %d idle connections: RSS per conn %.2f, heap per conn %.2f, goroutines per conn %.2f, idle CPU %.2f\n",
			f.conns, ratio(m.kbPerConn, w.kbPerConn), ratio(m.heapPer, w.heapPer), ratio(m.gorPer, w.gorPer), ratio(m.idleCPU, w.idleCPU))
		emit(map[string]any{
			"scenario": "mqtt-idle-ratio", "conns": f.conns,
			"mqtt_over_ws_kb_per_conn": ratio(m.kbPerConn, w.kbPerConn), "mqtt_over_ws_heap_per_conn": ratio(m.heapPer, w.heapPer),
			"mqtt_over_ws_goroutines_per_conn": ratio(m.gorPer, w.gorPer), "mqtt_over_ws_idle_cpu": ratio(m.idleCPU, w.idleCPU),
			"date": time.Now().UTC().Format(time.RFC3339),
		})
	}
	return nil
}

// idleMeasure is one transport's idle measurement.
type idleMeasure struct {
	base, mid, full, end              memState
	hwm                               int64
	kbPerConn, kbPerConnEnd, marginal float64
	heapPer, stackPer, gorPer         float64
	idleCPU, idleSecs                 float64
	connect                           time.Duration
}

// mqttIdleRun starts a fresh server and measures f.conns idle connections
// of transport ("mqtt" or "ws") on it, like the idle scenario: baseline, at
// N/2, at N, and after an idle window.
func mqttIdleRun(f mqttIdleFlags, transport, dir string) (idleMeasure, error) {
	var m idleMeasure
	ext, err := newExternalAuth()
	if err != nil {
		return m, err
	}
	srv, err := startServer(f.server, dir, f.cpuServer, ext.env())
	if err != nil {
		return m, err
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop server:", err)
		}
	}()
	if !f.keep {
		defer os.Remove(dir + ".server.log")
	}
	addr, err := mqttAddr(srv)
	if err != nil {
		return m, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout+2*f.settle+f.idle+2*time.Minute)
	defer cancel()
	time.Sleep(time.Second)
	if m.base, err = memSnapshot(ctx, srv); err != nil {
		return m, err
	}

	// The connections of both transports: user u<i/perUser>, device d<i>.
	var open func(ctx context.Context, lo, hi int) error
	afterOpen := func() {}
	switch transport {
	case "mqtt":
		users := make([]mqttUser, f.conns)
		for i := range users {
			u, d := fmt.Sprintf("u%d", i/f.perUser), fmt.Sprintf("d%d", i)
			tok, err := ext.token(u, d, 2*time.Hour)
			if err != nil {
				return m, err
			}
			users[i] = mqttUser{user: u, device: d, password: tok}
		}
		conns := make([]*mqttClient, f.conns)
		defer closeMQTT(conns)
		inbox := func(i int) []string { return []string{"IMS/" + users[i].user + "/Inbox/Msg/#"} }
		open = func(ctx context.Context, lo, hi int) error {
			return connectMQTT(ctx, addr, f.keepalive, users, conns, lo, hi, f.concurrency, 1, inbox, nil)
		}
		// Pings start once every connection is open (one goroutine pings all).
		afterOpen = func() { mqttPinger(ctx, func() []*mqttClient { return conns }, f.keepalive/2) }
	case "ws":
		wsURL := "ws" + strings.TrimPrefix(srv.url, "http") + "/v1/ws"
		conns := make([]*websocket.Conn, f.conns)
		defer closeAll(conns)
		wf := idleFlags{perUser: f.perUser, concurrency: f.concurrency}
		open = func(ctx context.Context, lo, hi int) error {
			return openConns(ctx, wsURL, ext, conns, lo, hi, wf)
		}
	default:
		return m, fmt.Errorf("unknown transport %q", transport)
	}

	half := f.conns / 2
	t0 := time.Now()
	dialCtx, dialCancel := context.WithTimeout(ctx, f.timeout)
	defer dialCancel()
	if err := open(dialCtx, 0, half); err != nil {
		return m, err
	}
	m.connect = time.Since(t0)
	if half > 0 {
		time.Sleep(f.settle)
		if m.mid, err = memSnapshot(ctx, srv); err != nil {
			return m, err
		}
	}
	t1 := time.Now()
	if err := open(dialCtx, half, f.conns); err != nil {
		return m, err
	}
	m.connect += time.Since(t1)
	afterOpen()
	time.Sleep(f.settle)
	if m.full, err = memSnapshot(ctx, srv); err != nil {
		return m, err
	}
	if int(m.full.connections) != f.conns {
		fmt.Fprintf(os.Stderr, "warning: %s: the server reports %d connections, expected %d\n", transport, int(m.full.connections), f.conns)
	}
	c0, _ := procCPU(srv.pid)
	i0 := time.Now()
	time.Sleep(f.idle)
	c1, _ := procCPU(srv.pid)
	m.idleSecs = time.Since(i0).Seconds()
	if m.end, err = memSnapshot(ctx, srv); err != nil {
		return m, err
	}
	m.hwm, _ = procStatus(srv.pid, "VmHWM")
	n := float64(f.conns)
	m.kbPerConn = float64(m.full.rssKB-m.base.rssKB) / n
	m.kbPerConnEnd = float64(m.end.rssKB-m.base.rssKB) / n
	if half > 0 {
		m.marginal = float64(m.full.rssKB-m.mid.rssKB) / float64(f.conns-half)
	}
	m.heapPer = (m.full.heapInuse - m.base.heapInuse) / 1024 / n
	m.stackPer = (m.full.stackInuse - m.base.stackInuse) / 1024 / n
	m.gorPer = (m.full.goroutines - m.base.goroutines) / n
	m.idleCPU = float64(c1-c0) * 1e6 / clockTicks / m.idleSecs
	return m, nil
}

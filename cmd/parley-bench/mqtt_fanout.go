package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	parley "github.com/parley-im/parley/sdk/go"
)

type mqttFanoutFlags struct {
	server      string
	members     int
	messages    int
	rate        float64
	qos         []byte
	bodyBytes   int
	concurrency int
	baseline    time.Duration
	timeout     time.Duration
	cpuServer   int
	cpuClient   int
	keepalive   time.Duration
	perfDir     string
	keep        bool
}

func runMQTTFanout(args []string) error {
	fs := flag.NewFlagSet("mqtt-fanout", flag.ContinueOnError)
	var f mqttFanoutFlags
	var qos string
	fs.StringVar(&f.server, "server", "", "path of the parley binary (required)")
	fs.IntVar(&f.members, "members", 1000, "group members, each one MQTT connection subscribed to the group topic")
	fs.IntVar(&f.messages, "messages", 50, "messages the sender publishes (K)")
	fs.Float64Var(&f.rate, "rate", 10, "messages per second the sender publishes (open loop, fixed rate)")
	fs.StringVar(&qos, "qos", "1,0", "comma-separated subscription QoS variants; one fresh server per variant")
	fs.IntVar(&f.bodyBytes, "body-bytes", 100, "message body size in bytes")
	fs.IntVar(&f.concurrency, "dial-concurrency", 32, "connections being opened at once")
	fs.DurationVar(&f.baseline, "baseline", 2*time.Second, "measure the server's idle CPU with all members connected for this long before sending (subtracted in server_cpu_us_per_delivery_net)")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "after the last publish, wait at most this long for the deliveries")
	fs.IntVar(&f.cpuServer, "cpu-server", 0, "CPU to pin the server to with taskset (-1: no pinning)")
	fs.IntVar(&f.cpuClient, "cpu-client", 1, "CPU to pin the harness to with taskset (-1: no pinning)")
	fs.DurationVar(&f.keepalive, "keepalive", 60*time.Second, "MQTT keepalive of every client (the harness pings at half of it)")
	fs.StringVar(&f.perfDir, "perf-dir", "", "if set, record the server with 'perf record -g' while sending into DIR/fanout-qosQ.data (perf costs CPU: do not use these runs' CPU figures)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary data directories and server logs")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench mqtt-fanout -server BIN [flags]\n\n"+
			"One group of M members, each connected over MQTT 3.1.1 and subscribed to IMS/<group>/#\n"+
			"at the QoS of the variant (QoS 1: every delivery is PUBACKed). One sender publishes K\n"+
			"messages at QoS 1 at a fixed rate. Reports server CPU µs per delivery and the time from\n"+
			"a publish to its delivery at the last member, p50/p99 over the K messages.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.server == "" {
		fs.Usage()
		return errNoServer
	}
	for _, s := range strings.Split(qos, ",") {
		q, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || q < 0 || q > 1 {
			return fmt.Errorf("-qos: %q is not 0 or 1", s)
		}
		f.qos = append(f.qos, byte(q))
	}
	if f.members < 1 || f.members > 50_000 || f.messages < 1 || f.messages > 100_000 || f.rate <= 0 || f.rate > 10_000 {
		return errors.New("-members must be in 1..50000, -messages in 1..100000, -rate in (0, 10000]")
	}
	if float64(f.messages)/f.rate > 3600 || f.timeout <= 0 || f.timeout > 10*time.Minute || f.baseline < 0 || f.baseline > time.Minute {
		return errors.New("sending must take at most 1 h (-messages / -rate), -timeout must be in (0, 10m], -baseline in [0, 1m]")
	}
	if f.bodyBytes < 16 || f.keepalive < 10*time.Second || f.keepalive > 300*time.Second {
		return errors.New("-body-bytes must be at least 16 and -keepalive in [10s, 300s]")
	}
	bin, err := filepath.Abs(f.server)
	if err != nil {
		return err
	}
	f.server = bin
	pinSelf(f.cpuClient)
	if _, err := checkNoFile(f.members + 1); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "parley-bench-mqtt-fanout-")
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
	for _, q := range f.qos {
		dir := filepath.Join(root, fmt.Sprintf("qos%d", q))
		r, err := mqttFanoutRun(f, q, dir)
		if err != nil {
			return fmt.Errorf("qos %d: %w", q, err)
		}
		fmt.Printf("mqtt-fanout qos=%d members=%d messages=%d at %.1f/s: %d of %d deliveries in %.2f s; server CPU %.2f µs/delivery "+
			"(%.2f net of idle; %.2f cores busy while sending), harness %.2f cores, other processes %.2f cores; "+
			"time to last member p50 %.2f ms p99 %.2f ms (max %.1f); delivery latency p50 %.2f ms p99 %.2f ms; "+
			"sender PUBACKs %d; duplicates %d; connections %d -> %d\n",
			q, f.members, f.messages, f.rate, r.deliveries, r.expected, r.window.Seconds(), r.cpuPerDelivery, r.cpuPerDeliveryNet,
			r.serverUtil, r.harnessUtil, r.otherUtil, r.lastP50, r.lastP99, r.lastMax, r.delivP50, r.delivP99, r.senderAcks, r.duplicates,
			r.connsBefore, r.connsAfter)
		emit(map[string]any{
			"scenario": "mqtt-fanout", "qos": int(q), "members": f.members, "messages": f.messages, "rate_per_s": f.rate,
			"deliveries": r.deliveries, "expected_deliveries": r.expected, "duplicates": r.duplicates, "other_publishes": r.other,
			"server_cpu_us_per_delivery": round(r.cpuPerDelivery, 2), "server_cpu_us_per_delivery_net": round(r.cpuPerDeliveryNet, 2),
			"server_cpu_us_per_message": round(r.cpuPerDelivery*float64(f.members), 0),
			"server_idle_cpu_us_per_s":  round(r.idleUsPerS, 0), "server_cpu_util": round(r.serverUtil, 2),
			"harness_cpu_util": round(r.harnessUtil, 2), "other_cpu_util": round(r.otherUtil, 2),
			"harness_cpu_us_per_delivery": round(r.harnessPerDelivery, 2),
			"last_member_p50_ms":          round(r.lastP50, 3), "last_member_p99_ms": round(r.lastP99, 3), "last_member_max_ms": round(r.lastMax, 3),
			"delivery_p50_ms": round(r.delivP50, 3), "delivery_p99_ms": round(r.delivP99, 3),
			"sender_pubacks": r.senderAcks, "window_s": round(r.window.Seconds(), 2), "connect_s": round(r.connect.Seconds(), 1),
			"server_connections_before": r.connsBefore, "server_connections_after": r.connsAfter,
			"server_deliveries_delta": r.serverDeliveries, "server_sends_delta": r.serverSends,
			"body_bytes": f.bodyBytes, "gomaxprocs": r.gomaxprocs, "harness_gomaxprocs": runtime.GOMAXPROCS(0), "cores": mach.Cores,
			"cpu_server": f.cpuServer, "cpu_client": f.cpuClient, "auth": "external", "loadavg": loadAvg(), "client": "raw-mqtt-3.1.1",
			"profiled": f.perfDir != "", "date": time.Now().UTC().Format(time.RFC3339),
		})
		if !f.keep {
			os.RemoveAll(dir)
			os.Remove(dir + ".server.log")
		}
	}
	return nil
}

type mqttFanoutResult struct {
	expected, deliveries, duplicates, other, senderAcks int64
	serverDeliveries, serverSends                       int64
	window, connect                                     time.Duration
	cpuPerDelivery, cpuPerDeliveryNet, idleUsPerS       float64
	harnessPerDelivery                                  float64
	serverUtil, harnessUtil, otherUtil                  float64
	lastP50, lastP99, lastMax, delivP50, delivP99       float64
	connsBefore, connsAfter, gomaxprocs                 int
}

func mqttFanoutRun(f mqttFanoutFlags, qos byte, dir string) (mqttFanoutResult, error) {
	var r mqttFanoutResult
	ext, err := newExternalAuth()
	if err != nil {
		return r, err
	}
	srv, err := startServer(f.server, dir, f.cpuServer, ext.env())
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
	sendTime := float64(f.messages) / f.rate
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+f.baseline+f.timeout+time.Duration(sendTime*float64(time.Second)))
	defer cancel()

	const sender = "fs"
	members := make([]mqttUser, f.members)
	names := make([]string, f.members)
	for i := range members {
		names[i] = fmt.Sprintf("m%d", i)
		tok, err := ext.token(names[i], "load", 2*time.Hour)
		if err != nil {
			return r, err
		}
		members[i] = mqttUser{user: names[i], device: "load", password: tok}
	}
	senderTok, err := ext.token(sender, "load", 2*time.Hour)
	if err != nil {
		return r, err
	}

	// recv[i][k]: when member i received message k (ns since start; 0: not yet).
	start := time.Now()
	recv := make([][]int64, f.members)
	for i := range recv {
		recv[i] = make([]int64, f.messages)
	}
	var got, dups, other atomic.Int64
	onPublish := func(i int) func(*mqttPub, time.Time) {
		return func(p *mqttPub, at time.Time) {
			d, err := parseDelivery(p.Payload)
			k := fanIndex(d.Body)
			if err != nil || k < 0 || k >= f.messages {
				other.Add(1)
				return
			}
			if recv[i][k] != 0 {
				dups.Add(1)
				return
			}
			recv[i][k] = max(at.Sub(start).Nanoseconds(), 1)
			got.Add(1)
		}
	}

	// 1. Connect: with application-signed tokens, a user is created on its
	// first authentication, so the group can name the members afterwards.
	t0 := time.Now()
	conns := make([]*mqttClient, f.members)
	defer closeMQTT(conns)
	senderConn := make([]*mqttClient, 1)
	defer closeMQTT(senderConn)
	if err := connectMQTT(ctx, addr, f.keepalive, []mqttUser{{user: sender, device: "load", password: senderTok}}, senderConn, 0, 1, 1, 1, nil, nil); err != nil {
		return r, err
	}
	if err := connectMQTT(ctx, addr, f.keepalive, members, conns, 0, f.members, f.concurrency, qos, nil, onPublish); err != nil {
		return r, err
	}
	// 2. The group, created by the sender over HTTP with every member.
	api := &parley.API{BaseURL: srv.url, Token: senderTok}
	gctx, gcancel := context.WithTimeout(ctx, 2*time.Minute)
	conv, err := api.CreateGroup(gctx, "loadtest fan-out", names...)
	gcancel()
	if err != nil {
		return r, fmt.Errorf("create group: %w", err)
	}
	group := conv.ID
	// 3. Every member subscribes to the group's topics.
	if err := subscribeAll(ctx, conns, f.concurrency, qos, "IMS/"+group+"/#"); err != nil {
		return r, err
	}
	r.connect = time.Since(t0)
	all := append([]*mqttClient{senderConn[0]}, conns...)
	mqttPinger(ctx, func() []*mqttClient { return all }, f.keepalive/2)
	fmt.Printf("qos %d: %d members connected, in group %s and subscribed to IMS/%s/# in %s\n",
		qos, f.members, group, group, r.connect.Round(time.Millisecond))

	// 4. Idle baseline with everyone connected.
	time.Sleep(time.Second)
	if f.baseline > 0 {
		c0, _ := procCPU(srv.pid)
		b0 := time.Now()
		time.Sleep(f.baseline)
		c1, _ := procCPU(srv.pid)
		r.idleUsPerS = float64(c1-c0) * 1e6 / clockTicks / time.Since(b0).Seconds()
	}

	// 5. Send K messages at the fixed rate; the PUBACKs are counted.
	s0, err := takeSnapshot(ctx, srv)
	if err != nil {
		return r, err
	}
	r.connsBefore = int(s0.metrics["parley_connections"])
	sc := senderConn[0]
	var acks atomic.Int64
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		for {
			select {
			case <-sc.pubacks:
				if acks.Add(1) == int64(f.messages) {
					return
				}
			case <-sc.done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	var perf *exec.Cmd
	if f.perfDir != "" {
		perf = startPerfNamed(f.perfDir, fmt.Sprintf("fanout-qos%d", qos), srv.pid, time.Duration(sendTime*float64(time.Second))+time.Second)
	}
	sentAt := make([]int64, f.messages)
	topic := "IMS/" + group + "/" + sender
	interval := time.Duration(float64(time.Second) / f.rate)
	sendStart := time.Now()
	for k := range f.messages {
		time.Sleep(time.Until(sendStart.Add(time.Duration(k) * interval)))
		sentAt[k] = time.Since(start).Nanoseconds()
		if _, err := sc.publish(topic, []byte(fanBody(k, f.bodyBytes)), 1); err != nil {
			return r, fmt.Errorf("publish %d: %w", k, err)
		}
	}
	r.expected = int64(f.messages) * int64(f.members)
	deadline := time.Now().Add(f.timeout)
	for got.Load() < r.expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	s1, err := takeSnapshot(ctx, srv)
	if err != nil {
		return r, err
	}
	select {
	case <-ackDone:
	case <-time.After(5 * time.Second):
	}
	if perf != nil {
		_ = perf.Wait()
	}
	// Let late duplicates or stray publishes show up before counting, then
	// end the readers (so that recv is no longer written).
	time.Sleep(200 * time.Millisecond)
	closeMQTT(conns)

	r.deliveries, r.duplicates, r.other, r.senderAcks = got.Load(), dups.Load(), other.Load(), acks.Load()
	if r.deliveries < r.expected {
		fmt.Fprintf(os.Stderr, "qos %d: only %d of %d deliveries arrived within %s of the last publish\n", qos, r.deliveries, r.expected, f.timeout)
	}
	r.window = s1.at.Sub(s0.at)
	secs := r.window.Seconds()
	serverUs := float64(s1.serverTicks-s0.serverTicks) * 1e6 / clockTicks
	harnessUs := float64((s1.harness - s0.harness).Microseconds())
	if r.deliveries > 0 {
		r.cpuPerDelivery = serverUs / float64(r.deliveries)
		r.cpuPerDeliveryNet = max(serverUs-r.idleUsPerS*secs, 0) / float64(r.deliveries)
		r.harnessPerDelivery = harnessUs / float64(r.deliveries)
	}
	r.serverUtil = serverUs / 1e6 / secs
	r.harnessUtil = harnessUs / 1e6 / secs
	if dt := s1.total - s0.total; dt > 0 {
		busyCores := float64(s1.busy-s0.busy) / float64(dt) * float64(describeMachine().Cores)
		r.otherUtil = max(busyCores-r.serverUtil-r.harnessUtil, 0)
	}
	r.serverDeliveries = int64(s1.metrics["parley_deliveries_total"] - s0.metrics["parley_deliveries_total"])
	r.serverSends = int64(s1.metrics["parley_sends_total"] - s0.metrics["parley_sends_total"])
	r.connsAfter = int(s1.metrics["parley_connections"])
	r.gomaxprocs = gomaxprocsOf(s1.metrics)

	last, lat := fanoutLatencies(sentAt, recv)
	if len(last) > 0 {
		r.lastP50, r.lastP99, r.lastMax = ms(percentileNs(last, 0.5)), ms(percentileNs(last, 0.99)), ms(time.Duration(last[len(last)-1]))
	}
	if len(lat) > 0 {
		r.delivP50, r.delivP99 = ms(percentileNs(lat, 0.5)), ms(percentileNs(lat, 0.99))
	}
	return r, nil
}

// fanoutLatencies returns, sorted, the time from each message's publish to
// its delivery at the last member (only messages every member received)
// and the latency of every delivery. sentAt[k] and recv[i][k] are
// nanoseconds since a common start; recv 0 means not received.
func fanoutLatencies(sentAt []int64, recv [][]int64) (last, all []int64) {
	for k, s := range sentAt {
		worst, complete := int64(0), true
		for i := range recv {
			t := recv[i][k]
			if t == 0 {
				complete = false
				continue
			}
			d := t - s
			all = append(all, d)
			worst = max(worst, d)
		}
		if complete && len(recv) > 0 {
			last = append(last, worst)
		}
	}
	slices.Sort(last)
	slices.Sort(all)
	return last, all
}

// subscribeAll subscribes every client to filter at qos, concurrency at a time.
func subscribeAll(ctx context.Context, cs []*mqttClient, concurrency int, qos byte, filter string) error {
	sem := make(chan struct{}, max(concurrency, 1))
	errs := make(chan error, len(cs))
	for i, c := range cs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := c.subscribe(sctx, qos, filter); err != nil {
				errs <- fmt.Errorf("member %d: %w", i, err)
			}
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

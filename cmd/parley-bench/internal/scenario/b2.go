package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/mqttclient"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
	"github.com/parley-im/parley/cmd/parley-bench/internal/wsclient"
	parley "github.com/parley-im/parley/sdk/go"
)

func init() {
	register(Scenario{"b2", "group fan-out: groups of 1,000 and 10,000 members at stepped rates (WebSocket, MQTT, Mosquitto)", runB2})
}

type b2Flags struct {
	common
	members     []int
	rates       []float64
	step        time.Duration
	qos         []byte
	protocols   []string
	bodyBytes   int
	concurrency int
	timeout     time.Duration
	keepalive   time.Duration
}

func runB2(args []string) error {
	fs := flag.NewFlagSet("b2", flag.ContinueOnError)
	var f b2Flags
	f.flags(fs, true)
	var members, rates, qos, protocols string
	fs.StringVar(&members, "members", "1000,10000", "group sizes; one fresh server (or broker) per size and variant")
	fs.StringVar(&rates, "rates", "2,10,50", "messages per second the sender publishes, stepped up in this order on the same connections")
	fs.DurationVar(&f.step, "step", 10*time.Second, "how long each rate step sends (at least 3 messages)")
	fs.StringVar(&qos, "qos", "1,0", "subscription QoS of the MQTT variants (Parley and Mosquitto)")
	fs.StringVar(&protocols, "protocols", "ws,mqtt", "Parley's protocols to measure (ws, mqtt); Mosquitto runs the mqtt variants")
	fs.IntVar(&f.bodyBytes, "body-bytes", 100, "message body size in bytes")
	fs.IntVar(&f.concurrency, "dial-concurrency", 32, "connections being opened at once")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "after a step's last publish, wait at most this long for its deliveries")
	fs.DurationVar(&f.keepalive, "keepalive", 60*time.Second, "MQTT keepalive of every client (the generator pings at half of it)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench b2 -server BIN [flags]\n\n"+
			"One group of M members, each its own connection: Parley over WebSocket (hello + resume;\n"+
			"group messages arrive as live deliveries) and over MQTT 3.1.1 (subscribed to\n"+
			"IMS/<group>/# at the variant's QoS), and Mosquitto (subscribed to one topic, anonymous,\n"+
			"persistence off). One sender publishes at a fixed rate (open loop; QoS 1 over MQTT),\n"+
			"stepping the rate up. Per step: deliveries per second, per-member latency p50/p99/p999\n"+
			"(from the scheduled publish time), time to the last member p50/p99, lost and duplicated\n"+
			"deliveries, and server CPU µs per delivery (server_cpu_us_per_msg). Stepping stops\n"+
			"when more than 0.1%% of a step's deliveries are missing.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	for _, s := range strings.Split(members, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 18_000 {
			return fmt.Errorf("-members: %q is not a count in 1..18000 (one generator process has about 20,000 file descriptors)", s)
		}
		f.members = append(f.members, n)
	}
	for _, s := range strings.Split(rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 || r > 10_000 {
			return fmt.Errorf("-rates: %q is not a rate in (0, 10000]", s)
		}
		f.rates = append(f.rates, r)
	}
	for _, s := range strings.Split(qos, ",") {
		q, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || q < 0 || q > 1 {
			return fmt.Errorf("-qos: %q is not 0 or 1", s)
		}
		f.qos = append(f.qos, byte(q))
	}
	if f.protocols, err = parseProtocols(protocols); err != nil {
		return err
	}
	if f.step <= 0 || f.step > 10*time.Minute || f.timeout <= 0 || f.timeout > 10*time.Minute {
		return errors.New("-step and -timeout must be in (0, 10m]")
	}
	if f.bodyBytes < 16 || f.bodyBytes > 60_000 || f.concurrency < 1 || f.keepalive < 10*time.Second || f.keepalive > 300*time.Second {
		return errors.New("-body-bytes must be in 16..60000, -dial-concurrency at least 1, -keepalive in [10s, 300s]")
	}
	root, done, err := f.setup("b2")
	if err != nil {
		return err
	}
	defer done()
	limit, err := proc.CheckNoFile(slices.Max(f.members) + 16)
	if err != nil {
		return err
	}
	printMachine(limit)
	for _, m := range f.members {
		var vs []fanVariant
		if f.peers == "mosquitto" && has(f.protocols, "mqtt") {
			for _, q := range f.qos {
				vs = append(vs, fanVariant{system: "mosquitto", protocol: "mqtt", qos: q})
			}
		}
		for _, p := range f.protocols {
			if p == "ws" {
				vs = append(vs, fanVariant{system: "parley", protocol: "ws"})
				continue
			}
			for _, q := range f.qos {
				vs = append(vs, fanVariant{system: "parley", protocol: "mqtt", qos: q})
			}
		}
		for _, v := range vs {
			dir := filepath.Join(root, fmt.Sprintf("%s-%s-q%d-m%d", v.system, v.protocol, v.qos, m))
			if err := b2Variant(&f, v, m, dir); err != nil {
				return fmt.Errorf("%s/%s members=%d: %w", v.system, v.label(), m, err)
			}
			if !f.keep {
				os.RemoveAll(dir)
			}
		}
	}
	return nil
}

// fanVariant is one system and protocol of the fan-out.
type fanVariant struct {
	system, protocol string
	qos              byte // MQTT subscriptions
}

func (v fanVariant) label() string {
	if v.protocol == "mqtt" {
		return fmt.Sprintf("mqtt-qos%d", v.qos)
	}
	return v.protocol
}

// fanStep is what the members record during one rate step: recv[i][k] is
// when member i received message k (ns since the step's start, 0: not
// yet), written by member i's reader and read by the step's end.
type fanStep struct {
	id    int
	start time.Time
	recv  [][]int64
	got   atomic.Int64
	dups  atomic.Int64
	other atomic.Int64
}

// record notes that member i received the message with body at time at.
func (st *fanStep) record(i int, body string, at time.Time) {
	step, k, ok := parseFanBody(body)
	if !ok || step != st.id || k >= len(st.recv[i]) {
		st.other.Add(1) // a late delivery of an earlier step, or not ours
		return
	}
	if !atomic.CompareAndSwapInt64(&st.recv[i][k], 0, max(at.Sub(st.start).Nanoseconds(), 1)) {
		st.dups.Add(1)
		return
	}
	st.got.Add(1)
}

// fanBodyOf is message k of step s, padded to n bytes.
func fanBodyOf(s, k, n int) string {
	b := fmt.Sprintf("b2 %d %d ", s, k)
	if len(b) < n {
		b += strings.Repeat("x", n-len(b))
	}
	return b
}

func parseFanBody(b string) (step, k int, ok bool) {
	f := strings.SplitN(b, " ", 4)
	if len(f) < 3 || f[0] != "b2" {
		return 0, 0, false
	}
	s, err1 := strconv.Atoi(f[1])
	k, err2 := strconv.Atoi(f[2])
	return s, k, err1 == nil && err2 == nil && s >= 0 && k >= 0
}

// errBehind is a publish the sender could not issue on schedule because
// too many of its sends await their acks: the server does not keep up.
var errBehind = errors.New("256 sends in flight: the server does not keep up")

// fanTarget is a running system with a group of members connected and a
// sender ready.
type fanTarget struct {
	pid     int
	srv     *proc.Server            // Parley only
	publish func(body string) error // one message from the sender, open loop
	close   func()                  // ends connections and the server
	cur     atomic.Pointer[fanStep] // the step the members record into
	members int
}

func b2Variant(f *b2Flags, v fanVariant, members int, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute+time.Duration(len(f.rates))*(f.step+f.timeout))
	defer cancel()
	t0 := time.Now()
	t, err := startFanTarget(ctx, f, v, members, dir)
	if err != nil {
		return err
	}
	defer t.close()
	fmt.Printf("b2 %s/%s: %d members connected in %s\n", v.system, v.label(), members, time.Since(t0).Round(time.Millisecond))
	time.Sleep(time.Second)
	for si, rate := range f.rates {
		n := max(3, int(rate*f.step.Seconds()+0.5))
		st := &fanStep{id: si, recv: make([][]int64, members)}
		for i := range st.recv {
			st.recv[i] = make([]int64, n)
		}
		cpu0, _ := measure.ProcCPUTime(t.pid)
		gen0 := proc.SelfCPU()
		var wait func() error
		if t.srv != nil {
			wait = f.profile(t.srv, fmt.Sprintf("b2-%s-m%d-r%g", v.label(), members, rate), f.step)
		}
		st.start = time.Now()
		t.cur.Store(st)
		sentAt := make([]int64, n)
		interval := time.Duration(float64(time.Second) / rate)
		var sendErr error
		notSent := 0
		for k := range n {
			at := time.Duration(k) * interval
			time.Sleep(time.Until(st.start.Add(at)))
			sentAt[k] = at.Nanoseconds() // latency counts from the schedule
			if err := t.publish(fanBodyOf(si, k, f.bodyBytes)); errors.Is(err, errBehind) {
				notSent++ // open loop: the schedule goes on; its deliveries count as lost
			} else if err != nil {
				sendErr = fmt.Errorf("publish %d: %w", k, err)
				break
			}
		}
		expected := int64(n) * int64(members)
		deadline := time.Now().Add(f.timeout)
		for st.got.Load() < expected && time.Now().Before(deadline) && ctx.Err() == nil && sendErr == nil {
			time.Sleep(2 * time.Millisecond)
		}
		window := time.Since(st.start)
		cpu1, _ := measure.ProcCPUTime(t.pid)
		gen1 := proc.SelfCPU()
		if wait != nil {
			if err := wait(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		if sendErr != nil {
			return sendErr
		}
		got := st.got.Load()
		last, all := fanLatencies(sentAt, st.recv)
		res := report.NewResult("b2", v.system, v.protocol, fmt.Sprintf("members=%d,rate=%g/s", members, rate), f.placement())
		res["members"], res["rate_per_s"], res["messages"] = members, rate, n
		if v.protocol == "mqtt" {
			res["qos"] = int(v.qos)
		}
		res[report.KDelivered] = report.Round(float64(got)/window.Seconds(), 0)
		res[report.KLost], res[report.KDuplicated], res["other_deliveries"] = expected-got, st.dups.Load(), st.other.Load()
		res["not_sent"] = notSent
		res[report.KP50], res[report.KP99], res[report.KP999] = report.Round(measure.Ms(measure.PercentileNs(all, 0.5)), 3), report.Round(measure.Ms(measure.PercentileNs(all, 0.99)), 3), report.Round(measure.Ms(measure.PercentileNs(all, 0.999)), 3)
		res[report.KTimeToLast], res["time_to_last_p99_ms"] = report.Round(measure.Ms(measure.PercentileNs(last, 0.5)), 3), report.Round(measure.Ms(measure.PercentileNs(last, 0.99)), 3)
		if got > 0 {
			res[report.KCPUPerMsg] = report.Round(float64((cpu1-cpu0).Microseconds())/float64(got), 2)
		}
		srvUtil, genUtil := (cpu1-cpu0).Seconds()/window.Seconds(), (gen1-gen0).Seconds()/window.Seconds()
		res["server_cpu_util"], res["generator_cpu_util"] = report.Round(srvUtil, 3), report.Round(genUtil, 3)
		// Which side ran out of CPU, if one did: on one core, 90 % busy is
		// full. A step where the generator is full measures the generator.
		res["server_saturated"], res["generator_saturated"] = srvUtil >= 0.9, genUtil >= 0.9
		if t.srv != nil {
			if m, err := t.srv.Metrics(ctx); err == nil {
				res["server_gomaxprocs"] = proc.GomaxprocsOf(m)
			}
		} else {
			res["server_gomaxprocs"] = 1
		}
		fmt.Printf("b2 %s/%s members=%d rate=%g/s: %d of %d deliveries (%d duplicated), %.0f/s; latency p50 %.1f ms p99 %.1f ms; "+
			"time to last member p50 %.1f ms p99 %.1f ms; server %v µs CPU per delivery\n",
			v.system, v.label(), members, rate, got, expected, st.dups.Load(), res[report.KDelivered], res[report.KP50], res[report.KP99],
			res[report.KTimeToLast], res["time_to_last_p99_ms"], res[report.KCPUPerMsg])
		report.EmitResult(res)
		if float64(expected-got) > 0.001*float64(expected) {
			fmt.Printf("b2 %s/%s members=%d: more than 0.1%% of the deliveries missing at %g/s: stepping stops\n", v.system, v.label(), members, rate)
			break
		}
		time.Sleep(500 * time.Millisecond) // let stragglers of this step pass
	}
	t.cur.Store(nil)
	return nil
}

// fanLatencies returns, sorted, the time from each message's scheduled
// publish to its delivery at the last member (messages every member
// received) and the latency of every delivery.
func fanLatencies(sentAt []int64, recv [][]int64) (last, all []int64) {
	for k, s := range sentAt {
		worst, complete := int64(0), true
		for i := range recv {
			t := atomic.LoadInt64(&recv[i][k])
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

// startFanTarget starts the system of v, connects the members (and makes
// them a group on Parley) and the sender.
func startFanTarget(ctx context.Context, f *b2Flags, v fanVariant, members int, dir string) (*fanTarget, error) {
	t := &fanTarget{members: members}
	var closers []func()
	t.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*fanTarget, error) { t.close(); return nil, err }
	onMQTT := func(i int) func(*mqttclient.Pub, time.Time) {
		return func(p *mqttclient.Pub, at time.Time) {
			st := t.cur.Load()
			if st == nil {
				return
			}
			body := string(p.Payload)
			if v.system == "parley" {
				d, err := mqttclient.ParseDelivery(p.Payload)
				if err != nil {
					st.other.Add(1)
					return
				}
				body = d.Body
			}
			st.record(i, body, at)
		}
	}
	if v.system == "mosquitto" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		b, err := proc.StartMosquitto(f.mosquitto, dir, f.cpuServer)
		if err != nil {
			return nil, err
		}
		closers = append(closers, b.Stop)
		t.pid = b.PID
		users := make([]mqttclient.User, members+1)
		for i := range users {
			users[i] = mqttclient.User{Device: fmt.Sprintf("b2-%d", i)}
		}
		conns := make([]*mqttclient.Client, members+1)
		closers = append(closers, func() { mqttclient.CloseAll(conns) })
		sub := func(i int) []string { return []string{"b2/group"} }
		if err := mqttclient.Connect(ctx, b.Addr, f.keepalive, users, conns, 0, members, f.concurrency, v.qos, sub, onMQTT); err != nil {
			return fail(err)
		}
		if err := mqttclient.Connect(ctx, b.Addr, f.keepalive, users, conns, members, members+1, 1, 0, nil, nil); err != nil {
			return fail(err)
		}
		mqttclient.Pinger(ctx, func() []*mqttclient.Client { return conns }, f.keepalive/2)
		sender := conns[members]
		t.publish = func(body string) error { _, err := sender.Publish("b2/group", []byte(body), 1); return err }
		return t, nil
	}

	ext, err := auth.NewExternal()
	if err != nil {
		return nil, err
	}
	srv, err := proc.StartServer(f.server, dir, f.cpuServer, f.serverEnv(ext.Env()...))
	if err != nil {
		return nil, err
	}
	closers = append(closers, srv.StopOrLog)
	t.srv, t.pid = srv, srv.PID
	names := make([]string, members)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	const senderName = "fan-sender"
	senderTok, err := ext.Token(senderName, "load", 2*time.Hour)
	if err != nil {
		return fail(err)
	}
	// With application-signed tokens a user exists once it has
	// authenticated. MQTT members connect first, then the group is made
	// and they subscribe to it. WebSocket members are created over HTTP
	// first and connect once the group exists, resuming after its
	// membership events (positions at its last seq): the creation is one
	// event, but every member beyond the first 500 joins by an "added"
	// event of its own (makeGroup), and connected meanwhile, every member
	// would be sent each of those, about n² in all, which no outbound
	// queue holds for 10,000 members.
	var subscribe func(group string, lastSeq uint64) error
	switch v.protocol {
	case "mqtt":
		addr, err := proc.MQTTAddr(srv)
		if err != nil {
			return fail(err)
		}
		users := make([]mqttclient.User, members+1)
		for i := range members {
			tok, err := ext.Token(names[i], "load", 2*time.Hour)
			if err != nil {
				return fail(err)
			}
			users[i] = mqttclient.User{User: names[i], Device: "load", Password: tok}
		}
		users[members] = mqttclient.User{User: senderName, Device: "load", Password: senderTok}
		conns := make([]*mqttclient.Client, members+1)
		closers = append(closers, func() { mqttclient.CloseAll(conns) })
		if err := mqttclient.Connect(ctx, addr, f.keepalive, users, conns, 0, members, f.concurrency, v.qos, nil, onMQTT); err != nil {
			return fail(err)
		}
		if err := mqttclient.Connect(ctx, addr, f.keepalive, users, conns, members, members+1, 1, 0, nil, nil); err != nil {
			return fail(err)
		}
		mqttclient.Pinger(ctx, func() []*mqttclient.Client { return conns }, f.keepalive/2)
		subscribe = func(group string, _ uint64) error {
			if err := subscribeAll(ctx, conns[:members], f.concurrency, v.qos, "IMS/"+group+"/#"); err != nil {
				return err
			}
			sender, topic := conns[members], "IMS/"+group+"/"+senderName
			t.publish = func(body string) error { _, err := sender.Publish(topic, []byte(body), 1); return err }
			return nil
		}
	case "ws":
		if err := createUsers(ctx, srv.URL, ext, names, f.concurrency); err != nil {
			return fail(err)
		}
		conns := make([]*websocket.Conn, members)
		closers = append(closers, func() { wsclient.CloseAll(conns) })
		wf := wsclient.OpenOptions{Concurrency: f.concurrency,
			Name: func(i int) (string, string) { return names[i], "load" },
			OnFrame: func(i int) func([]byte, time.Time) {
				return func(data []byte, at time.Time) {
					st := t.cur.Load()
					if st == nil {
						return
					}
					var fr struct {
						Type string              `json:"type"`
						Data mqttclient.Delivery `json:"data"`
					}
					if json.Unmarshal(data, &fr) != nil || fr.Type != "msg" {
						return // acks, receipts, presence
					}
					st.record(i, fr.Data.Body, at)
				}
			}}
		sc, err := parley.Dial(ctx, parley.Options{URL: srv.URL, Token: senderTok})
		if err != nil {
			return fail(fmt.Errorf("sender: %w", err))
		}
		closers = append(closers, func() { sc.Close() })
		go drainClient(sc)
		subscribe = func(group string, lastSeq uint64) error {
			wf.Positions = map[string]uint64{group: lastSeq}
			if err := wsclient.OpenConns(ctx, wsURL(srv.URL), ext, conns, 0, members, wf); err != nil {
				return err
			}
			sem := make(chan struct{}, 256) // open loop: sends in flight
			var wg sync.WaitGroup
			closers = append(closers, wg.Wait)
			t.publish = func(body string) error {
				select {
				case sem <- struct{}{}:
				default:
					return errBehind
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					if _, err := sc.Send(sctx, parley.SendOptions{Conv: group, Body: body}); err != nil {
						fmt.Fprintln(os.Stderr, "b2 send:", err)
					}
				}()
				return nil
			}
			return nil
		}
	default:
		return fail(fmt.Errorf("unknown protocol %q", v.protocol))
	}
	group, lastSeq, err := makeGroup(ctx, srv.URL, senderTok, names, f.concurrency)
	if err != nil {
		return fail(err)
	}
	if err := subscribe(group, lastSeq); err != nil {
		return fail(err)
	}
	return t, nil
}

// createUsers makes each of names a user by an authenticated HTTP request
// with an application-signed token (users are created on first use).
func createUsers(ctx context.Context, url string, ext *auth.External, names []string, concurrency int) error {
	return forEach(ctx, names, concurrency, func(ctx context.Context, n string) error {
		tok, err := ext.Token(n, "load", 2*time.Hour)
		if err != nil {
			return err
		}
		_, err = (&parley.API{BaseURL: url, Token: tok}).Conversations(ctx)
		return err
	})
}

// forEach runs fn for every item, concurrency (at most 16) at a time, and
// returns the first error (after which no new item starts).
func forEach(ctx context.Context, items []string, concurrency int, fn func(context.Context, string) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return conc.ForEachLimited(ctx, len(items), min(concurrency, 16), func(i int) error {
		if err := fn(ctx, items[i]); err != nil {
			return fmt.Errorf("%s: %w", items[i], err)
		}
		return nil
	})
}

// makeGroup creates a group of the token's user and names (created with
// the first 500, one "created" event at seq 1; the rest added concurrently,
// one "added" event each) and returns it with its last seq, where the
// members' deliveries start.
func makeGroup(ctx context.Context, url, token string, names []string, concurrency int) (string, uint64, error) {
	api := &parley.API{BaseURL: url, Token: token}
	first := min(len(names), 500)
	gctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	conv, err := api.CreateGroup(gctx, "bench fan-out", names[:first]...)
	if err != nil {
		return "", 0, fmt.Errorf("create group: %w", err)
	}
	if err := forEach(gctx, names[first:], concurrency, func(ctx context.Context, n string) error {
		_, err := api.AddMember(ctx, conv.ID, n)
		return err
	}); err != nil {
		return "", 0, fmt.Errorf("add member %w", err)
	}
	list, err := api.Conversations(gctx)
	if err != nil {
		return "", 0, err
	}
	for _, c := range list.Conversations {
		if c.ID == conv.ID {
			return conv.ID, c.LastSeq, nil
		}
	}
	return "", 0, fmt.Errorf("group %s not in its creator's conversations", conv.ID)
}

// drainClient reads and drops what an SDK client receives (its own
// messages come back: sent-sync), so that it never blocks the connection.
func drainClient(c *parley.Client) {
	go func() {
		for range c.Events() {
		}
	}()
	for range c.Messages() {
	}
}

// subscribeAll subscribes every client to filter at qos, concurrency at a time.
func subscribeAll(ctx context.Context, cs []*mqttclient.Client, concurrency int, qos byte, filter string) error {
	return conc.ForEachLimited(ctx, len(cs), concurrency, func(i int) error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := cs[i].Subscribe(sctx, qos, filter); err != nil {
			return fmt.Errorf("member %d: %w", i, err)
		}
		return nil
	})
}

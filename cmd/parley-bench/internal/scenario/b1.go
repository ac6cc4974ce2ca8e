package scenario

// b1, one-to-one, open loop: N pairs (sender s<i> to receiver r<i>); the
// offered rate is stepped up until the p99 send→deliver latency passes the
// limit (50 ms) or more than 0.1% of the sends are lost; it reports the
// highest sustainable rate and, at each step, the send→deliver and send→ack
// latency percentiles. Sends follow a fixed-rate schedule (measure/openloop.go) and
// every latency is measured from a send's scheduled time.
//
// Variants: Parley over WebSocket (Go SDK), Parley over MQTT 3.1.1 (Paho:
// QoS 1 publishes to IMS/p2p/r<i>, receivers subscribed to IMS/r<i>/Inbox/#
// at QoS 1) and, beside it with the same pairs and rates, Mosquitto
// (b1/r<i>, QoS 1 both ways). Each variant gets a fresh server or broker.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
	parley "github.com/parley-im/parley/sdk/go"
)

func init() {
	register(Scenario{"b1", "one-to-one, open loop: rate stepped up until p99 > 50 ms or > 0.1% lost; Mosquitto beside", runB1})
}

const (
	b1MaxItemsPerStep = 20_000_000 // bounds the per-step bookkeeping (24 bytes an item)
	b1DialConcurrency = 16
)

type b1Flags struct {
	common
	pairs       int
	rates       []int
	step        time.Duration
	warmup      time.Duration
	grace       time.Duration
	protocols   []string
	bodyBytes   int
	maxInflight int
	p99Limit    time.Duration
	lossPct     float64
}

// b1Out is where a run writes: emit gets the result lines, log the
// human-readable ones (the smoke test collects both).
type b1Out struct {
	emit func(report.Result)
	log  io.Writer
}

func runB1(args []string) error {
	return b1Main(args, b1Out{emit: report.EmitResult, log: os.Stdout})
}

func parseB1Flags(args []string, output io.Writer) (*b1Flags, error) {
	fs := flag.NewFlagSet("b1", flag.ContinueOnError)
	if output != nil {
		fs.SetOutput(output)
	}
	f := &b1Flags{}
	f.flags(fs, true)
	var rates, protocols string
	fs.IntVar(&f.pairs, "pairs", 100, "sender/receiver pairs (s<i> sends to r<i>); 2×pairs connections per system")
	fs.StringVar(&rates, "rates", "500,1000,2000,4000,8000,16000,32000", "ascending offered rates in messages/s over all pairs, one step each")
	fs.DurationVar(&f.step, "step", 5*time.Second, "measured window of each rate step")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "open-loop sending at the step's rate before its window (not measured)")
	fs.DurationVar(&f.grace, "grace", 3*time.Second, "after a step's last send, wait at most this long for its acks and deliveries; what has not arrived by then is lost")
	fs.StringVar(&protocols, "protocols", "ws,mqtt", "variants to measure: ws (Parley, Go SDK) and/or mqtt (Parley and, with -peers mosquitto, Mosquitto; Paho, MQTT 3.1.1, QoS 1)")
	fs.IntVar(&f.bodyBytes, "body-bytes", 100, "message body size in bytes (it starts with the id the receiver matches)")
	fs.IntVar(&f.maxInflight, "max-inflight", 1000, "sends one sender may have waiting for their ack; a scheduled send beyond it is not sent and counts as dropped")
	fs.DurationVar(&f.p99Limit, "p99-limit", 50*time.Millisecond, "a step fails when its p99 send→deliver latency is above this")
	fs.Float64Var(&f.lossPct, "loss-limit", 0.1, "a step fails when more than this percentage of its scheduled sends is lost or not sent")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench b1 -server BIN [flags]\n\n"+
			"One-to-one, open loop. N pairs: sender s<i> sends to receiver r<i> on a fixed-rate\n"+
			"schedule (the total rate spread evenly over the senders), whatever the server does;\n"+
			"latencies are measured from each send's scheduled time, so a stalled server shows as\n"+
			"latency, not as fewer sends. The rate is stepped up (-rates) until the p99\n"+
			"send→deliver latency passes -p99-limit or more than -loss-limit %% is lost. A failed\n"+
			"step is marked generator_saturated when the generator used 90%% of its CPU, or 70%%\n"+
			"and more than the server did, or when its schedule slipped (p99 > a tenth of the\n"+
			"limit) by enough to fail the step: the system's limit is then above what this\n"+
			"generator can show (limited_by \"generator\"). One JSON line per system,\n"+
			"protocol and step (\"rate=R/s\"): offered rate, acks/s, deliveries/s, send→deliver and\n"+
			"send→ack p50/p99/p99.9, lost, duplicated, server CPU µs per message, server GOMAXPROCS;\n"+
			"then a \"max\" line per system with max_sustainable_rate_per_s, and on Parley's MQTT\n"+
			"lines the ratios to Mosquitto (same pairs and rates, measured in the same run).\n\n"+
			"Systems: parley/ws (Go SDK), mosquitto/mqtt and parley/mqtt (Paho, MQTT 3.1.1, QoS 1\n"+
			"publish to IMS/p2p/r<i> or b1/r<i>, receivers subscribed at QoS 1), each on a fresh\n"+
			"server or broker. Users are created on first use (application-signed tokens).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if f.server == "" {
		return nil, errNoServer
	}
	if f.pairs < 1 || f.pairs > 5000 {
		return nil, fmt.Errorf("-pairs must be in 1..5000, not %d", f.pairs)
	}
	if f.step < 100*time.Millisecond || f.step > 10*time.Minute {
		return nil, fmt.Errorf("-step must be in [100ms, 10m], not %s", f.step)
	}
	if f.warmup < 0 || f.warmup > 5*time.Minute {
		return nil, fmt.Errorf("-warmup must be in [0, 5m], not %s", f.warmup)
	}
	if f.grace < 0 || f.grace > 5*time.Minute {
		return nil, fmt.Errorf("-grace must be in [0, 5m], not %s", f.grace)
	}
	if f.bodyBytes < 16 || f.bodyBytes > 65536 {
		return nil, fmt.Errorf("-body-bytes must be in 16..65536, not %d", f.bodyBytes)
	}
	if f.maxInflight < 1 || f.maxInflight > 100000 {
		return nil, fmt.Errorf("-max-inflight must be in 1..100000, not %d", f.maxInflight)
	}
	if f.p99Limit <= 0 || f.p99Limit > time.Minute {
		return nil, fmt.Errorf("-p99-limit must be in (0, 1m], not %s", f.p99Limit)
	}
	if f.lossPct < 0 || f.lossPct > 100 {
		return nil, fmt.Errorf("-loss-limit must be a percentage in [0, 100], not %g", f.lossPct)
	}
	for _, s := range strings.Split(rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r < 1 || r > 1_000_000 {
			return nil, fmt.Errorf("-rates: %q is not a rate in 1..1000000 messages/s", s)
		}
		if n := len(f.rates); n > 0 && r <= f.rates[n-1] {
			return nil, fmt.Errorf("-rates must ascend: %d after %d", r, f.rates[n-1])
		}
		if int64(r)*int64(f.step)/int64(time.Second) < 1 {
			return nil, fmt.Errorf("-rates: %d/s sends nothing in a -step of %s", r, f.step)
		}
		if int64(r)*int64(f.warmup+f.step)/int64(time.Second) > b1MaxItemsPerStep {
			return nil, fmt.Errorf("-rates: %d/s over -warmup+-step %s is more than %d sends per step", r, f.warmup+f.step, b1MaxItemsPerStep)
		}
		f.rates = append(f.rates, r)
	}
	if len(f.rates) > 32 {
		return nil, fmt.Errorf("-rates: at most 32 steps, not %d", len(f.rates))
	}
	for _, p := range strings.Split(protocols, ",") {
		p = strings.TrimSpace(p)
		if p != "ws" && p != "mqtt" {
			return nil, fmt.Errorf("-protocols: %q is not ws or mqtt", p)
		}
		if slices.Contains(f.protocols, p) {
			return nil, fmt.Errorf("-protocols: %s twice", p)
		}
		f.protocols = append(f.protocols, p)
	}
	return f, nil
}

// b1System is one measured system and protocol.
type b1System struct{ name, protocol string }

func (s b1System) String() string { return s.name + "/" + s.protocol }

func b1Main(args []string, out b1Out) error {
	f, err := parseB1Flags(args, nil)
	if err != nil {
		return err
	}
	// Mosquitto is needed (and looked for) only with the MQTT variant.
	if !slices.Contains(f.protocols, "mqtt") {
		f.peers = "none"
	}
	root, done, err := f.setup("b1")
	if err != nil {
		return err
	}
	defer done()
	if _, err := proc.CheckNoFile(4*f.pairs + 64); err != nil {
		return err
	}
	mach := proc.DescribeMachine()
	fmt.Fprintf(out.log, "b1: machine %d cores, %s, %s, kernel %s; generator %s GOMAXPROCS=%d pinned=%q; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, runtime.GOMAXPROCS(0), os.Getenv(proc.PinnedEnv), proc.LoadAvg())

	ext, err := auth.NewExternal()
	if err != nil {
		return err
	}
	ttl := time.Duration(len(f.rates))*(f.warmup+f.step+f.grace+10*time.Second)*3 + time.Hour
	tokens := make(map[string]string, 2*f.pairs)
	for i := range f.pairs {
		for _, u := range []string{b1Receiver(i), b1Sender(i)} {
			if tokens[u], err = ext.Token(u, "load", ttl); err != nil {
				return err
			}
		}
	}
	// Mosquitto before Parley's MQTT variant, so that Parley's lines can
	// carry the ratios.
	var systems []b1System
	for _, p := range f.protocols {
		if p == "mqtt" && f.peers == "mosquitto" {
			systems = append(systems, b1System{"mosquitto", "mqtt"})
		}
		systems = append(systems, b1System{"parley", p})
	}
	var mosq *b1Summary
	for _, sys := range systems {
		sum, err := f.runSystem(sys, root, ext, tokens, out, mosq)
		if err != nil {
			return fmt.Errorf("%s: %w", sys, err)
		}
		if sys.name == "mosquitto" {
			mosq = sum
		}
	}
	return nil
}

func b1Sender(i int) string   { return "s" + strconv.Itoa(i) }
func b1Receiver(i int) string { return "r" + strconv.Itoa(i) }

// b1Step is one rate step of one system: its schedule and what happened to
// each scheduled send. Item k is sent by sender k mod pairs.
type b1Step struct {
	id, rate     int
	bodyBytes    int
	sched        measure.OpenSchedule
	winLo, winHi int                // the items scheduled in the measured window
	started      *measure.ItemTimes // the send call started (SDK Send, Paho Publish)
	ack          *measure.ItemTimes // acknowledged (Send returned, PUBACK)
	recv         *measure.ItemTimes // first delivery to the receiver
	dups         atomic.Int64
	errors       atomic.Int64
	firstErr     atomic.Value // string
}

func (st *b1Step) fail(err error) {
	st.errors.Add(1)
	st.firstErr.CompareAndSwap(nil, err.Error())
}

// payload is item k's message body: "b1 STEP K " padded with x.
func (st *b1Step) payload(k int) []byte {
	b := make([]byte, 0, max(st.bodyBytes, 32))
	b = append(b, "b1 "...)
	b = strconv.AppendInt(b, int64(st.id), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, ' ')
	for len(b) < st.bodyBytes {
		b = append(b, 'x')
	}
	return b
}

// b1Parse reads "b1 STEP K " at the start of s.
func b1Parse[S ~string | ~[]byte](s S) (step, k int, ok bool) {
	if len(s) < 3 || s[0] != 'b' || s[1] != '1' || s[2] != ' ' {
		return 0, 0, false
	}
	i := 3
	var vals [2]int
	for j := range vals {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 10 {
			vals[j] = vals[j]*10 + int(s[i]-'0')
			i++
		}
		if i == start || i >= len(s) || s[i] != ' ' {
			return 0, 0, false
		}
		i++
	}
	return vals[0], vals[1], true
}

var b1Marker = []byte("b1 ")

// b1Find finds the body's marker in a delivered MQTT payload: Parley's is
// the message's JSON, Mosquitto's the body itself.
func b1Find(p []byte) (step, k int, ok bool) {
	i := bytes.Index(p, b1Marker)
	if i < 0 {
		return 0, 0, false
	}
	return b1Parse(p[i:])
}

// b1Driver starts sends on one system's connections.
type b1Driver interface {
	// send starts item k of st from sender i without blocking; false if
	// sender i already has -max-inflight sends waiting for their ack.
	send(st *b1Step, i, k int) bool
	// close gives up the sends in flight, closes the connections and
	// waits for the driver's goroutines.
	close()
}

// b1Bench is one system's run.
type b1Bench struct {
	f          *b1Flags
	sys        b1System
	steps      []atomic.Pointer[b1Step] // by step id, for the receivers
	drv        b1Driver
	pid        int          // of the server or broker
	srv        *proc.Server // nil for Mosquitto
	gomaxprocs int
}

// serverCores is how many cores the server or broker can use: one if it
// is pinned or single-threaded (Mosquitto), else the machine's.
func (b *b1Bench) serverCores() int {
	if b.f.cpuServer >= 0 || b.sys.name == "mosquitto" {
		return 1
	}
	return max(proc.DescribeMachine().Cores, 1)
}

// deliver records a delivery of item k of step id, now.
func (b *b1Bench) deliver(id, k int) {
	if id < 0 || id >= len(b.steps) {
		return
	}
	st := b.steps[id].Load()
	if st == nil {
		return
	}
	if !st.recv.Mark(k, time.Since(st.sched.Start)) && k >= st.winLo && k < st.winHi {
		st.dups.Add(1)
	}
}

// b1Measure is one step's result.
type b1Measure struct {
	rate                          int
	scheduled, notSent, sent      int
	delivered, lost, dups, errors int
	ackedPerS, deliveredPerS      float64
	p50, p99, p999, maxMs         float64 // send→deliver, ms
	ackP50, ackP99, ackP999       float64
	schedLagP99, sendLagP99       float64
	cpuPerMsg, serverUtil         float64
	genUtil                       float64
	droppedPct                    float64
	saturated, passed             bool
	reasons                       []string
	graceUsed                     time.Duration
	firstErr                      string
}

// b1Summary is what a system's steps came to.
type b1Summary struct {
	sys       b1System
	steps     map[int]*b1Measure
	maxRate   int
	limitedBy string // latency, loss, generator, or rates (every step passed)
	failRate  int
}

func (f *b1Flags) runSystem(sys b1System, root string, ext *auth.External, tokens map[string]string, out b1Out, mosq *b1Summary) (*b1Summary, error) {
	budget := time.Duration(len(f.rates))*(f.warmup+f.step+f.grace+20*time.Second) + 2*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	b := &b1Bench{f: f, sys: sys, steps: make([]atomic.Pointer[b1Step], len(f.rates))}
	dir := filepath.Join(root, sys.name+"-"+sys.protocol)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	t0 := time.Now()
	switch sys.name {
	case "parley":
		srv, err := proc.StartServer(f.server, dir, f.cpuServer, f.serverEnv(ext.Env()...))
		if err != nil {
			return nil, err
		}
		defer srv.StopOrLog()
		b.srv, b.pid = srv, srv.PID
		m, err := srv.Metrics(ctx)
		if err != nil {
			return nil, err
		}
		b.gomaxprocs = proc.GomaxprocsOf(m)
		if sys.protocol == "ws" {
			b.drv, err = b1DialWS(ctx, b, srv.URL, tokens)
		} else {
			var addr string
			if addr, err = proc.MQTTAddr(srv); err == nil {
				b.drv, err = b1DialMQTT(ctx, b, addr, true, tokens)
			}
		}
		if err != nil {
			return nil, err
		}
	case "mosquitto":
		br, err := proc.StartMosquitto(f.mosquitto, dir, f.cpuServer)
		if err != nil {
			return nil, err
		}
		defer br.Stop()
		b.pid, b.gomaxprocs = br.PID, 1 // single-threaded
		if b.drv, err = b1DialMQTT(ctx, b, br.Addr, false, nil); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown system %q", sys.name)
	}
	defer b.drv.close() // before the server stops (deferred calls run last first)
	fmt.Fprintf(out.log, "b1 %s: %d pairs connected in %s\n", sys, f.pairs, time.Since(t0).Round(time.Millisecond))

	sum := &b1Summary{sys: sys, steps: map[int]*b1Measure{}, limitedBy: "rates"}
	for id, rate := range f.rates {
		m, err := b.runStep(ctx, id, rate)
		if err != nil {
			return nil, fmt.Errorf("rate %d/s: %w", rate, err)
		}
		sum.steps[rate] = m
		r := f.stepResult(b, m)
		if sys == (b1System{"parley", "mqtt"}) && mosq != nil {
			if pm := mosq.steps[rate]; pm != nil {
				r["mosquitto_p99_ms"] = report.Round(pm.p99, 3)
				r["mosquitto_"+report.KCPUPerMsg] = report.Round(pm.cpuPerMsg, 2)
				if pm.p99 > 0 {
					r["p99_ratio_to_mosquitto"] = report.Round(m.p99/pm.p99, 2)
				}
				if pm.cpuPerMsg > 0 {
					r["cpu_ratio_to_mosquitto"] = report.Round(m.cpuPerMsg/pm.cpuPerMsg, 2)
				}
			}
		}
		out.emit(r)
		verdict := "ok"
		if !m.passed {
			verdict = "FAIL: " + strings.Join(m.reasons, ", ")
		}
		fmt.Fprintf(out.log, "b1 %s rate=%d/s: delivered %.0f/s acked %.0f/s; deliver p50 %.2f p99 %.2f p99.9 %.2f ms; ack p50 %.2f p99 %.2f ms; "+
			"lost %d not sent %d dup %d errors %d of %d; server %.1f µs/msg (%.2f cores); generator %.2f cores, schedule lag p99 %.2f ms: %s\n",
			sys, rate, m.deliveredPerS, m.ackedPerS, m.p50, m.p99, m.p999, m.ackP50, m.ackP99,
			m.lost, m.notSent, m.dups, m.errors, m.scheduled, m.cpuPerMsg, m.serverUtil, m.genUtil, m.schedLagP99, verdict)
		if m.firstErr != "" {
			fmt.Fprintf(out.log, "b1 %s rate=%d/s: first error: %s\n", sys, rate, m.firstErr)
		}
		if !m.passed {
			sum.failRate = rate
			sum.limitedBy = strings.Join(m.reasons, "+")
			if m.saturated {
				sum.limitedBy = "generator"
			}
			break
		}
		sum.maxRate = rate
	}

	r := report.NewResult("b1", sys.name, sys.protocol, "max", f.placement())
	r["max_sustainable_rate_per_s"] = sum.maxRate
	r["limited_by"] = sum.limitedBy
	if sum.failRate > 0 {
		r["first_failed_rate_per_s"] = sum.failRate
	}
	if m := sum.steps[sum.maxRate]; m != nil {
		r[report.KP99] = report.Round(m.p99, 3)
		r["ack_p99_ms"] = report.Round(m.ackP99, 3)
		r[report.KCPUPerMsg] = report.Round(m.cpuPerMsg, 2)
	}
	r["pairs"] = f.pairs
	r["server_gomaxprocs"] = b.gomaxprocs
	r["p99_limit_ms"] = measure.Ms(f.p99Limit)
	r["loss_limit_pct"] = f.lossPct
	if sys == (b1System{"parley", "mqtt"}) && mosq != nil {
		r["mosquitto_max_sustainable_rate_per_s"] = mosq.maxRate
		r["mosquitto_limited_by"] = mosq.limitedBy
		if mosq.maxRate > 0 {
			r["ratio_to_mosquitto"] = report.Round(float64(sum.maxRate)/float64(mosq.maxRate), 3)
		}
	}
	out.emit(r)
	note := ""
	if sum.limitedBy == "generator" {
		note = " (the generator saturated first: the system may sustain more)"
	}
	fmt.Fprintf(out.log, "b1 %s: max sustainable rate %d/s, limited by %s%s\n", sys, sum.maxRate, sum.limitedBy, note)
	return sum, nil
}

func (f *b1Flags) stepResult(b *b1Bench, m *b1Measure) report.Result {
	r := report.NewResult("b1", b.sys.name, b.sys.protocol, fmt.Sprintf("rate=%d/s", m.rate), f.placement())
	r["rate_per_s"] = m.rate
	r[report.KAcked] = report.Round(m.ackedPerS, 1)
	r[report.KDelivered] = report.Round(m.deliveredPerS, 1)
	r[report.KP50], r[report.KP99], r[report.KP999], r["max_ms"] = report.Round(m.p50, 3), report.Round(m.p99, 3), report.Round(m.p999, 3), report.Round(m.maxMs, 3)
	r["ack_p50_ms"], r["ack_p99_ms"], r["ack_p999_ms"] = report.Round(m.ackP50, 3), report.Round(m.ackP99, 3), report.Round(m.ackP999, 3)
	r[report.KLost], r[report.KDuplicated] = m.lost, m.dups
	r["scheduled"], r["sent"], r["not_sent"], r["delivered"], r["errors"] = m.scheduled, m.sent, m.notSent, m.delivered, m.errors
	r["dropped_pct"] = report.Round(m.droppedPct, 4)
	r[report.KCPUPerMsg] = report.Round(m.cpuPerMsg, 2)
	r["server_cpu_util"] = report.Round(m.serverUtil, 3)
	r["server_gomaxprocs"] = b.gomaxprocs
	r["generator_cpu_util"] = report.Round(m.genUtil, 3)
	r["schedule_lag_p99_ms"] = report.Round(m.schedLagP99, 3)
	r["send_lag_p99_ms"] = report.Round(m.sendLagP99, 3)
	r["generator_saturated"] = m.saturated
	r["passed"] = m.passed
	if len(m.reasons) > 0 {
		r["failed"] = strings.Join(m.reasons, "+")
	}
	r["grace_used_ms"] = report.Round(measure.Ms(m.graceUsed), 1)
	r["pairs"] = f.pairs
	r["body_bytes"] = f.bodyBytes
	r["window_s"] = f.step.Seconds()
	r["warmup_s"] = f.warmup.Seconds()
	r["client"] = map[string]string{"ws": "parley-go-sdk", "mqtt": "paho-mqtt-3.1.1"}[b.sys.protocol]
	r["loadavg"] = proc.LoadAvg()
	return r
}

// b1Snap is the CPU state at one edge of a step's window.
type b1Snap struct {
	at        time.Time
	server    time.Duration
	generator time.Duration
	err       error
}

func (b *b1Bench) snap() b1Snap {
	s := b1Snap{at: time.Now(), generator: proc.SelfCPU()}
	s.server, s.err = measure.ProcCPUTime(b.pid)
	return s
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// runStep runs one rate step: warm-up and window on the schedule, then up
// to -grace for the last acks and deliveries.
func (b *b1Bench) runStep(ctx context.Context, id, rate int) (*b1Measure, error) {
	f := b.f
	total := int((int64(f.warmup+f.step)*int64(rate) + int64(time.Second) - 1) / int64(time.Second))
	winLo := int((int64(f.warmup)*int64(rate) + int64(time.Second) - 1) / int64(time.Second))
	st := &b1Step{id: id, rate: rate, bodyBytes: f.bodyBytes, winLo: winLo, winHi: total,
		started: measure.NewItemTimes(total), ack: measure.NewItemTimes(total), recv: measure.NewItemTimes(total)}
	st.sched = measure.OpenSchedule{Start: time.Now().Add(20 * time.Millisecond), Rate: rate, Total: total}
	b.steps[id].Store(st)
	winStart, winEnd := st.sched.Start.Add(f.warmup), st.sched.Start.Add(f.warmup+f.step)

	snaps := make(chan [2]b1Snap, 1)
	go func() {
		var s [2]b1Snap
		sleepUntil(ctx, winStart)
		s[0] = b.snap()
		var wait func() error
		if b.srv != nil {
			wait = f.profile(b.srv, fmt.Sprintf("b1-%s-%s-rate%d", b.sys.name, b.sys.protocol, rate), f.step)
		}
		sleepUntil(ctx, winEnd)
		s[1] = b.snap()
		snaps <- s
		if wait != nil {
			if err := wait(); err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
			}
		}
	}()

	lags := make([]int64, 0, total-winLo)
	notSent, notSentWin := 0, 0
	st.sched.Run(ctx, func(k int, lag time.Duration) {
		ok := b.drv.send(st, k%f.pairs, k)
		if !ok {
			notSent++
		}
		if k >= winLo {
			lags = append(lags, int64(lag))
			if !ok {
				notSentWin++
			}
		}
	})
	s := <-snaps
	if ctx.Err() != nil {
		return nil, fmt.Errorf("out of time: %w", ctx.Err())
	}
	if s[0].err != nil || s[1].err != nil {
		return nil, fmt.Errorf("CPU of %s (pid %d): %v (has it exited?)", b.sys.name, b.pid, errors.Join(s[0].err, s[1].err))
	}

	// Grace: every send the schedule started acked and delivered, or time.
	accepted := int64(total - notSent)
	graceStart := time.Now()
	for deadline := graceStart.Add(f.grace); time.Now().Before(deadline) && ctx.Err() == nil; {
		if st.recv.Count.Load() >= accepted && st.ack.Count.Load() >= accepted {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	m := &b1Measure{rate: rate, graceUsed: time.Since(graceStart)}
	m.scheduled = total - winLo
	m.notSent = notSentWin
	m.sent = m.scheduled - m.notSent
	m.delivered = st.recv.Marked(winLo, total)
	m.lost = max(m.sent-m.delivered, 0)
	m.dups = int(st.dups.Load())
	m.errors = int(st.errors.Load())
	if e, ok := st.firstErr.Load().(string); ok {
		m.firstErr = e
	}
	if m.scheduled > 0 {
		m.droppedPct = float64(m.lost+m.notSent) * 100 / float64(m.scheduled)
	}
	secs := f.step.Seconds()
	m.ackedPerS = float64(st.ack.MarkedBetween(f.warmup, f.warmup+f.step)) / secs
	m.deliveredPerS = float64(st.recv.MarkedBetween(f.warmup, f.warmup+f.step)) / secs
	dl := st.recv.Latencies(st.sched, winLo, total)
	al := st.ack.Latencies(st.sched, winLo, total)
	sl := st.started.Latencies(st.sched, winLo, total)
	m.p50, m.p99, m.p999 = measure.Ms(measure.PercentileNs(dl, 0.50)), measure.Ms(measure.PercentileNs(dl, 0.99)), measure.Ms(measure.PercentileNs(dl, 0.999))
	if len(dl) > 0 {
		m.maxMs = measure.Ms(time.Duration(dl[len(dl)-1]))
	}
	m.ackP50, m.ackP99, m.ackP999 = measure.Ms(measure.PercentileNs(al, 0.50)), measure.Ms(measure.PercentileNs(al, 0.99)), measure.Ms(measure.PercentileNs(al, 0.999))
	m.sendLagP99 = measure.Ms(measure.PercentileNs(sl, 0.99))
	slices.Sort(lags)
	m.schedLagP99 = measure.Ms(measure.PercentileNs(lags, 0.99))
	window := s[1].at.Sub(s[0].at).Seconds()
	serverCPU := s[1].server - s[0].server
	if m.sent > 0 {
		m.cpuPerMsg = float64(serverCPU.Nanoseconds()) / 1e3 / float64(m.sent)
	}
	if window > 0 {
		m.serverUtil = serverCPU.Seconds() / window
		m.genUtil = (s[1].generator - s[0].generator).Seconds() / window
	}

	if time.Duration(measure.PercentileNs(dl, 0.99)) > f.p99Limit {
		m.reasons = append(m.reasons, "latency")
	}
	if m.droppedPct > f.lossPct {
		m.reasons = append(m.reasons, "loss")
	}
	// A failed step is the generator's failure, not the system's, if the
	// generator used (almost) all of its CPU; or if it was busier than the
	// server, at 70% of its CPU or more (the receiving side's goroutines
	// then queue behind the sending side's, and that queueing is counted
	// as latency); or if its schedule slipped by more than a tenth of the
	// latency limit at p99 and that slip is what took p99 over the limit.
	// The system's limit then lies higher than this generator can tell. A
	// step that passed in spite of a busy or late generator passed.
	lagP99 := time.Duration(measure.PercentileNs(lags, 0.99))
	p99 := time.Duration(measure.PercentileNs(dl, 0.99))
	genLoad := m.genUtil / float64(runtime.GOMAXPROCS(0))
	serverLoad := m.serverUtil / float64(b.serverCores())
	m.saturated = len(m.reasons) > 0 && (genLoad >= 0.9 || (genLoad >= 0.7 && genLoad > serverLoad) ||
		(lagP99 > f.p99Limit/10 && p99-lagP99 <= f.p99Limit))
	if m.saturated {
		m.reasons = append(m.reasons, "generator")
	}
	m.passed = len(m.reasons) == 0
	return m, nil
}

// b1WS drives Parley over WebSocket with the Go SDK: one goroutine per
// send in flight (Send blocks until the ack); receivers drain Messages
// (the SDK acknowledges what it hands over).
type b1WS struct {
	b         *b1Bench
	ctx       context.Context
	cancel    context.CancelFunc
	senders   []*parley.Client
	clients   []*parley.Client
	to        []string
	inflight  []atomic.Int32
	sends     sync.WaitGroup
	drains    sync.WaitGroup
	closeOnce sync.Once
}

func b1DialWS(ctx context.Context, b *b1Bench, url string, tokens map[string]string) (*b1WS, error) {
	n := b.f.pairs
	d := &b1WS{b: b, senders: make([]*parley.Client, n), to: make([]string, n), inflight: make([]atomic.Int32, n)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for i := range n {
		d.to[i] = b1Receiver(i)
	}
	var mu sync.Mutex
	dial := func(user string, receiver bool) (*parley.Client, error) {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := parley.Dial(dctx, parley.Options{URL: url, Token: tokens[user]})
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", user, err)
		}
		mu.Lock()
		d.clients = append(d.clients, c)
		mu.Unlock()
		d.drains.Add(2)
		go func() {
			defer d.drains.Done()
			for m := range c.Messages() {
				if !receiver {
					continue // the sender's own messages (sent-sync)
				}
				if id, k, ok := b1Parse(m.Body); ok {
					b.deliver(id, k)
				}
			}
		}()
		go func() {
			defer d.drains.Done()
			for range c.Events() {
			}
		}()
		return c, nil
	}
	// Receivers first: each direct conversation's peer is online (and
	// exists: users are made on first use) before the first send.
	for _, role := range []string{"r", "s"} {
		err := conc.ForEachLimited(ctx, n, b1DialConcurrency, func(i int) error {
			if role == "r" {
				_, err := dial(b1Receiver(i), true)
				return err
			}
			c, err := dial(b1Sender(i), false)
			d.senders[i] = c
			return err
		})
		if err != nil {
			d.close()
			return nil, err
		}
	}
	return d, nil
}

func (d *b1WS) send(st *b1Step, i, k int) bool {
	if d.inflight[i].Load() >= int32(d.b.f.maxInflight) {
		return false
	}
	d.inflight[i].Add(1)
	d.sends.Add(1)
	go func() {
		defer d.sends.Done()
		defer d.inflight[i].Add(-1)
		st.started.Mark(k, time.Since(st.sched.Start))
		_, err := d.senders[i].Send(d.ctx, parley.SendOptions{To: d.to[i], Body: string(st.payload(k)),
			ClientMsgID: "b1-" + strconv.Itoa(st.id) + "-" + strconv.Itoa(k)})
		if err != nil {
			st.fail(err)
			return
		}
		st.ack.Mark(k, time.Since(st.sched.Start))
	}()
	return true
}

func (d *b1WS) close() {
	d.closeOnce.Do(func() {
		d.cancel()
		d.sends.Wait()
		var wg sync.WaitGroup
		for _, c := range d.clients {
			wg.Go(func() { c.Close() })
		}
		wg.Wait()
		d.drains.Wait()
	})
}

// b1MQTT drives an MQTT broker with Paho (MQTT 3.1.1, clean sessions, no
// reconnect): per sender, one goroutine publishes at QoS 1 what the
// scheduler queues and one waits for the PUBACKs in order; receivers are
// subscribed at QoS 1 and Paho PUBACKs each delivery after the handler.
type b1MQTT struct {
	b         *b1Bench
	ctx       context.Context
	cancel    context.CancelFunc
	senders   []paho.Client
	receivers []paho.Client
	topics    []string
	jobs      []chan b1Job
	inflight  []atomic.Int32
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type b1Job struct {
	st *b1Step
	k  int
}

type b1Pending struct {
	st  *b1Step
	k   int
	tok paho.Token
}

// b1DialMQTT connects the pairs to addr: Parley's topics and tokens if
// isParley, else Mosquitto's (anonymous, topic b1/r<i>).
func b1DialMQTT(ctx context.Context, b *b1Bench, addr string, isParley bool, tokens map[string]string) (*b1MQTT, error) {
	n := b.f.pairs
	d := &b1MQTT{b: b, senders: make([]paho.Client, n), receivers: make([]paho.Client, n), topics: make([]string, n),
		jobs: make([]chan b1Job, n), inflight: make([]atomic.Int32, n)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	onPublish := func(_ paho.Client, msg paho.Message) {
		if id, k, ok := b1Find(msg.Payload()); ok {
			b.deliver(id, k)
		}
	}
	connect := func(user, clientID string, filter string) (paho.Client, error) {
		o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).SetCleanSession(true).
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true).
			SetResumeSubs(false).SetKeepAlive(60 * time.Second).SetConnectTimeout(20 * time.Second).
			SetWriteTimeout(10 * time.Second) // a publish blocked longer fails (and close does not wait 30 s)
		if isParley {
			o.SetUsername(user).SetPassword(tokens[user])
		}
		c := paho.NewClient(o)
		if err := b1Wait(ctx, c.Connect()); err != nil {
			return nil, fmt.Errorf("mqtt connect %s: %w", user, err)
		}
		if filter != "" {
			t := c.Subscribe(filter, 1, onPublish)
			err := b1Wait(ctx, t)
			if st, ok := t.(*paho.SubscribeToken); ok && err == nil && st.Result()[filter] > 1 {
				err = fmt.Errorf("refused (0x%02x)", st.Result()[filter])
			}
			if err != nil {
				c.Disconnect(0)
				return nil, fmt.Errorf("mqtt subscribe %s to %s: %w", user, filter, err)
			}
		}
		return c, nil
	}
	for i := range n {
		if isParley {
			d.topics[i] = "IMS/p2p/" + b1Receiver(i)
		} else {
			d.topics[i] = "b1/" + b1Receiver(i)
		}
	}
	err := conc.ForEachLimited(ctx, n, b1DialConcurrency, func(i int) error {
		u, id, filter := b1Receiver(i), "load", "IMS/"+b1Receiver(i)+"/Inbox/#"
		if !isParley {
			id, filter = "b1-"+u, d.topics[i]
		}
		c, err := connect(u, id, filter)
		d.receivers[i] = c
		return err
	})
	if err == nil {
		err = conc.ForEachLimited(ctx, n, b1DialConcurrency, func(i int) error {
			u, id := b1Sender(i), "load"
			if !isParley {
				id = "b1-" + u
			}
			c, err := connect(u, id, "")
			d.senders[i] = c
			return err
		})
	}
	if err != nil {
		d.disconnect()
		return nil, err
	}
	for i := range n {
		d.jobs[i] = make(chan b1Job, b.f.maxInflight)
		pending := make(chan b1Pending, b.f.maxInflight)
		d.wg.Add(2)
		go func() { // publisher
			defer d.wg.Done()
			defer close(pending)
			for j := range d.jobs[i] {
				if d.ctx.Err() != nil {
					continue // closing: drop what is still queued
				}
				j.st.started.Mark(j.k, time.Since(j.st.sched.Start))
				pending <- b1Pending{j.st, j.k, d.senders[i].Publish(d.topics[i], 1, false, j.st.payload(j.k))}
			}
		}()
		go func() { // PUBACK waiter
			defer d.wg.Done()
			for p := range pending {
				select {
				case <-p.tok.Done():
					if err := p.tok.Error(); err != nil {
						p.st.fail(err)
					} else {
						p.st.ack.Mark(p.k, time.Since(p.st.sched.Start))
					}
				case <-d.ctx.Done():
				}
				d.inflight[i].Add(-1)
			}
		}()
	}
	return d, nil
}

func b1Wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *b1MQTT) send(st *b1Step, i, k int) bool {
	if d.inflight[i].Load() >= int32(d.b.f.maxInflight) {
		return false
	}
	// At most -max-inflight jobs are queued or waiting: the channel has
	// room.
	d.inflight[i].Add(1)
	d.jobs[i] <- b1Job{st, k}
	return true
}

func (d *b1MQTT) close() {
	d.closeOnce.Do(func() {
		d.cancel()
		for _, j := range d.jobs {
			if j != nil {
				close(j)
			}
		}
		d.disconnect() // pending publishes fail at once
		d.wg.Wait()
	})
}

func (d *b1MQTT) disconnect() {
	var wg sync.WaitGroup
	for _, cs := range [][]paho.Client{d.senders, d.receivers} {
		for _, c := range cs {
			if c != nil {
				wg.Go(func() { c.Disconnect(50) })
			}
		}
	}
	wg.Wait()
}

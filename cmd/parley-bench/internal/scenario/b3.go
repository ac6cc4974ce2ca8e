package scenario

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

func init() {
	register(Scenario{"b3", "idle connections: memory per connection, goroutines, heap, connect rate (WebSocket, MQTT, Mosquitto)", runB3})
}

type b3Flags struct {
	common
	conns       int
	protocols   []string
	perUser     int
	concurrency int
	settle      time.Duration
	idle        time.Duration
	timeout     time.Duration
	keepalive   time.Duration
	perProc     int
}

func runB3(args []string) error {
	fs := flag.NewFlagSet("b3", flag.ContinueOnError)
	var f b3Flags
	f.flags(fs, true)
	var protocols string
	fs.IntVar(&f.conns, "conns", 10000, "idle authenticated connections per system and protocol")
	fs.StringVar(&protocols, "protocols", "ws,mqtt", "Parley's protocols to measure (ws, mqtt, mqtt-ws); Mosquitto runs the mqtt variant")
	fs.IntVar(&f.perUser, "devices-per-user", 100, "connections (devices) per user: users u0.. with devices d0..")
	fs.IntVar(&f.concurrency, "dial-concurrency", 32, "connections being opened at once")
	fs.DurationVar(&f.settle, "settle", 3*time.Second, "wait after the last connection before measuring")
	fs.DurationVar(&f.idle, "idle", 10*time.Second, "idle window over which the server's CPU is measured")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up if connecting takes longer than this")
	fs.DurationVar(&f.keepalive, "keepalive", 60*time.Second, "MQTT keepalive of every connection (the generator pings at half of it)")
	fs.IntVar(&f.perProc, "conns-per-proc", 18000, "connections one generator process holds; more are spread over agent processes (parley-bench agent), as many as needed")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench b3 -server BIN [flags]\n\n"+
			"Idle connections, one fresh server (or broker) per system and protocol:\n"+
			"  parley/ws    WebSocket, hello with an application-signed token, resume, then idle;\n"+
			"  parley/mqtt  MQTT 3.1.1, CONNECT with the token, SUBSCRIBE IMS/<user>/Inbox/Msg/# at QoS 1;\n"+
			"  parley/mqtt-ws  the same over WebSocket (/mqtt on the HTTP listener);\n"+
			"  mosquitto/mqtt  anonymous MQTT 3.1.1, SUBSCRIBE b3/<i> at QoS 1 (persistence off).\n"+
			"Connections open in two halves (the second half gives the marginal cost). Reports\n"+
			"the server's RSS delta per connection (VmRSS; kb_per_conn), Go heap, stacks and\n"+
			"goroutines per connection (Parley), connections opened per second, and idle CPU.\n"+
			"One process holds at most -conns-per-proc connections (file descriptors are limited,\n"+
			"20,000 on the reference machine); beyond that, agent processes (parley-bench agent,\n"+
			"pinned like the generator) hold shares of them. The server needs RLIMIT_NOFILE above\n"+
			"-conns: b3 raises it, and the hard limit too where it may (as root).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.conns < 2 || f.conns > 100_000 || f.perUser < 1 || f.concurrency < 1 || f.perProc < 1 {
		return errors.New("-conns must be in 2..100000; -devices-per-user, -dial-concurrency and -conns-per-proc at least 1")
	}
	if f.keepalive < 10*time.Second || f.keepalive > 300*time.Second || f.settle < 0 || f.idle <= 0 || f.idle > time.Hour || f.timeout <= 0 {
		return errors.New("-keepalive must be in [10s, 300s], -idle in (0, 1h], -settle at least 0, -timeout positive")
	}
	var err error
	if f.protocols, err = parseProtocolsOf(protocols, "ws", "mqtt", "mqtt-ws"); err != nil {
		return err
	}
	root, done, err := f.setup("b3")
	if err != nil {
		return err
	}
	defer done()
	// The server (or broker) holds every connection: it inherits this
	// process's limit, raised if the hard limit allows (or as root).
	limit, err := proc.RaiseNoFileTo(uint64(f.conns) + 256)
	if err != nil {
		return fmt.Errorf("the server needs RLIMIT_NOFILE of at least %d for %d connections: %w (raise the hard limit, e.g. run as root or with prlimit)", f.conns+256, f.conns, err)
	}
	printMachine(limit)
	if procs := f.procs(); procs > 1 {
		fmt.Printf("b3: %d connections held by %d agent processes (-conns-per-proc %d)\n", f.conns, procs, f.perProc)
	}

	type run struct{ system, protocol string }
	var runs []run // the peer first, so that Parley's lines carry the ratio
	if f.peers == "mosquitto" && has(f.protocols, "mqtt") {
		runs = append(runs, run{"mosquitto", "mqtt"})
	}
	for _, p := range f.protocols {
		runs = append(runs, run{"parley", p})
	}
	kb := map[run]float64{}
	for _, r := range runs {
		dir := filepath.Join(root, r.system+"-"+r.protocol)
		m, err := b3Run(&f, r.system, r.protocol, dir)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", r.system, r.protocol, err)
		}
		kb[r] = m.kbPerConn
		fmt.Printf("b3 %s/%s conns=%d: RSS %d -> %d KiB: %.2f KiB/conn (marginal %.2f, after %s idle %.2f); "+
			"heap %.2f KiB/conn, stacks %.2f KiB/conn, %.2f goroutines/conn; %.0f connections/s; idle CPU %.0f µs/s\n",
			r.system, r.protocol, f.conns, m.base.RSSKB, m.full.RSSKB, m.kbPerConn, m.marginal, f.idle, m.kbPerConnEnd,
			m.heapPer, m.stackPer, m.gorPer, m.connectRate, m.idleCPU)
		res := report.NewResult("b3", r.system, r.protocol, fmt.Sprintf("conns=%d", f.conns), f.placement())
		res["conns"] = f.conns
		res["generator_procs"] = f.procs()
		res[report.KKBPerConn] = report.Round(m.kbPerConn, 2)
		res["kb_per_conn_marginal"] = report.Round(m.marginal, 2)
		res["kb_per_conn_after_idle"] = report.Round(m.kbPerConnEnd, 2)
		res["connect_per_s"] = report.Round(m.connectRate, 0)
		res["idle_cpu_us_per_s"] = report.Round(m.idleCPU, 0)
		res["rss_base_kb"], res["rss_kb"], res["rss_peak_kb"] = m.base.RSSKB, m.full.RSSKB, m.hwm
		res["threads"] = m.full.Threads
		if r.system == "parley" {
			res["heap_kb_per_conn"] = report.Round(m.heapPer, 2)
			res["stack_kb_per_conn"] = report.Round(m.stackPer, 2)
			res["goroutines_per_conn"] = report.Round(m.gorPer, 2)
			res["server_connections"] = int(m.full.Connections)
			res["server_gomaxprocs"] = proc.GomaxprocsOf(m.full.Metrics)
			if p, ok := kb[run{"mosquitto", "mqtt"}]; ok && p > 0 {
				res["kb_ratio_to_mosquitto"] = report.Round(m.kbPerConn/p, 2)
			}
		} else {
			res["server_gomaxprocs"] = 1 // Mosquitto is single-threaded
		}
		report.EmitResult(res)
	}
	if p, ok := kb[run{"mosquitto", "mqtt"}]; ok && p > 0 {
		for _, proto := range f.protocols {
			fmt.Printf("b3 parley/%s uses %.1f× the memory per idle connection of mosquitto/mqtt\n", proto, kb[run{"parley", proto}]/p)
		}
	}
	return nil
}

// b3Run measures f.conns idle connections of one system and protocol on a
// fresh server or broker: baseline, at half, at all, after the idle window.
func b3Run(f *b3Flags, system, protocol, dir string) (idleMeasure, error) {
	var m idleMeasure
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout+2*f.settle+f.idle+2*time.Minute)
	defer cancel()
	var snap func() (measure.MemState, error)
	var profileWait func() error
	startProfile := func() {}
	t := b3Target{system: system, protocol: protocol, conns: f.conns, perUser: f.perUser, concurrency: f.concurrency, keepalive: f.keepalive}
	if system == "mosquitto" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return m, err
		}
		b, err := proc.StartMosquitto(f.mosquitto, dir, f.cpuServer)
		if err != nil {
			return m, err
		}
		defer b.Stop()
		snap = func() (measure.MemState, error) { return procMemSnapshot(b.PID) }
		t.addr = b.Addr
	} else {
		ext, err := auth.NewExternal()
		if err != nil {
			return m, err
		}
		srv, err := proc.StartServer(f.server, dir, f.cpuServer, f.serverEnv(ext.Env()...))
		if err != nil {
			return m, err
		}
		defer srv.StopOrLog()
		snap = func() (measure.MemState, error) { return measure.MemSnapshot(ctx, srv) }
		startProfile = func() { profileWait = f.profile(srv, "b3-"+protocol, f.idle) }
		t.ext, t.addr = ext, wsURL(srv.URL)
		switch protocol {
		case "mqtt":
			if t.addr, err = proc.MQTTAddr(srv); err != nil {
				return m, err
			}
		case "mqtt-ws":
			t.addr = mqttWSURL(srv.URL)
		}
	}
	var open func(ctx context.Context, lo, hi int) error
	if procs := f.procs(); procs > 1 {
		pool, err := startAgents(procs, t)
		if err != nil {
			return m, err
		}
		defer pool.close()
		open = pool.open
	} else {
		h, err := newB3Holder(t)
		if err != nil {
			return m, err
		}
		defer h.close()
		open = h.open
	}
	time.Sleep(time.Second)
	var err error
	if m.base, err = snap(); err != nil {
		return m, err
	}
	half := f.conns / 2
	dialCtx, dialCancel := context.WithTimeout(ctx, f.timeout)
	defer dialCancel()
	t0 := time.Now()
	if err := open(dialCtx, 0, half); err != nil {
		return m, err
	}
	m.connect = time.Since(t0)
	time.Sleep(f.settle)
	if m.mid, err = snap(); err != nil {
		return m, err
	}
	t1 := time.Now()
	if err := open(dialCtx, half, f.conns); err != nil {
		return m, err
	}
	m.connect += time.Since(t1)
	time.Sleep(f.settle)
	if m.full, err = snap(); err != nil {
		return m, err
	}
	if m.full.Metrics != nil && int(m.full.Connections) != f.conns {
		fmt.Fprintf(os.Stderr, "warning: %s/%s: the server reports %d connections, expected %d\n", system, protocol, int(m.full.Connections), f.conns)
	}
	startProfile()
	c0, _ := measure.ProcCPUTime(m.full.PID)
	i0 := time.Now()
	time.Sleep(f.idle)
	c1, _ := measure.ProcCPUTime(m.full.PID)
	m.idleSecs = time.Since(i0).Seconds()
	if m.end, err = snap(); err != nil {
		return m, err
	}
	if profileWait != nil {
		if err := profileWait(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	m.hwm, _ = proc.Status(m.full.PID, "VmHWM")
	n := float64(f.conns)
	m.kbPerConn = float64(m.full.RSSKB-m.base.RSSKB) / n
	m.kbPerConnEnd = float64(m.end.RSSKB-m.base.RSSKB) / n
	m.marginal = float64(m.full.RSSKB-m.mid.RSSKB) / float64(f.conns-half)
	m.heapPer = (m.full.HeapInuse - m.base.HeapInuse) / 1024 / n
	m.stackPer = (m.full.StackInuse - m.base.StackInuse) / 1024 / n
	m.gorPer = (m.full.Goroutines - m.base.Goroutines) / n
	m.idleCPU = float64((c1 - c0).Microseconds()) / m.idleSecs
	if s := m.connect.Seconds(); s > 0 {
		m.connectRate = n / s
	}
	return m, nil
}

// procs is how many processes hold the connections: this one, or agents.
func (f *b3Flags) procs() int {
	return (f.conns + f.perProc - 1) / f.perProc
}

// procMemSnapshot is measure.MemSnapshot for a process without Parley's metrics
// (the Mosquitto peer): RSS and threads only.
func procMemSnapshot(pid int) (measure.MemState, error) {
	var m measure.MemState
	var err error
	m.PID = pid
	if m.RSSKB, err = proc.Status(pid, "VmRSS"); err != nil {
		return m, err
	}
	m.Threads, _ = proc.Status(pid, "Threads")
	return m, nil
}

// parseProtocols parses a -protocols list of ws and mqtt.
func parseProtocols(s string) ([]string, error) {
	return parseProtocolsOf(s, "ws", "mqtt")
}

// parseProtocolsOf parses a -protocols list of the names known.
func parseProtocolsOf(s string, known ...string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !has(known, p) {
			return nil, fmt.Errorf("-protocols: %q is not %s or %s", p, strings.Join(known[:len(known)-1], ", "), known[len(known)-1])
		}
		if !has(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// printMachine prints where the run happens.
func printMachine(noFile uint64) {
	mach := proc.DescribeMachine()
	fmt.Printf("machine: %d cores, %s, %s, kernel %s; generator %s pinned=%q; RLIMIT_NOFILE %d; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, os.Getenv(proc.PinnedEnv), noFile, proc.LoadAvg())
}

// idleMeasure is one system's idle measurement.
type idleMeasure struct {
	base, mid, full, end              measure.MemState
	hwm                               int64
	kbPerConn, kbPerConnEnd, marginal float64
	heapPer, stackPer, gorPer         float64
	idleCPU, idleSecs                 float64
	connect                           time.Duration
	connectRate                       float64 // connections opened per second
}

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

	"github.com/parley-im/parley/checker"
	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/mqttclient"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

func init() {
	register(Scenario{"b4", "durable throughput: 1/16/256 closed-loop senders waiting for the ack, then a SIGKILL mid-run (lost must be 0)", runB4})
}

type b4Flags struct {
	common
	senders      []int
	protocols    []string
	duration     time.Duration
	warmup       time.Duration
	drain        time.Duration
	bodyBytes    int
	authMode     string
	workers      int
	sendTimeout  time.Duration
	keepalive    time.Duration
	fsyncProbe   time.Duration
	killSenders  int
	killAfter    time.Duration
	afterRestart time.Duration
	catchUp      time.Duration
	ackWindow    time.Duration
}

func runB4(args []string) error {
	fs := flag.NewFlagSet("b4", flag.ContinueOnError)
	var f b4Flags
	f.flags(fs, false)
	var senders, protocols string
	fs.StringVar(&senders, "senders", "1,16,256", "comma-separated closed-loop sender counts; one fresh server per count and protocol")
	fs.StringVar(&protocols, "protocols", "ws,mqtt", "protocols to measure: ws (Go SDK sends), mqtt (QoS 1 publishes, MQTT 3.1.1)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured window per sender count")
	fs.DurationVar(&f.warmup, "warmup", 3*time.Second, "closed-loop sending before the window (not measured)")
	fs.DurationVar(&f.drain, "drain", 5*time.Second, "mqtt: after the window, wait at most this long for the last deliveries")
	fs.IntVar(&f.bodyBytes, "body-bytes", 100, "message body size in bytes")
	fs.StringVar(&f.authMode, "auth", "external", "external: application-signed JWTs; cli: users and tokens made with 'parley user add' and 'parley token'")
	fs.IntVar(&f.workers, "cli-workers", 2, "parallel 'parley user add/token' processes while preparing (-auth cli)")
	fs.DurationVar(&f.sendTimeout, "send-timeout", 30*time.Second, "give up on one send after this long")
	fs.DurationVar(&f.keepalive, "keepalive", 60*time.Second, "MQTT keepalive of every client (the generator pings at half of it)")
	fs.DurationVar(&f.fsyncProbe, "fsync-probe", 2*time.Second, "first measure write+fdatasync per second of the disk for this long (disk_fsyncs_per_s; 0: skip)")
	fs.IntVar(&f.killSenders, "kill-senders", 16, "closed-loop senders of the sigkill step (0: no sigkill step)")
	fs.DurationVar(&f.killAfter, "kill-after", 3*time.Second, "sigkill step: SIGKILL the server this long after the senders started")
	fs.DurationVar(&f.afterRestart, "after-restart", 2*time.Second, "sigkill step: keep sending this long after the server restarted")
	fs.DurationVar(&f.catchUp, "catch-up", 30*time.Second, "sigkill step: wait at most this long for every device to get every acknowledged message")
	fs.DurationVar(&f.ackWindow, "ack-window", 2*time.Second, "sigkill step: a message acknowledged by a device more than this long before the crash and delivered to it again counts as duplicated, not redelivered (the server flushes positions every 200 ms; 0: any repeat after the crash is a redelivery)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench b4 -server BIN [flags]\n\n"+
			"Durable throughput. For each protocol and sender count N, a fresh server and N\n"+
			"closed-loop senders s<i> sending one-to-one to receivers r<i>, each waiting for\n"+
			"the acknowledgement (given after the durable commit) before the next send: ws with\n"+
			"the Go SDK, mqtt with QoS 1 publishes to IMS/p2p/r<i> (PUBACK). One line per step\n"+
			"senders=N: acked_per_s; p50_ms, p99_ms, p999_ms are the ACK LATENCY (send to ack);\n"+
			"server_cpu_us_per_msg (utime+stime of the server per acknowledged send);\n"+
			"fsyncs_per_s (the server's store commits per second, parley_commit_batch_size_count:\n"+
			"each is one SQLite WAL commit with synchronous=FULL, one fdatasync; position flushes\n"+
			"and checkpoints add a few); commit_batch_mean (sends per commit).\n\n"+
			"Then the step sigkill per protocol: -kill-senders senders with client message ids,\n"+
			"every send and every delivery and device ack recorded in the checker package; the\n"+
			"server is SIGKILLed after -kill-after, restarted on the same data directory, the\n"+
			"clients reconnect (receivers resume: WebSocket, or an MQTT persistent session),\n"+
			"unacknowledged sends are retried with the same client message id, and after the\n"+
			"catch-up the checker counts lost (acknowledged but never delivered to a device,\n"+
			"must be 0: b4 fails otherwise), duplicated and redelivered (repeats a crash\n"+
			"excuses); lost_in_history reads every conversation back over HTTP.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.senders, err = parseSenderCounts(senders, 5000); err != nil {
		return err
	}
	if f.protocols, err = parseProtocols(protocols); err != nil {
		return err
	}
	if f.duration <= 0 || f.duration > time.Hour || f.warmup < 0 || f.warmup > 10*time.Minute || f.drain < 0 || f.drain > time.Minute {
		return errors.New("-duration must be in (0, 1h], -warmup in [0, 10m], -drain in [0, 1m]")
	}
	if f.killSenders < 0 || f.killSenders > 5000 || f.killAfter <= 0 || f.killAfter > time.Hour ||
		f.afterRestart < 0 || f.afterRestart > time.Hour || f.catchUp <= 0 || f.catchUp > time.Hour || f.ackWindow < 0 {
		return errors.New("-kill-senders must be in [0, 5000], -kill-after and -catch-up in (0, 1h], -after-restart in [0, 1h], -ack-window at least 0")
	}
	if f.keepalive < 10*time.Second || f.keepalive > 300*time.Second || f.sendTimeout <= 0 || f.bodyBytes < 1 {
		return errors.New("-keepalive must be in [10s, 300s] (the server's max_keepalive is 300 s), -send-timeout positive, -body-bytes at least 1")
	}
	root, done, err := f.setup("b4")
	if err != nil {
		return err
	}
	defer done()
	maxN := max(slices.Max(f.senders), f.killSenders)
	limit, err := proc.CheckNoFile(4 * maxN)
	if err != nil {
		return err
	}
	printMachine(limit)

	var disk float64
	if f.fsyncProbe > 0 {
		p, err := measure.ProbeFsync(root, f.fsyncProbe)
		if err != nil {
			return fmt.Errorf("fsync probe: %w", err)
		}
		disk = p.PerS
		fmt.Printf("fsync probe: %.0f write+fdatasync/s of 100 bytes in %s (p50 %.3f ms): the ceiling of one fsync per message\n", p.PerS, root, p.P50ms)
	}
	tmpl := filepath.Join(root, "template")
	if err := os.MkdirAll(tmpl, 0o700); err != nil {
		return err
	}
	users := make([]string, 0, 2*maxN)
	for i := range maxN {
		users = append(users, fmt.Sprintf("r%d", i), fmt.Sprintf("s%d", i))
	}
	tokens, env, err := prepareTokens(f.server, tmpl, users, "load", f.authMode, f.workers)
	if err != nil {
		return err
	}
	env = f.serverEnv(env...)

	for _, proto := range f.protocols {
		for _, n := range f.senders {
			dir := filepath.Join(root, fmt.Sprintf("%s-%d", proto, n))
			if err := proc.CopyDir(tmpl, dir); err != nil {
				return err
			}
			w, err := b4Throughput(&f, proto, n, dir, tokens, env)
			if err != nil {
				return fmt.Errorf("%s, %d senders: %w", proto, n, err)
			}
			fmt.Printf("b4 %s senders=%d: %.0f acked/s, ack p50 %.2f ms p99 %.2f ms p99.9 %.2f ms, server CPU %.1f µs/msg (%.2f cores busy), "+
				"%.0f fsyncs/s (commit batch mean %.1f), errors %d\n",
				proto, n, w.AckedPerS, w.P50, w.P99, w.P999, w.ServerCPUPerMsg, w.ServerUtil, w.CommitsPerS, w.BatchMean, w.Errors)
			res := report.NewResult("b4", "parley", proto, fmt.Sprintf("senders=%d", n), f.placement())
			res["senders"] = n
			res[report.KAcked] = report.Round(w.AckedPerS, 0)
			res[report.KP50], res[report.KP99], res[report.KP999], res["max_ms"] = report.Round(w.P50, 3), report.Round(w.P99, 3), report.Round(w.P999, 3), report.Round(w.MaxLat, 3)
			res[report.KCPUPerMsg] = report.Round(w.ServerCPUPerMsg, 1)
			res["server_cpu_util"] = report.Round(w.ServerUtil, 2)
			res["generator_cpu_us_per_msg"] = report.Round(w.HarnessCPUPerMsg, 1)
			res["other_cpu_util"] = report.Round(w.OtherUtil, 2)
			res["fsyncs_per_s"] = report.Round(w.CommitsPerS, 0)
			res["commit_batch_mean"] = report.Round(w.BatchMean, 1)
			res["acked"], res["errors"], res["window_s"] = w.Acked, w.Errors, report.Round(w.Window.Seconds(), 2)
			res["body_bytes"], res["auth"], res["server_gomaxprocs"] = f.bodyBytes, f.authMode, w.Gomaxprocs
			if disk > 0 {
				res["disk_fsyncs_per_s"] = report.Round(disk, 0)
			}
			report.EmitResult(res)
			if !f.keep {
				os.RemoveAll(dir)
				os.Remove(dir + ".server.log")
			}
		}
	}

	var failed []string
	if f.killSenders > 0 {
		for _, proto := range f.protocols {
			dir := filepath.Join(root, "sigkill-"+proto)
			if err := proc.CopyDir(tmpl, dir); err != nil {
				return err
			}
			res, lost, err := b4Crash(&f, proto, dir, tokens, env)
			if err != nil {
				return fmt.Errorf("%s, sigkill: %w", proto, err)
			}
			report.EmitResult(res)
			if lost > 0 {
				failed = append(failed, fmt.Sprintf("%s: %d acknowledged messages lost", proto, lost))
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("b4 sigkill: %s (must be 0)", strings.Join(failed, "; "))
	}
	return nil
}

// parseSenderCounts parses a comma-separated list of counts in 1..most.
func parseSenderCounts(s string, most int) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > most {
			return nil, fmt.Errorf("-senders: %q is not a count in 1..%d", p, most)
		}
		out = append(out, n)
	}
	return out, nil
}

// onWindow returns the hook that profiles the server during a measured
// window into -profile-dir as name (nil without -profile-dir).
func (f *b4Flags) onWindow(name string) func(*proc.Server, time.Duration) func() error {
	if f.profileDir == "" {
		return nil
	}
	return func(s *proc.Server, d time.Duration) func() error { return f.profile(s, name, d) }
}

// b4Throughput measures n closed-loop senders over one protocol on a fresh
// server in dir: the durable (ws) and mqtt-durable (mqtt) runs.
func b4Throughput(f *b4Flags, proto string, n int, dir string, tokens map[string]string, env []string) (measure.WindowStats, error) {
	name := fmt.Sprintf("b4-%s-senders%d", proto, n)
	if proto == "ws" {
		r, err := durableRun(durableFlags{server: f.server, duration: f.duration, warmup: f.warmup, cpuServer: f.cpuServer, cpuClient: f.cpuClient,
			bodyBytes: f.bodyBytes, authMode: f.authMode, sendTimeout: f.sendTimeout, onWindow: f.onWindow(name)}, n, dir, tokens, env)
		return r.WindowStats, err
	}
	r, err := mqttDurableRun(mqttDurableFlags{server: f.server, duration: f.duration, warmup: f.warmup, drain: f.drain, cpuServer: f.cpuServer,
		cpuClient: f.cpuClient, bodyBytes: f.bodyBytes, authMode: f.authMode, subQoS: 1, keepalive: f.keepalive, sendTimeout: f.sendTimeout,
		onWindow: f.onWindow(name)}, n, dir, tokens, env)
	return r.WindowStats, err
}

// The sigkill step.

// crashGen is one generation of the sigkill step's clients: connected to
// one server process and closed when that process is killed.
type crashGen interface {
	// send makes one send of sender i with client message id cmid and
	// returns what its acknowledgement said (an MQTT 3.1.1 PUBACK says
	// nothing: the conversation is known, seq and id are not).
	send(ctx context.Context, i int, cmid string) (protocol.Ack, error)
	// close closes every client and waits until none records anything.
	close()
}

// crashSlot is the current generation (n: 0 before the kill, 1 after).
type crashSlot struct {
	g    crashGen
	n    int
	down chan struct{} // closed when the server of the generation is killed
}

// crashBox holds the current generation; senders wait in get while the
// server is down.
type crashBox struct {
	mu   sync.Mutex
	cur  *crashSlot
	next chan struct{} // closed (and replaced) whenever cur changes
}

func newCrashBox() *crashBox { return &crashBox{next: make(chan struct{})} }

func (b *crashBox) get(ctx context.Context) (*crashSlot, error) {
	for {
		b.mu.Lock()
		s, next := b.cur, b.next
		b.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return nil, fmt.Errorf("server down: %w", ctx.Err())
		}
	}
}

func (b *crashBox) set(s *crashSlot) {
	b.mu.Lock()
	b.cur = s
	close(b.next)
	b.next = make(chan struct{})
	b.mu.Unlock()
}

// take empties the box and marks the generation it held down.
func (b *crashBox) take() *crashSlot {
	b.mu.Lock()
	s := b.cur
	b.mu.Unlock()
	b.set(nil)
	if s != nil {
		close(s.down)
	}
	return s
}

// crashRun is the state of one sigkill step.
type crashRun struct {
	f      *b4Flags
	proto  string
	n      int
	tokens map[string]string
	chk    *checker.Checker
	convs  []string // the direct conversation of s<i> and r<i>
	body   string
	// Per sender, touched only by its goroutine until the senders stop.
	pending []string   // client message id of the send being retried
	next    []int      // next message number
	acked   [][]string // client message ids acknowledged
	// present counts persistent MQTT sessions found present on connect.
	present atomic.Int64
}

func b4Crash(f *b4Flags, proto, dir string, tokens map[string]string, env []string) (res report.Result, lost int, err error) {
	n := f.killSenders
	cr := &crashRun{f: f, proto: proto, n: n, tokens: tokens, convs: make([]string, n), body: strings.Repeat("x", f.bodyBytes),
		chk: checker.New(checker.WithAckWindow(f.ackWindow)), pending: make([]string, n), next: make([]int, n), acked: make([][]string, n)}
	ctx, cancel := context.WithTimeout(context.Background(), f.killAfter+f.afterRestart+2*f.catchUp+5*time.Minute)
	defer cancel()
	srv, err := proc.StartServer(f.server, dir, f.cpuServer, env)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if srv != nil {
			if err := srv.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "stop server:", err)
			}
		}
	}()
	box := newCrashBox()
	defer func() {
		if s := box.take(); s != nil {
			s.g.close()
		}
	}()
	g, err := cr.connect(ctx, srv)
	if err != nil {
		return nil, 0, err
	}
	box.set(&crashSlot{g: g, down: make(chan struct{})})
	// The conversations (every user exists now: external tokens create
	// their user on first use), and who must get them.
	if err := conc.ForEachLimited(context.Background(), n, 16, func(i int) error {
		api := &parley.API{BaseURL: srv.URL, Token: tokens[fmt.Sprintf("s%d", i)]}
		c, err := api.Direct(ctx, fmt.Sprintf("r%d", i))
		cr.convs[i] = c.ID
		return err
	}); err != nil {
		return nil, 0, fmt.Errorf("direct conversations: %w", err)
	}
	for i, conv := range cr.convs {
		cr.chk.Expect(fmt.Sprintf("r%d/load", i), conv)
		if proto == "ws" {
			cr.chk.Expect(fmt.Sprintf("s%d/load", i), conv) // sent-sync
		}
	}

	var ackedBefore, ackedAfter, retriedStored atomic.Int64
	var firstAfter atomic.Int64 // UnixNano of the first ack from the restarted server
	stop := make(chan struct{})
	start := time.Now()
	run := measure.StartSenders(ctx, measure.Loop{N: n, WinStart: start, WinEnd: start.Add(f.killAfter + f.afterRestart + 5*time.Minute), Stop: stop,
		SendTimeout: f.sendTimeout, What: "sends across the crash"}, func(ctx context.Context, i int) (bool, error) {
		user := fmt.Sprintf("s%d", i)
		cmid := cr.pending[i]
		if cmid == "" {
			cr.next[i]++
			cmid = fmt.Sprintf("b4-%s-%d", user, cr.next[i])
			cr.pending[i] = cmid
		}
		slot, err := box.get(ctx)
		if err != nil {
			return false, err
		}
		ack, err := slot.g.send(ctx, i, cmid)
		if err != nil {
			// Stored or not: retried with the same id on the next connection.
			cr.chk.Send(user, cmid, checker.Unknown, "", 0, "")
			select {
			case <-slot.down:
			case <-stop:
			case <-ctx.Done():
			}
			return false, err
		}
		cr.chk.Send(user, cmid, checker.Acked, ack.Conv, ack.Seq, ack.ID)
		if ack.Duplicate {
			retriedStored.Add(1) // stored before the crash, acknowledged only now
		}
		cr.pending[i] = ""
		cr.acked[i] = append(cr.acked[i], cmid)
		if slot.n == 0 {
			ackedBefore.Add(1)
		} else {
			ackedAfter.Add(1)
			firstAfter.CompareAndSwap(0, time.Now().UnixNano())
		}
		return false, nil
	})

	// The crash: SIGKILL, every client gone, then the same data directory.
	var restart, reconnect time.Duration
	var killAt time.Time
	crash := func() error {
		select {
		case <-time.After(f.killAfter):
		case <-ctx.Done():
			return ctx.Err()
		}
		killAt = time.Now()
		srv.Kill()
		old := srv
		srv = nil
		box.take().g.close()
		cr.chk.Crash()
		fmt.Printf("b4 %s sigkill: server killed after %s (%d sends acknowledged); restarting on the same data directory\n",
			proto, f.killAfter, ackedBefore.Load())
		_ = os.Rename(old.LogPath, dir+".killed-server.log") // proc.StartServer truncates its log
		s, err := proc.StartServer(f.server, dir, f.cpuServer, env)
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		srv = s
		restart = time.Since(killAt)
		g, err := cr.connect(ctx, srv)
		if err != nil {
			return fmt.Errorf("reconnect: %w", err)
		}
		box.set(&crashSlot{g: g, n: 1, down: make(chan struct{})})
		reconnect = time.Since(killAt)
		select {
		case <-time.After(f.afterRestart):
		case <-ctx.Done():
		}
		return nil
	}
	cerr := crash()
	close(stop)
	run.Wait()
	if cerr != nil {
		cancel()
		return nil, 0, cerr
	}

	// Catch-up: every device must get every acknowledged message. If the
	// live connections do not bring them, one more connection of every
	// device (a resume) gets a last chance.
	rep := cr.waitCaughtUp(f.catchUp)
	finalResume := false
	if rep.Lost > 0 {
		finalResume = true
		box.take().g.close()
		g, err := cr.connect(ctx, srv)
		if err != nil {
			return nil, 0, fmt.Errorf("final resume: %w", err)
		}
		box.set(&crashSlot{g: g, n: 2, down: make(chan struct{})})
		cr.waitCaughtUp(f.catchUp)
	}
	box.take().g.close()
	rep = cr.chk.Report()
	missing, stored, hgaps, err := cr.history(ctx, srv.URL)
	if err != nil {
		return nil, 0, fmt.Errorf("history: %w", err)
	}
	m, _ := srv.Metrics(ctx)

	fmt.Printf("b4 %s sigkill: %s\n", proto, rep)
	fmt.Printf("b4 %s sigkill: restarted in %.0f ms, clients back after %.0f ms; history: %d acknowledged missing, %d stored twice, %d gaps\n",
		proto, measure.Ms(restart), measure.Ms(reconnect), missing, stored, hgaps)
	res = report.NewResult("b4", "parley", proto, "sigkill", f.placement())
	res["senders"] = n
	res["kill_after_s"] = f.killAfter.Seconds()
	res[report.KLost], res[report.KDuplicated], res["redelivered"] = rep.Lost, rep.Duplicated, rep.Redelivered
	res["lost_in_history"], res["stored_twice"], res["history_gaps"] = missing, stored, hgaps
	res["acked"], res["unknown"], res["recovered"] = rep.Acked, rep.Unknown, rep.Recovered
	res["acked_before_kill"], res["acked_after_restart"] = ackedBefore.Load(), ackedAfter.Load()
	res["send_errors"] = run.ErrCount.Load()
	if proto == "ws" { // an MQTT 3.1.1 PUBACK does not say
		res["retries_found_stored"] = retriedStored.Load()
	}
	res["deliveries"], res["delivered"] = rep.Deliveries, rep.Delivered
	res["gaps"], res["reordered"], res["unexpected"], res["conflicts"] = rep.Gaps, rep.Reordered, rep.Unexpected, rep.Conflicts
	res["contract_ok"] = rep.OK()
	res["final_resume"] = finalResume
	res["restart_ms"], res["reconnect_ms"] = report.Round(measure.Ms(restart), 1), report.Round(measure.Ms(reconnect), 1)
	if t := firstAfter.Load(); t > 0 {
		res["recovery_ms"] = report.Round(measure.Ms(time.Unix(0, t).Sub(killAt)), 1)
	}
	if proto == "mqtt" {
		res["sessions_resumed"] = cr.present.Load()
	}
	res["ack_window_ms"] = f.ackWindow.Milliseconds()
	res["body_bytes"], res["auth"], res["server_gomaxprocs"] = f.bodyBytes, f.authMode, proc.GomaxprocsOf(m)
	return res, rep.Lost + missing, nil
}

// waitCaughtUp polls the checker until no acknowledged message is missing
// on an expecting device, or for at most d.
func (cr *crashRun) waitCaughtUp(d time.Duration) checker.Report {
	deadline := time.Now().Add(d)
	for {
		rep := cr.chk.Report()
		if rep.Lost == 0 || time.Now().After(deadline) {
			return rep
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// history reads every conversation back over HTTP and counts the
// acknowledged messages that are not stored, those stored more than once,
// and missing seqs.
func (cr *crashRun) history(ctx context.Context, url string) (missing, twice, gaps int, err error) {
	for i, conv := range cr.convs {
		api := &parley.API{BaseURL: url, Token: cr.tokens[fmt.Sprintf("s%d", i)]}
		count := map[string]int{}
		var seqs []uint64
		var before *uint64 // the newest page first
		for range 1_000_000 {
			p, err := api.History(ctx, conv, parley.HistoryOptions{Before: before, Limit: 300})
			if err != nil {
				return 0, 0, 0, fmt.Errorf("%s: %w", conv, err)
			}
			for _, m := range p.Messages {
				count[m.ClientMsgID]++
				seqs = append(seqs, m.Seq)
			}
			if !p.More || len(p.Messages) == 0 {
				break
			}
			before = parley.Seq(p.Messages[0].Seq)
		}
		for _, cmid := range cr.acked[i] {
			switch c := count[cmid]; {
			case c == 0:
				missing++
			case c > 1:
				twice += c - 1
			}
		}
		slices.Sort(seqs)
		seqs = slices.Compact(seqs)
		if len(seqs) > 0 {
			gaps += int(seqs[len(seqs)-1]) - len(seqs)
		}
	}
	return missing, twice, gaps, nil
}

// connect connects a generation: receivers first, then senders.
func (cr *crashRun) connect(ctx context.Context, srv *proc.Server) (crashGen, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if cr.proto == "ws" {
		return cr.connectWS(ctx, srv)
	}
	return cr.connectMQTT(ctx, srv)
}

// wsCrashGen: every device a Go SDK client whose trace records what it
// receives and acknowledges.
type wsCrashGen struct {
	senders []*parley.Client
	all     []*parley.Client
	drains  sync.WaitGroup
	body    string
}

func (cr *crashRun) connectWS(ctx context.Context, srv *proc.Server) (crashGen, error) {
	g := &wsCrashGen{senders: make([]*parley.Client, cr.n), body: cr.body}
	receivers := make([]*parley.Client, cr.n)
	for _, role := range []string{"r", "s"} {
		out := receivers
		if role == "s" {
			out = g.senders
		}
		err := conc.ForEachLimited(context.Background(), cr.n, 16, func(i int) error {
			user := fmt.Sprintf("%s%d", role, i)
			c, err := parley.Dial(ctx, parley.Options{URL: srv.URL, Token: cr.tokens[user], Buffer: 256, Trace: traceTo(cr.chk, user+"/load", nil)})
			if err != nil {
				return fmt.Errorf("dial %s: %w", user, err)
			}
			g.drains.Add(1)
			go func() { defer g.drains.Done(); drainSDK(c) }()
			out[i] = c
			return nil
		})
		g.all = append(g.all, out...)
		if err != nil {
			g.close()
			return nil, err
		}
	}
	return g, nil
}

func (g *wsCrashGen) send(ctx context.Context, i int, cmid string) (protocol.Ack, error) {
	return g.senders[i].Send(ctx, parley.SendOptions{To: fmt.Sprintf("r%d", i), Body: g.body, ClientMsgID: cmid})
}

func (g *wsCrashGen) close() {
	var wg sync.WaitGroup
	for _, c := range g.all {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
	}
	wg.Wait()
	g.drains.Wait()
}

// mqttCrashGen: receivers on persistent sessions subscribed to their inbox
// at QoS 1 (every delivery recorded, its PUBACK recorded as the device's
// ack), senders on clean sessions publishing JSON envelopes with the
// client message id at QoS 1.
type mqttCrashGen struct {
	receivers, senders []*mqttclient.Client
	convs              []string
	body               string
	cancel             context.CancelFunc
}

func (cr *crashRun) connectMQTT(ctx context.Context, srv *proc.Server) (crashGen, error) {
	addr, err := proc.MQTTAddr(srv)
	if err != nil {
		return nil, err
	}
	g := &mqttCrashGen{receivers: make([]*mqttclient.Client, cr.n), senders: make([]*mqttclient.Client, cr.n), convs: cr.convs, body: cr.body}
	err = conc.ForEachLimited(context.Background(), cr.n, 16, func(i int) error {
		user := fmt.Sprintf("r%d", i)
		c, present, err := mqttclient.DialSession(ctx, mqttclient.DialOptions{Persistent: true, Addr: addr, ClientID: "load", User: user, Password: cr.tokens[user],
			KeepAlive: cr.f.keepalive, OnPublish: mqttRecorder(cr.chk, user+"/load", nil)})
		if err != nil {
			return fmt.Errorf("mqtt %s: %w", user, err)
		}
		g.receivers[i] = c
		if present {
			cr.present.Add(1)
			return nil
		}
		return c.Subscribe(ctx, 1, "IMS/"+user+"/Inbox/Msg/#")
	})
	if err == nil {
		us := make([]mqttclient.User, cr.n)
		for i := range us {
			u := fmt.Sprintf("s%d", i)
			us[i] = mqttclient.User{User: u, Device: "load", Password: cr.tokens[u]}
		}
		err = mqttclient.Connect(ctx, addr, cr.f.keepalive, us, g.senders, 0, cr.n, 16, 1, nil, nil)
	}
	if err != nil {
		g.close()
		return nil, err
	}
	var pctx context.Context
	pctx, g.cancel = context.WithCancel(context.Background())
	all := append(append([]*mqttclient.Client(nil), g.receivers...), g.senders...)
	mqttclient.Pinger(pctx, func() []*mqttclient.Client { return all }, cr.f.keepalive/2)
	return g, nil
}

func (g *mqttCrashGen) send(ctx context.Context, i int, cmid string) (protocol.Ack, error) {
	payload, _ := json.Marshal(map[string]string{"body": g.body, "client_msg_id": cmid})
	err := g.senders[i].PublishWait(ctx, fmt.Sprintf("IMS/p2p/r%d", i), payload)
	return protocol.Ack{Conv: g.convs[i], ClientMsgID: cmid}, err
}

func (g *mqttCrashGen) close() {
	if g.cancel != nil {
		g.cancel()
	}
	mqttclient.CloseAll(g.senders)
	mqttclient.CloseAll(g.receivers)
}

// Helpers shared with b5.

// recordDelivery records a message given to device in chk; entries no
// test sender made (membership and system events) are recorded as stored.
func recordDelivery(chk *checker.Checker, device string, m protocol.Message) {
	if m.Kind != protocol.KindMessage {
		chk.Stored(m.Conv, m.Seq, m.ID)
	}
	chk.Deliver(device, m.Conv, m.Seq, m.ID, m.ClientMsgID, m.From)
}

// traceTo returns an SDK trace that records every message the client
// receives (repeats included) and every ack it sends in chk, and calls got,
// if set, for every message received (on the client's reader goroutine).
func traceTo(chk *checker.Checker, device string, got func(m *protocol.Message)) *parley.Trace {
	return &parley.Trace{
		Received: func(m protocol.Message) {
			recordDelivery(chk, device, m)
			if got != nil {
				got(&m)
			}
		},
		Acking: func(conv string, seq uint64) { chk.Ack(device, conv, seq) },
	}
}

// mqttRecorder is an OnPublish handler that records every message
// delivery in chk and, when the client writes a PUBACK right after it
// (Pub.Acked), that PUBACK as the device's ack; got, if set, is called for
// every message.
func mqttRecorder(chk *checker.Checker, device string, got func(m *protocol.Message)) func(*mqttclient.Pub, time.Time) {
	return func(p *mqttclient.Pub, _ time.Time) {
		if !strings.Contains(p.Topic, "/Inbox/Msg/") {
			return
		}
		var m protocol.Message
		if err := json.Unmarshal(p.Payload, &m); err != nil || m.Conv == "" || m.Seq == 0 || m.ID == "" {
			fmt.Fprintf(os.Stderr, "%s: unreadable delivery on %s: %.200s\n", device, p.Topic, p.Payload)
			return
		}
		recordDelivery(chk, device, m)
		// Only a PUBACK the client really writes is an ack: a QoS 1
		// PUBLISH that arrives once Close has begun gets none, and the
		// server may deliver it again (not a duplicate). Acked also
		// means the PUBACK goes out before the DISCONNECT and the server
		// reads it (mqttclient.Client.Close).
		if p.Acked {
			chk.Ack(device, m.Conv, m.Seq)
		}
		if got != nil {
			got(&m)
		}
	}
}

// drainSDK reads and drops what an SDK client hands to the application
// until it is closed, so that it never blocks its connection.
func drainSDK(c *parley.Client) {
	go func() {
		for range c.Events() {
		}
	}()
	for range c.Messages() {
	}
}

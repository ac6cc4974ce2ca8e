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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// maxSendsPerSender bounds each sender's loop besides the time limit.
const maxSendsPerSender = 5_000_000

type durableFlags struct {
	server      string
	senders     []int
	duration    time.Duration
	warmup      time.Duration
	cpuServer   int
	cpuClient   int
	bodyBytes   int
	authMode    string
	workers     int
	fsyncProbe  time.Duration
	perfDir     string
	keep        bool
	sendTimeout time.Duration
}

func runDurable(args []string) error {
	fs := flag.NewFlagSet("durable", flag.ContinueOnError)
	var f durableFlags
	var senders string
	fs.StringVar(&f.server, "server", "", "path of the parley binary (required)")
	fs.StringVar(&senders, "senders", "1,16,256", "comma-separated concurrent sender counts; one fresh server per count")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured window per sender count")
	fs.DurationVar(&f.warmup, "warmup", 3*time.Second, "closed-loop sending before the window (not measured)")
	fs.IntVar(&f.cpuServer, "cpu-server", 0, "CPU to pin the server to with taskset (-1: no pinning)")
	fs.IntVar(&f.cpuClient, "cpu-client", 1, "CPU to pin the harness to with taskset (-1: no pinning)")
	fs.IntVar(&f.bodyBytes, "body-bytes", 100, "message body size in bytes")
	fs.StringVar(&f.authMode, "auth", "cli", "cli: users and tokens made with 'parley user add' and 'parley token'; external: application-signed JWTs")
	fs.IntVar(&f.workers, "cli-workers", 2, "parallel 'parley user add/token' processes while preparing")
	fs.DurationVar(&f.fsyncProbe, "fsync-probe", 2*time.Second, "measure write+fdatasync per second in the data directory for this long (0: skip)")
	fs.StringVar(&f.perfDir, "perf-dir", "", "if set, record the server with 'perf record -g' during each window into DIR/server-N.data (perf costs CPU: do not use these runs' CPU figures)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary data directories and server logs")
	fs.DurationVar(&f.sendTimeout, "send-timeout", 30*time.Second, "give up on one send after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench durable -server BIN [flags]\n\n"+
			"Closed-loop durable one-to-one sends (sender s<i> to receiver r<i>), one fresh\n"+
			"server per sender count. Reports acked sends/s, ack latency p50/p99, server CPU\n"+
			"µs per acked message, mean commit batch size and the fsync rate of the disk.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.server == "" {
		fs.Usage()
		return errors.New("-server is required")
	}
	for _, s := range strings.Split(senders, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("-senders: %q is not a count in 1..10000", s)
		}
		f.senders = append(f.senders, n)
	}
	if f.duration <= 0 || f.duration > time.Hour || f.warmup < 0 || f.warmup > 10*time.Minute {
		return errors.New("-duration must be in (0, 1h] and -warmup in [0, 10m]")
	}
	if f.authMode != "cli" && f.authMode != "external" {
		return fmt.Errorf("-auth must be cli or external")
	}
	bin, err := filepath.Abs(f.server)
	if err != nil {
		return err
	}
	f.server = bin
	pinSelf(f.cpuClient)
	if _, err := raiseNoFile(); err != nil {
		fmt.Fprintln(os.Stderr, "raise RLIMIT_NOFILE:", err)
	}

	root, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Println("data directories under", root)
	} else {
		defer os.RemoveAll(root)
	}
	mach := describeMachine()
	date := time.Now().UTC().Format(time.RFC3339)
	fmt.Printf("machine: %d cores, %s, %s, kernel %s; harness %s GOMAXPROCS=%d pinned=%q; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, runtime.GOMAXPROCS(0), os.Getenv(pinnedEnv), loadAvg())

	var fsyncRate float64
	if f.fsyncProbe > 0 {
		p, err := probeFsync(root, f.fsyncProbe)
		if err != nil {
			return fmt.Errorf("fsync probe: %w", err)
		}
		fsyncRate = p.perS
		fmt.Printf("fsync probe: %.0f write+fdatasync/s of 100 bytes in %s (p50 %.3f ms, %.1f µs CPU each): "+
			"the ceiling of one fsync per message\n", p.perS, root, p.p50ms, p.cpuUs)
		emit(map[string]any{"scenario": "fsync", "fsync_per_s": round(p.perS, 0), "fsync_p50_ms": round(p.p50ms, 3),
			"fsync_cpu_us": round(p.cpuUs, 1), "cores": mach.Cores, "date": date})
	}

	maxN := slices.Max(f.senders)
	tmpl := filepath.Join(root, "template")
	if err := os.MkdirAll(tmpl, 0o700); err != nil {
		return err
	}
	var tokens map[string]string
	var ext *externalAuth
	var serverEnv []string
	users := make([]string, 0, 2*maxN)
	for i := range maxN {
		users = append(users, fmt.Sprintf("r%d", i), fmt.Sprintf("s%d", i))
	}
	switch f.authMode {
	case "cli":
		t0 := time.Now()
		fmt.Printf("preparing %d users and tokens with %s user add / token (%d at a time)...\n", len(users), filepath.Base(bin), f.workers)
		if tokens, err = cliTokens(bin, tmpl, users, "load", f.workers); err != nil {
			return err
		}
		fmt.Printf("prepared in %s\n", time.Since(t0).Round(time.Second))
	case "external":
		if ext, err = newExternalAuth(); err != nil {
			return err
		}
		serverEnv = ext.env()
		tokens = map[string]string{}
		for _, u := range users {
			if tokens[u], err = ext.token(u, "load", 2*time.Hour); err != nil {
				return err
			}
		}
	}

	var base float64 // acked/s with 1 sender, for ratios
	for _, n := range f.senders {
		dir := filepath.Join(root, fmt.Sprintf("run-%d", n))
		if err := copyDir(tmpl, dir); err != nil {
			return err
		}
		r, err := durableRun(f, n, dir, tokens, serverEnv)
		if err != nil {
			return fmt.Errorf("%d senders: %w", n, err)
		}
		if n == 1 {
			base = r.ackedPerS
		}
		res := map[string]any{
			"scenario": "durable", "senders": n, "acked_per_s": round(r.ackedPerS, 0),
			"p50_ms": round(r.p50, 3), "p99_ms": round(r.p99, 3), "max_ms": round(r.maxLat, 3),
			"server_cpu_us_per_msg": round(r.serverCPUPerMsg, 1), "harness_cpu_us_per_msg": round(r.harnessCPUPerMsg, 1),
			"server_cpu_util": round(r.serverUtil, 2), "harness_cpu_util": round(r.harnessUtil, 2), "other_cpu_util": round(r.otherUtil, 2),
			"commit_batch_mean": round(r.batchMean, 1), "commits_per_s": round(r.commitsPerS, 0),
			"acked": r.acked, "errors": r.errors, "window_s": round(r.window.Seconds(), 2), "body_bytes": f.bodyBytes,
			"server_sends_delta": r.serverSends, "run_sent": r.sentTotal, "run_received_by_receivers": r.received, "run_received_by_senders": r.echoes, "run_events": r.events,
			"run_events_at_senders": r.senderEvents, "run_receipts": r.receipts,
			"gomaxprocs": r.gomaxprocs, "harness_gomaxprocs": runtime.GOMAXPROCS(0), "cores": mach.Cores,
			"cpu_server": f.cpuServer, "cpu_client": f.cpuClient, "auth": f.authMode, "loadavg": r.loadavg,
			"profiled": f.perfDir != "", "date": time.Now().UTC().Format(time.RFC3339),
		}
		if fsyncRate > 0 {
			res["fsync_per_s"] = round(fsyncRate, 0)
			res["acked_per_fsync"] = round(r.ackedPerS/fsyncRate, 2)
		}
		if base > 0 {
			res["ratio_vs_1_sender"] = round(r.ackedPerS/base, 2)
		}
		fmt.Printf("durable senders=%d: %.0f acked/s, ack p50 %.2f ms p99 %.2f ms (max %.1f), server CPU %.1f µs/msg (%.2f cores busy), "+
			"harness CPU %.1f µs/msg (%.2f cores), other processes %.2f cores, commit batch mean %.1f (%.0f commits/s), errors %d\n",
			n, r.ackedPerS, r.p50, r.p99, r.maxLat, r.serverCPUPerMsg, r.serverUtil, r.harnessCPUPerMsg, r.harnessUtil, r.otherUtil,
			r.batchMean, r.commitsPerS, r.errors)
		emit(res)
		if !f.keep {
			os.RemoveAll(dir)
			os.Remove(dir + ".server.log")
		}
	}
	return nil
}

type durableResult struct {
	windowStats
	received, echoes, events, senderEvents, receipts int64
}

// snapshot is the state at one edge of the measured window.
type snapshot struct {
	at          time.Time
	serverTicks int64
	harness     time.Duration
	busy, total int64
	metrics     map[string]float64
}

func takeSnapshot(ctx context.Context, s *server) (snapshot, error) {
	var sn snapshot
	var err error
	sn.at = time.Now()
	if sn.serverTicks, err = procCPU(s.pid); err != nil {
		return sn, err
	}
	sn.harness = selfCPU()
	sn.busy, sn.total = machineCPU()
	sn.metrics, err = s.metrics(ctx)
	return sn, err
}

func durableRun(f durableFlags, n int, dir string, tokens map[string]string, env []string) (durableResult, error) {
	var r durableResult
	srv, err := startServer(f.server, dir, f.cpuServer, env)
	if err != nil {
		return r, err
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop server:", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), f.warmup+f.duration+2*time.Minute)
	defer cancel()

	// Connect receivers first (so every direct conversation's peer is
	// online), then senders; every client's messages and events are drained.
	var received, echoes, events, senderEvents, receipts atomic.Int64
	var drains sync.WaitGroup
	dial := func(user string, count *atomic.Int64) (*parley.Client, error) {
		c, err := parley.Dial(ctx, parley.Options{URL: srv.url, Token: tokens[user], Buffer: 256})
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", user, err)
		}
		drains.Add(2)
		go func() {
			defer drains.Done()
			for range c.Messages() {
				count.Add(1)
			}
		}()
		go func() {
			defer drains.Done()
			for e := range c.Events() {
				events.Add(1)
				if count == &echoes {
					senderEvents.Add(1)
				}
				if e.Type == protocol.TypeReceipt {
					receipts.Add(1)
				}
			}
		}()
		return c, nil
	}
	clients := make([]*parley.Client, 0, 2*n)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
		wg.Wait()
		drains.Wait()
	}()
	senders := make([]*parley.Client, n)
	for _, role := range []string{"r", "s"} {
		errs := make(chan error, n)
		sem := make(chan struct{}, 16)
		var mu sync.Mutex
		for i := range n {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				cnt := &received
				if role == "s" {
					cnt = &echoes
				}
				c, err := dial(fmt.Sprintf("%s%d", role, i), cnt)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				clients = append(clients, c)
				if role == "s" {
					senders[i] = c
				}
				mu.Unlock()
			}()
		}
		for range cap(sem) {
			sem <- struct{}{}
		}
		select {
		case err := <-errs:
			return r, err
		default:
		}
	}

	body := strings.Repeat("x", f.bodyBytes)
	winStart := time.Now().Add(f.warmup)
	_, _, w, err := closedLoop(ctx, cancel, loop{srv: srv, n: n, winStart: winStart, winEnd: winStart.Add(f.duration),
		sendTimeout: f.sendTimeout, perfDir: f.perfDir, what: "sends"}, func(ctx context.Context, i int) (bool, error) {
		_, err := senders[i].Send(ctx, parley.SendOptions{To: fmt.Sprintf("r%d", i), Body: body})
		return false, err
	})
	if err != nil {
		return r, err
	}
	r.windowStats = w
	// Totals over the whole run (warm-up included), to relate them.
	r.received, r.echoes, r.events = received.Load(), echoes.Load(), events.Load()
	r.senderEvents, r.receipts = senderEvents.Load(), receipts.Load()
	return r, nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// startPerf records the server with perf for d; nil if perf is missing.
func startPerf(dir string, n, pid int, d time.Duration) *exec.Cmd {
	p, err := exec.LookPath("perf")
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf not found; no profile")
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "perf dir:", err)
		return nil
	}
	out := filepath.Join(dir, fmt.Sprintf("server-%d.data", n))
	secs := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
	cmd := exec.Command(p, "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out, "--", "sleep", secs)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		return nil
	}
	fmt.Printf("recording the server with perf into %s\n", out)
	return cmd
}

// fsyncProbe is what probeFsync measured.
type fsyncProbe struct {
	perS  float64 // write+fdatasync per second
	p50ms float64 // median fdatasync latency
	cpuUs float64 // CPU (user+system) per write+fdatasync
}

// probeFsync appends 100 bytes and calls fdatasync in a loop for d (at most
// 1,000,000 times) in a file under dir.
func probeFsync(dir string, d time.Duration) (fsyncProbe, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return fsyncProbe{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 100)
	lat := make([]time.Duration, 0, 4096)
	cpu0 := selfCPU()
	start := time.Now()
	for i := 0; i < 1_000_000 && time.Since(start) < d; i++ {
		if _, err := f.Write(buf); err != nil {
			return fsyncProbe{}, err
		}
		t0 := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fsyncProbe{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	el := time.Since(start).Seconds()
	cpu := selfCPU() - cpu0
	slices.Sort(lat)
	if len(lat) == 0 {
		return fsyncProbe{}, errors.New("no sync completed")
	}
	return fsyncProbe{perS: float64(len(lat)) / el, p50ms: ms(percentile(lat, 0.5)),
		cpuUs: float64(cpu.Microseconds()) / float64(len(lat))}, nil
}

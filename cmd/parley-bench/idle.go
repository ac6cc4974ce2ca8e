package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/protocol"
)

type idleFlags struct {
	server      string
	conns       int
	perUser     int
	concurrency int
	settle      time.Duration
	idle        time.Duration
	cpuServer   int
	cpuClient   int
	timeout     time.Duration
	keep        bool
}

func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	var f idleFlags
	fs.StringVar(&f.server, "server", "", "path of the parley binary (required)")
	fs.IntVar(&f.conns, "conns", 10000, "idle authenticated WebSocket connections to open")
	fs.IntVar(&f.perUser, "devices-per-user", 100, "connections (devices) per user: users u0.. with devices d0..")
	fs.IntVar(&f.concurrency, "dial-concurrency", 32, "connections being opened at once")
	fs.DurationVar(&f.settle, "settle", 3*time.Second, "wait after the last connection before measuring")
	fs.DurationVar(&f.idle, "idle", 10*time.Second, "idle window over which the server's CPU is measured")
	fs.IntVar(&f.cpuServer, "cpu-server", 0, "CPU to pin the server to with taskset (-1: no pinning)")
	fs.IntVar(&f.cpuClient, "cpu-client", 1, "CPU to pin the harness to with taskset (-1: no pinning)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up if connecting takes longer than this")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary data directory and server log")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench idle -server BIN [flags]\n\n"+
			"Opens N authenticated WebSocket connections (hello + resume) and keeps them\n"+
			"idle. Reports the server's RSS delta per connection (VmRSS), Go heap and stack\n"+
			"per connection, goroutines per connection and idle CPU.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.server == "" {
		fs.Usage()
		return errors.New("-server is required")
	}
	if f.conns < 1 || f.conns > 100_000 || f.perUser < 1 || f.concurrency < 1 {
		return errors.New("-conns must be in 1..100000; -devices-per-user and -dial-concurrency at least 1")
	}
	bin, err := filepath.Abs(f.server)
	if err != nil {
		return err
	}
	pinSelf(f.cpuClient)
	limit, err := raiseNoFile()
	if err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if limit < uint64(f.conns)+256 {
		return fmt.Errorf("RLIMIT_NOFILE hard limit %d is too low for %d connections", limit, f.conns)
	}
	mach := describeMachine()
	fmt.Printf("machine: %d cores, %s, %s, kernel %s; harness %s GOMAXPROCS=%d pinned=%q; RLIMIT_NOFILE %d; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, runtime.GOMAXPROCS(0), os.Getenv(pinnedEnv), limit, loadAvg())

	root, err := os.MkdirTemp("", "parley-bench-idle-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Println("data directory under", root)
	} else {
		defer os.RemoveAll(root)
	}
	ext, err := newExternalAuth()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "data")
	srv, err := startServer(bin, dir, f.cpuServer, ext.env())
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop server:", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout+f.settle+f.idle+time.Minute)
	defer cancel()

	time.Sleep(time.Second)
	base, err := memSnapshot(ctx, srv)
	if err != nil {
		return err
	}
	fmt.Printf("baseline: RSS %d KiB, heap in use %.0f KiB, stacks %.0f KiB, %d goroutines\n",
		base.rssKB, base.heapInuse/1024, base.stackInuse/1024, int(base.goroutines))

	wsURL := "ws" + strings.TrimPrefix(srv.url, "http") + "/v1/ws"
	conns := make([]*websocket.Conn, f.conns)
	defer closeAll(conns)
	half := f.conns / 2
	var mid memState
	t0 := time.Now()
	dialCtx, dialCancel := context.WithTimeout(ctx, f.timeout)
	defer dialCancel()
	for _, part := range [][2]int{{0, half}, {half, f.conns}} {
		if err := openConns(dialCtx, wsURL, ext, conns, part[0], part[1], f); err != nil {
			return err
		}
		if part[0] == 0 && half > 0 {
			time.Sleep(f.settle)
			if mid, err = memSnapshot(ctx, srv); err != nil {
				return err
			}
		}
	}
	connectTime := time.Since(t0)
	fmt.Printf("opened %d connections in %s (two halves, %s settle between)\n", f.conns, connectTime.Round(time.Millisecond), f.settle)
	time.Sleep(f.settle)
	full, err := memSnapshot(ctx, srv)
	if err != nil {
		return err
	}
	if int(full.connections) != f.conns {
		fmt.Fprintf(os.Stderr, "warning: the server reports %d connections, expected %d\n", int(full.connections), f.conns)
	}
	// Idle window: server CPU while nothing happens (pings run every
	// ping_interval, 25 s by default, so a window shorter than that may
	// or may not contain one round).
	c0, _ := procCPU(srv.pid)
	i0 := time.Now()
	time.Sleep(f.idle)
	c1, _ := procCPU(srv.pid)
	idleSecs := time.Since(i0).Seconds()
	end, err := memSnapshot(ctx, srv)
	if err != nil {
		return err
	}
	hwm, _ := procStatus(srv.pid, "VmHWM")

	n := float64(f.conns)
	kbPerConn := float64(full.rssKB-base.rssKB) / n
	kbPerConnEnd := float64(end.rssKB-base.rssKB) / n
	marginal := 0.0
	if half > 0 {
		marginal = float64(full.rssKB-mid.rssKB) / float64(f.conns-half)
	}
	heapPer := (full.heapInuse - base.heapInuse) / 1024 / n
	stackPer := (full.stackInuse - base.stackInuse) / 1024 / n
	gorPer := (full.goroutines - base.goroutines) / n
	idleCPU := float64(c1-c0) * 1e6 / clockTicks / idleSecs // µs of CPU per second
	fmt.Printf("idle conns=%d: RSS %d -> %d KiB (%d KiB at %d conns, %d KiB after %s idle; peak %d KiB): %.2f KiB/conn "+
		"(marginal, second half: %.2f KiB/conn; after idle %.2f); Go heap in use %.2f KiB/conn (%.2f after idle, %d GCs), "+
		"stacks %.2f KiB/conn; %.2f goroutines/conn; OS threads %d; idle server CPU %.0f µs/s (%.3f µs per conn per s)\n",
		f.conns, base.rssKB, full.rssKB, mid.rssKB, half, end.rssKB, f.idle, hwm, kbPerConn, marginal, kbPerConnEnd,
		heapPer, (end.heapInuse-base.heapInuse)/1024/n, int(end.gcCount-full.gcCount),
		stackPer, gorPer, full.threads, idleCPU, idleCPU/n)
	emit(map[string]any{
		"scenario": "idle", "conns": f.conns, "kb_per_conn": round(kbPerConn, 2), "kb_per_conn_marginal": round(marginal, 2),
		"kb_per_conn_after_idle": round(kbPerConnEnd, 2),
		"heap_kb_per_conn":       round(heapPer, 2), "stack_kb_per_conn": round(stackPer, 2), "goroutines_per_conn": round(gorPer, 2),
		"rss_base_kb": base.rssKB, "rss_kb": full.rssKB, "rss_after_idle_kb": end.rssKB, "rss_peak_kb": hwm,
		"server_connections": int(full.connections), "threads": full.threads, "frames_while_idle": idleFrames.Load(),
		"idle_cpu_us_per_s": round(idleCPU, 0), "connect_s": round(connectTime.Seconds(), 1), "idle_s": round(idleSecs, 1),
		"heap_alloc_kb_per_conn":            round((full.heapAlloc-base.heapAlloc)/1024/n, 2),
		"heap_kb_per_conn_after_idle":       round((end.heapInuse-base.heapInuse)/1024/n, 2),
		"heap_alloc_kb_per_conn_after_idle": round((end.heapAlloc-base.heapAlloc)/1024/n, 2),
		"gc_cycles_during_idle":             int(end.gcCount - full.gcCount), "gc_cycles_total": int(end.gcCount),
		// Absolute, not a delta: the baseline's last GC ran while the
		// server's start-up garbage was live, so its estimate is too high.
		"heap_live_est_kb_per_conn_after_idle": round(end.liveEst/1024/n, 2),
		"gomaxprocs":                           gomaxprocsOf(full.metrics), "harness_gomaxprocs": runtime.GOMAXPROCS(0), "cores": mach.Cores,
		"cpu_server": f.cpuServer, "cpu_client": f.cpuClient, "devices_per_user": f.perUser, "loadavg": loadAvg(),
		"date": time.Now().UTC().Format(time.RFC3339),
	})
	return nil
}

// idleFrames counts frames the idle connections received after resuming.
var idleFrames atomic.Int64

type memState struct {
	rssKB                 int64
	threads               int64
	heapInuse, stackInuse float64
	heapAlloc, gcCount    float64
	// liveEst estimates the heap that survived the last GC from its goal:
	// with GOGC=100 the goal is live + (live + stacks + globals), so
	// live ≈ (goal - stacks) / 2 (globals, a few MB, are ignored).
	liveEst     float64
	goroutines  float64
	connections float64
	metrics     map[string]float64
}

func memSnapshot(ctx context.Context, s *server) (memState, error) {
	var m memState
	var err error
	if m.metrics, err = s.metrics(ctx); err != nil {
		return m, err
	}
	// RSS after the scrape, so both describe the same moment as closely
	// as possible (the scrape itself allocates a little).
	if m.rssKB, err = procStatus(s.pid, "VmRSS"); err != nil {
		return m, err
	}
	m.threads, _ = procStatus(s.pid, "Threads")
	m.heapInuse = m.metrics["go_memstats_heap_inuse_bytes"]
	m.stackInuse = m.metrics["go_memstats_stack_inuse_bytes"]
	m.goroutines = m.metrics["go_goroutines"]
	m.heapAlloc = m.metrics["go_memstats_heap_alloc_bytes"]
	m.gcCount = m.metrics["go_gc_duration_seconds_count"]
	m.liveEst = (m.metrics["go_memstats_next_gc_bytes"] - m.stackInuse) / 2
	m.connections = m.metrics["parley_connections"]
	return m, nil
}

// openConns opens conns[lo:hi]: dial, hello with an application token for
// user u<i/perUser> on device d<i>, resume, wait for "resumed"; then the
// connection is left to a reader that answers pings.
func openConns(ctx context.Context, url string, ext *externalAuth, conns []*websocket.Conn, lo, hi int, f idleFlags) error {
	var firstErr atomic.Value
	var failed atomic.Int64
	sem := make(chan struct{}, f.concurrency)
	var wg sync.WaitGroup
	for i := lo; i < hi && ctx.Err() == nil && failed.Load() == 0; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openConn(ctx, url, ext, fmt.Sprintf("u%d", i/f.perUser), fmt.Sprintf("d%d", i))
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return e.(error)
	}
	return ctx.Err()
}

func openConn(ctx context.Context, url string, ext *externalAuth, user, device string) (*websocket.Conn, error) {
	tok, err := ext.token(user, device, time.Hour)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*websocket.Conn, error) { c.CloseNow(); return nil, err }
	write := func(req protocol.Request) error {
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		return c.Write(dctx, websocket.MessageText, b)
	}
	if err := write(protocol.Request{ID: "h", Op: protocol.OpHello, Version: protocol.Version, Token: tok}); err != nil {
		return fail(err)
	}
	if err := write(protocol.Request{ID: "r", Op: protocol.OpResume}); err != nil {
		return fail(err)
	}
	// Read until the resume has ended (bounded: a new device has nothing
	// to resume, so a few frames at most).
	for range 1000 {
		_, data, err := c.Read(dctx)
		if err != nil {
			return fail(err)
		}
		var fr protocol.Frame
		if err := json.Unmarshal(data, &fr); err != nil {
			return fail(err)
		}
		if fr.Error != nil {
			return fail(fr.Error)
		}
		if fr.Type == protocol.TypeResumed {
			// Keep reading in the background so pings are answered;
			// frames that arrive while idle are counted and dropped.
			go func() {
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						return
					}
					idleFrames.Add(1)
				}
			}()
			return c, nil
		}
	}
	return fail(errors.New("no resumed frame after 1000 frames"))
}

// closeAll closes the connections, 64 at a time.
func closeAll(conns []*websocket.Conn) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.CloseNow()
		}()
	}
	wg.Wait()
}

package scenario

// b6, system notices: N users tagged region=beijing with `parley tags
// import --create-users` (the import path, timed), L of them connected
// over WebSocket (spread over the id order), and a b1 stream of one-to-one
// chat (P pairs over WebSocket at a fixed rate, open loop). It measures the
// chat for a window without a notice (the baseline), then sends one notice
// to region=beijing through the admin API and measures: the time until
// every copy is stored (the notice's state done), the time until every
// live device has received its copy, and the chat's send→deliver p99 while
// the notice was being sent, against the baseline's.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
	"github.com/parley-im/parley/cmd/parley-bench/internal/wsclient"
	"github.com/parley-im/parley/protocol"
)

func init() {
	register(Scenario{"b6", "system notice to N tagged users (import, store, deliver to L live devices) while b1 chat runs", runB6})
}

type b6Flags struct {
	common
	users       int
	live        int
	pairs       int
	rate        int
	window      time.Duration
	warmup      time.Duration
	timeout     time.Duration
	chunkUsers  int
	perSecond   int
	chunkTime   time.Duration
	concurrency int
}

func parseB6Flags(args []string) (*b6Flags, error) {
	fs := flag.NewFlagSet("b6", flag.ContinueOnError)
	f := &b6Flags{}
	f.flags(fs, false)
	fs.IntVar(&f.users, "users", 100_000, "users tagged region=beijing (created by parley tags import --create-users)")
	fs.IntVar(&f.live, "live", 2000, "of them, connected over WebSocket while the notice is sent (every users/live-th user)")
	fs.IntVar(&f.pairs, "pairs", 100, "b1 pairs chatting over WebSocket meanwhile")
	fs.IntVar(&f.rate, "rate", 1000, "b1 chat rate over all pairs, messages/s (open loop)")
	fs.DurationVar(&f.window, "window", 10*time.Second, "measured window of the chat without a notice (the baseline)")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "chat before each window, not measured")
	fs.DurationVar(&f.timeout, "timeout", 120*time.Second, "longest the notice may take to be stored and delivered; the chat's second window lasts until then or until it is")
	fs.IntVar(&f.chunkUsers, "chunk-users", 0, "the server's notices.chunk_users (0: its default)")
	fs.IntVar(&f.perSecond, "users-per-second", 0, "the server's notices.users_per_second (0: its default)")
	fs.DurationVar(&f.chunkTime, "chunk-time", 0, "the server's notices.chunk_time (0: its default)")
	fs.IntVar(&f.concurrency, "dial-concurrency", 32, "live connections opened at once")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench b6 -server BIN [flags]\n\n"+
			"System notices (issue 12): -users users are tagged region=beijing with the server's\n"+
			"own `parley tags import --create-users` (timed: import_ms), the server starts, -live of\n"+
			"them connect over WebSocket, and -pairs pairs chat one-to-one at -rate messages/s as b1\n"+
			"does (open loop, latency from the scheduled time). After a -window of chat alone (the\n"+
			"baseline), one notice to region=beijing is sent through the admin API while the chat\n"+
			"goes on. Result lines: step \"baseline\" (chat p50/p99) and step \"notice\":\n"+
			"time_to_stored_ms (the POST to the notice's state done, polled; also the server's own\n"+
			"stored_ms, finished_at - created_at), time_to_live_delivered_ms (the POST to the last\n"+
			"live device's copy), matched/stored/delivered as the server counts them, the chat's p99\n"+
			"while the notice was sent and its ratio to the baseline's, server CPU, and the notice's\n"+
			"chunk count and mean and largest chunk duration (parley_notice_chunk_seconds).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case f.users < 1 || f.users > 10_000_000:
		return nil, fmt.Errorf("-users must be in 1..10000000, not %d", f.users)
	case f.live < 0 || f.live > f.users || f.live > 18_000:
		return nil, fmt.Errorf("-live must be in 0..min(users, 18000), not %d", f.live)
	case f.pairs < 1 || f.pairs > 5000:
		return nil, fmt.Errorf("-pairs must be in 1..5000, not %d", f.pairs)
	case f.rate < 1 || f.rate > 100_000:
		return nil, fmt.Errorf("-rate must be in 1..100000, not %d", f.rate)
	case f.window < 100*time.Millisecond || f.warmup < 0 || f.timeout < time.Second:
		return nil, fmt.Errorf("-window (≥100ms), -warmup (≥0) or -timeout (≥1s) out of range")
	}
	return f, nil
}

func runB6(args []string) error {
	f, err := parseB6Flags(args)
	if err != nil {
		return err
	}
	root, done, err := f.setup("b6")
	if err != nil {
		return err
	}
	defer done()
	if _, err := proc.CheckNoFile(2*f.pairs + f.live + 64); err != nil {
		return err
	}
	mach := proc.DescribeMachine()
	fmt.Printf("b6: machine %d cores, %s, %s, kernel %s; generator %s GOMAXPROCS=%d pinned=%q; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, runtime.GOMAXPROCS(0), os.Getenv(proc.PinnedEnv), proc.LoadAvg())
	dir := filepath.Join(root, "parley")

	// The import path: a file of users and tags, then the CLI.
	tagsFile := filepath.Join(root, "tags.txt")
	if err := b6TagsFile(tagsFile, f.users); err != nil {
		return err
	}
	t0 := time.Now()
	cmd := exec.Command(f.server, "tags", "import", tagsFile, "--create-users", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "PARLEY_LOG_LEVEL=warn")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("parley tags import: %v: %s", err, out)
	}
	importTime := time.Since(t0)
	fmt.Printf("b6: %s (%s)\n", strings.TrimSpace(string(out)), importTime.Round(time.Millisecond))

	ext, err := auth.NewExternal()
	if err != nil {
		return err
	}
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	adminKey := hex.EncodeToString(key)
	env := append(ext.Env(), "PARLEY_AUTH_ADMIN_KEY="+adminKey, "PARLEY_NOTICES_PER_MINUTE=1000")
	if f.chunkUsers > 0 {
		env = append(env, fmt.Sprintf("PARLEY_NOTICES_CHUNK_USERS=%d", f.chunkUsers))
	}
	if f.perSecond > 0 {
		env = append(env, fmt.Sprintf("PARLEY_NOTICES_USERS_PER_SECOND=%d", f.perSecond))
	}
	if f.chunkTime > 0 {
		env = append(env, "PARLEY_NOTICES_CHUNK_TIME="+f.chunkTime.String())
	}
	srv, err := proc.StartServer(f.server, dir, f.cpuServer, f.serverEnv(env...))
	if err != nil {
		return err
	}
	defer srv.StopOrLog()
	ctx, cancel := context.WithTimeout(context.Background(), 2*f.timeout+2*(f.window+f.warmup)+5*time.Minute)
	defer cancel()
	m0, err := srv.Metrics(ctx)
	if err != nil {
		return err
	}

	// The live devices, spread over the audience's id order; each
	// records when its copy of a notice arrives.
	conns := make([]*websocket.Conn, f.live)
	arrived := make([]atomic.Int64, f.live) // unix ns of the first copy; 0: none
	var got atomic.Int64
	stride := max(f.users/max(f.live, 1), 1)
	t0 = time.Now()
	err = wsclient.OpenConns(ctx, wsURL(srv.URL), ext, conns, 0, f.live, wsclient.OpenOptions{Concurrency: f.concurrency,
		Name: func(i int) (string, string) { return b6User(i * stride), "live" },
		OnFrame: func(i int) func([]byte, time.Time) {
			return func(data []byte, at time.Time) {
				if bytes.Contains(data, []byte(`"notice":"n_`)) && arrived[i].CompareAndSwap(0, at.UnixNano()) {
					got.Add(1)
				}
			}
		}})
	defer wsclient.CloseAll(conns)
	if err != nil {
		return fmt.Errorf("live devices: %w", err)
	}
	fmt.Printf("b6: %d live devices connected in %s\n", f.live, time.Since(t0).Round(time.Millisecond))

	// The chat, as b1 over WebSocket.
	bf := &b1Flags{common: f.common, pairs: f.pairs, rates: []int{f.rate}, step: f.window, warmup: f.warmup, grace: 5 * time.Second,
		protocols: []string{"ws"}, bodyBytes: 100, maxInflight: 1000, p99Limit: time.Second, lossPct: 100}
	b := &b1Bench{f: bf, sys: b1System{"parley", "ws"}, steps: make([]atomic.Pointer[b1Step], 2), srv: srv, pid: srv.PID,
		gomaxprocs: proc.GomaxprocsOf(m0)}
	ttl := f.timeout + 2*(f.window+f.warmup) + time.Hour
	tokens := map[string]string{}
	for i := range f.pairs {
		for _, u := range []string{b1Receiver(i), b1Sender(i)} {
			if tokens[u], err = ext.Token(u, "load", ttl); err != nil {
				return err
			}
		}
	}
	if b.drv, err = b1DialWS(ctx, b, srv.URL, tokens); err != nil {
		return err
	}
	defer b.drv.close()

	base, err := b.runStep(ctx, 0, f.rate)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	fmt.Printf("b6 baseline: chat %d/s, deliver p50 %.2f p99 %.2f p99.9 %.2f ms, lost %d; server %.1f µs/msg (%.2f cores)\n",
		f.rate, base.p50, base.p99, base.p999, base.lost, base.cpuPerMsg, base.serverUtil)
	rb := report.NewResult("b6", "parley", "ws", "baseline", f.placement())
	rb["rate_per_s"], rb["pairs"] = f.rate, f.pairs
	rb[report.KP50], rb[report.KP99], rb[report.KP999] = report.Round(base.p50, 3), report.Round(base.p99, 3), report.Round(base.p999, 3)
	rb[report.KLost], rb[report.KCPUPerMsg], rb["server_cpu_util"] = base.lost, report.Round(base.cpuPerMsg, 2), report.Round(base.serverUtil, 3)
	rb["loadavg"] = proc.LoadAvg()
	report.EmitResult(rb)

	// The notice, sent once the second window's chat has warmed up; the
	// window lasts until the notice is stored and delivered, or -timeout.
	type noticeRun struct {
		posted, stored, delivered time.Time
		cpu0, cpu1                time.Duration // the server's CPU time at posted and stored
		n                         protocol.Notice
		err                       error
	}
	nr := make(chan noticeRun, 1)
	bf.step = f.timeout
	allIn := make(chan struct{})
	go func() {
		var r noticeRun
		defer func() { nr <- r }()
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond+f.warmup)) {
			r.err = ctx.Err()
			return
		}
		r.cpu0, _ = measure.ProcCPUTime(srv.PID)
		r.posted = time.Now()
		if r.n, r.err = b6Admin(ctx, srv.URL, adminKey, "POST", "/v1/admin/notices",
			protocol.NoticeRequest{To: "region=beijing", Body: "Happy new year from b6"}); r.err != nil {
			return
		}
		deadline := r.posted.Add(f.timeout)
		for time.Now().Before(deadline) && ctx.Err() == nil && (r.stored.IsZero() || r.delivered.IsZero()) {
			if r.delivered.IsZero() && got.Load() == int64(f.live) {
				r.delivered = time.Now()
			}
			if r.stored.IsZero() {
				var n protocol.Notice
				if n, r.err = b6Admin(ctx, srv.URL, adminKey, "GET", "/v1/admin/notices/"+r.n.ID, nil); r.err != nil {
					return
				}
				if r.n = n; n.State == protocol.NoticeDone {
					r.stored = time.Now()
					r.cpu1, _ = measure.ProcCPUTime(srv.PID)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(allIn)
	}()
	// The second chat window ends soon after the notice is in (a step of
	// -timeout would outlast it by far): cancel its schedule then.
	stepCtx, stopStep := context.WithCancel(ctx)
	go func() {
		select {
		case <-allIn:
			// Chat a second more, so that the window covers the end.
			sleepUntil(ctx, time.Now().Add(time.Second))
		case <-ctx.Done():
		}
		stopStep()
	}()
	during, err := b.runStep(stepCtx, 1, f.rate)
	r := <-nr
	if r.err != nil {
		return fmt.Errorf("notice: %w", r.err)
	}
	if err != nil && stepCtx.Err() == nil {
		return fmt.Errorf("chat during the notice: %w", err)
	}
	_ = during // its window was cut short: the p99 below is over the notice's time

	// The chat's latency while the notice was being sent: the sends
	// scheduled from the POST until the notice was stored.
	st := b.steps[1].Load()
	end := r.stored
	if end.IsZero() {
		end = r.posted.Add(f.timeout)
	}
	lo := st.sched.Due(r.posted.Sub(st.sched.Start))
	hi := st.sched.Due(end.Sub(st.sched.Start))
	waitIn := time.Now().Add(5 * time.Second)
	for time.Now().Before(waitIn) && st.recv.Marked(lo, hi) < st.started.Marked(lo, hi) {
		time.Sleep(10 * time.Millisecond)
	}
	dl := st.recv.Latencies(st.sched, lo, hi)
	sent, delivered := st.started.Marked(lo, hi), st.recv.Marked(lo, hi)
	p50, p99, p999 := measure.Ms(measure.PercentileNs(dl, 0.50)), measure.Ms(measure.PercentileNs(dl, 0.99)), measure.Ms(measure.PercentileNs(dl, 0.999))

	m1, err := srv.Metrics(ctx)
	if err != nil {
		return err
	}
	chunks := m1["parley_notice_chunk_seconds_count"] - m0["parley_notice_chunk_seconds_count"]
	chunkSum := m1["parley_notice_chunk_seconds_sum"] - m0["parley_notice_chunk_seconds_sum"]
	res := report.NewResult("b6", "parley", "ws", "notice", f.placement())
	res["users"], res["live"], res["import_ms"] = f.users, f.live, report.Round(measure.Ms(importTime), 1)
	res["matched"], res["stored"], res["delivered"], res["skipped"] = r.n.Matched, r.n.Stored, r.n.Delivered, r.n.Skipped
	res["live_received"] = got.Load()
	if !r.stored.IsZero() {
		took := r.stored.Sub(r.posted)
		res["time_to_stored_ms"] = report.Round(measure.Ms(took), 1)
		// The server's CPU for the notice: all of it while the notice was
		// sent, less what the chat took at the baseline's rate. On a
		// loaded machine this is the figure that holds.
		cpu := (r.cpu1 - r.cpu0).Seconds() - base.serverUtil*took.Seconds()
		res["notice_server_cpu_s"] = report.Round(cpu, 3)
		res["server_cpu_util_during"] = report.Round((r.cpu1-r.cpu0).Seconds()/took.Seconds(), 3)
		if r.n.Stored > 0 {
			res["server_cpu_us_per_copy"] = report.Round(cpu*1e6/float64(r.n.Stored), 2)
		}
	}
	if r.n.FinishedAt > 0 {
		res["stored_ms"] = r.n.FinishedAt - r.n.CreatedAt
	}
	var last int64
	for i := range arrived {
		last = max(last, arrived[i].Load())
	}
	if got.Load() == int64(f.live) && f.live > 0 {
		res["time_to_live_delivered_ms"] = report.Round(measure.Ms(time.Unix(0, last).Sub(r.posted)), 1)
	}
	res["chat_rate_per_s"], res["pairs"] = f.rate, f.pairs
	res["chat_sent"], res["chat_delivered"] = sent, delivered
	res["chat_p50_ms"], res["chat_p99_ms"], res["chat_p999_ms"] = report.Round(p50, 3), report.Round(p99, 3), report.Round(p999, 3)
	res["baseline_p99_ms"] = report.Round(base.p99, 3)
	if base.p99 > 0 {
		res["p99_ratio_to_baseline"] = report.Round(p99/base.p99, 2)
	}
	res["notice_chunks"] = chunks
	if chunks > 0 {
		res["chunk_mean_ms"] = report.Round(chunkSum/chunks*1000, 2)
		res["chunk_max_ms"] = report.Round(b6MaxBucket(m0, m1, "parley_notice_chunk_seconds")*1000, 1)
	}
	res["loadavg"] = proc.LoadAvg()
	report.EmitResult(res)
	fmt.Printf("b6 notice: %d users (%d live): stored all in %v ms (server %v ms), live devices all in %v ms; "+
		"matched %d stored %d delivered %d; server CPU for the notice %v s (%v µs a copy; %v cores busy); "+
		"chat during it: %d sent, %d delivered, p50 %.2f p99 %.2f p99.9 %.2f ms (baseline p99 %.2f ms, ×%.2f); %0.f chunks, mean %.1f ms, max %v ms\n",
		f.users, f.live, res["time_to_stored_ms"], res["stored_ms"], res["time_to_live_delivered_ms"],
		r.n.Matched, r.n.Stored, r.n.Delivered, res["notice_server_cpu_s"], res["server_cpu_us_per_copy"], res["server_cpu_util_during"],
		sent, delivered, p50, p99, p999, base.p99, res["p99_ratio_to_baseline"], chunks,
		chunkSum/max(chunks, 1)*1000, res["chunk_max_ms"])
	if r.stored.IsZero() || got.Load() != int64(f.live) {
		return fmt.Errorf("the notice was not stored and delivered within -timeout %s (stored %d of %d, %d of %d live devices)",
			f.timeout, r.n.Stored, r.n.Matched, got.Load(), f.live)
	}
	return nil
}

func b6User(i int) string { return fmt.Sprintf("n%07d", i) }

// b6TagsFile writes n lines "n0000000 region=beijing plan=pro|free".
func b6TagsFile(path string, n int) error {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "%s region=beijing plan=%s\n", b6User(i), []string{"pro", "free"}[i%2])
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// b6Admin calls the admin API and decodes a notice.
func b6Admin(ctx context.Context, base, key, method, path string, body any) (protocol.Notice, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return protocol.Notice{}, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return protocol.Notice{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return protocol.Notice{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return protocol.Notice{}, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	var n protocol.Notice
	return n, json.Unmarshal(data, &n)
}

// b6MaxBucket is the upper bound of the lowest bucket of histogram name
// that holds every observation made between m0 and m1: the largest
// observation, to the bucket (0 if none, or if only +Inf holds it).
func b6MaxBucket(m0, m1 map[string]float64, name string) float64 {
	total := m1[name+"_count"] - m0[name+"_count"]
	prefix := name + `_bucket{le="`
	best := 0.0
	for k, v := range m1 {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil || math.IsInf(le, 1) || v-m0[k] < total {
			continue
		}
		if best == 0 || le < best {
			best = le
		}
	}
	return best
}

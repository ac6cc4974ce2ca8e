package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// windowStats are the figures of one measured closed-loop window, the same
// for the WebSocket (durable, b4) and MQTT (mqtt-durable, b4) modes.
type windowStats struct {
	acked, errors, sentTotal, serverSends int64
	window                                time.Duration
	ackedPerS, p50, p99, p999, maxLat     float64
	serverCPUPerMsg, harnessCPUPerMsg     float64
	serverUtil, harnessUtil, otherUtil    float64
	batchMean, commitsPerS                float64
	gomaxprocs                            int
	loadavg                               string
}

// loop describes a closed-loop run: n senders send back to back from now
// until winEnd (or until stop is closed); the window [winStart, winEnd) is
// measured.
type loop struct {
	srv              *server
	n                int
	winStart, winEnd time.Time
	stop             <-chan struct{} // optional: once closed, no sender starts another send
	sendTimeout      time.Duration
	what             string // what a send is called in the error summary
	// onWindow, if set, is called when the window starts, with its length
	// (a -profile-dir profile); its wait is called when the window ends.
	onWindow func(s *server, d time.Duration) (wait func() error)
}

// sendFunc makes one send of sender i and says, on failure, whether that
// sender must stop (its connection ended).
type sendFunc func(ctx context.Context, i int) (stop bool, err error)

// senderRun is a running set of closed-loop senders (startSenders).
type senderRun struct {
	l                   loop
	wg                  sync.WaitGroup
	lat                 [][]time.Duration // per sender: latencies of sends that started and ended in the window
	acked               []int64           // per sender: sends that ended in the window
	errCount, sentTotal atomic.Int64
	firstErr            atomic.Value
}

// startSenders starts l.n senders, each calling send back to back (every
// call bounded by l.sendTimeout) until l.winEnd, l.stop or the end of ctx.
// A send's latency counts if it started and ended in the window.
func startSenders(ctx context.Context, l loop, send sendFunc) *senderRun {
	r := &senderRun{l: l, lat: make([][]time.Duration, l.n), acked: make([]int64, l.n)}
	for i := range l.n {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			samples := make([]time.Duration, 0, 1024)
			for k := 0; k < maxSendsPerSender; k++ {
				t0 := time.Now()
				if !t0.Before(l.winEnd) || ctx.Err() != nil || closed(l.stop) {
					break
				}
				sctx, scancel := context.WithTimeout(ctx, l.sendTimeout)
				stop, err := send(sctx, i)
				scancel()
				t1 := time.Now()
				if err != nil {
					r.errCount.Add(1)
					r.firstErr.CompareAndSwap(nil, err.Error())
					if stop {
						break
					}
					continue
				}
				r.sentTotal.Add(1)
				if !t1.Before(l.winStart) && t1.Before(l.winEnd) {
					r.acked[i]++
					if !t0.Before(l.winStart) {
						samples = append(samples, t1.Sub(t0))
					}
				}
			}
			r.lat[i] = samples
		}()
	}
	return r
}

func closed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// wait waits for every sender to stop and prints a summary of the failed
// sends, if any.
func (r *senderRun) wait() {
	r.wg.Wait()
	if e := r.errCount.Load(); e > 0 {
		fmt.Fprintf(os.Stderr, "%d senders: %d failed %s, first: %v\n", r.l.n, e, r.l.what, r.firstErr.Load())
	}
}

// latencies returns the sends counted in the window and their sorted
// latencies (after wait).
func (r *senderRun) latencies() (acked int64, sorted []time.Duration) {
	for i := range r.l.n {
		acked += r.acked[i]
		sorted = append(sorted, r.lat[i]...)
	}
	slices.Sort(sorted)
	return acked, sorted
}

// closedLoop runs the senders (startSenders) and measures the window. It
// returns the server's snapshots at the window's edges and the stats
// derived from them (sentTotal counts the whole run, warm-up included).
func closedLoop(ctx context.Context, cancel context.CancelFunc, l loop, send sendFunc) (s0, s1 snapshot, w windowStats, err error) {
	run := startSenders(ctx, l, send)
	time.Sleep(time.Until(l.winStart))
	if s0, err = takeSnapshot(ctx, l.srv); err != nil {
		cancel()
		run.wg.Wait()
		return s0, s1, w, err
	}
	profWait := func() error { return nil }
	if l.onWindow != nil {
		profWait = l.onWindow(l.srv, l.winEnd.Sub(l.winStart))
	}
	time.Sleep(time.Until(l.winEnd))
	s1, err = takeSnapshot(ctx, l.srv)
	run.wait()
	if perr := profWait(); perr != nil {
		fmt.Fprintln(os.Stderr, perr)
	}
	if err != nil {
		return s0, s1, w, err
	}

	var all []time.Duration
	w.acked, all = run.latencies()
	w.errors, w.sentTotal = run.errCount.Load(), run.sentTotal.Load()
	w.window = s1.at.Sub(s0.at)
	secs := w.window.Seconds()
	w.ackedPerS = float64(w.acked) / secs
	if len(all) > 0 {
		w.p50 = ms(percentile(all, 0.50))
		w.p99 = ms(percentile(all, 0.99))
		w.p999 = ms(percentile(all, 0.999))
		w.maxLat = ms(all[len(all)-1])
	}
	serverUs := float64(s1.serverTicks-s0.serverTicks) * 1e6 / clockTicks
	harnessUs := float64((s1.harness - s0.harness).Microseconds())
	if w.acked > 0 {
		w.serverCPUPerMsg = serverUs / float64(w.acked)
		w.harnessCPUPerMsg = harnessUs / float64(w.acked)
	}
	w.serverUtil = serverUs / 1e6 / secs
	w.harnessUtil = harnessUs / 1e6 / secs
	if dt := s1.total - s0.total; dt > 0 {
		busyCores := float64(s1.busy-s0.busy) / float64(dt) * float64(describeMachine().Cores)
		w.otherUtil = max(busyCores-w.serverUtil-w.harnessUtil, 0)
	}
	dSum := s1.metrics["parley_commit_batch_size_sum"] - s0.metrics["parley_commit_batch_size_sum"]
	dCount := s1.metrics["parley_commit_batch_size_count"] - s0.metrics["parley_commit_batch_size_count"]
	if dCount > 0 {
		w.batchMean = dSum / dCount
		w.commitsPerS = dCount / secs
	}
	w.serverSends = int64(s1.metrics["parley_sends_total"] - s0.metrics["parley_sends_total"])
	w.gomaxprocs = gomaxprocsOf(s1.metrics)
	w.loadavg = loadAvg()
	return s0, s1, w, nil
}

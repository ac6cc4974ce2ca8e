package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// windowStats are the figures of one measured closed-loop window, the same
// for the WebSocket (durable) and MQTT (mqtt-durable) modes.
type windowStats struct {
	acked, errors, sentTotal, serverSends int64
	window                                time.Duration
	ackedPerS, p50, p99, maxLat           float64
	serverCPUPerMsg, harnessCPUPerMsg     float64
	serverUtil, harnessUtil, otherUtil    float64
	batchMean, commitsPerS                float64
	gomaxprocs                            int
	loadavg                               string
}

// loop describes a closed-loop run: n senders send back to back from now
// until winEnd; the window [winStart, winEnd) is measured.
type loop struct {
	srv              *server
	n                int
	winStart, winEnd time.Time
	sendTimeout      time.Duration
	perfDir          string // if set, perf records the server during the window
	what             string // what a send is called in the error summary
}

// closedLoop runs the senders: send(ctx, i) makes one send of sender i and
// says, on failure, whether that sender must stop (its connection ended).
// A send's latency counts if it started and ended in the window. It
// returns the server's snapshots at the window's edges and the stats
// derived from them (sentTotal counts the whole run, warm-up included).
func closedLoop(ctx context.Context, cancel context.CancelFunc, l loop, send func(ctx context.Context, i int) (stop bool, err error)) (s0, s1 snapshot, w windowStats, err error) {
	lat := make([][]time.Duration, l.n)
	acked := make([]int64, l.n)
	var errCount, sentTotal atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range l.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples := make([]time.Duration, 0, 1024)
			for k := 0; k < maxSendsPerSender; k++ {
				t0 := time.Now()
				if !t0.Before(l.winEnd) || ctx.Err() != nil {
					break
				}
				sctx, scancel := context.WithTimeout(ctx, l.sendTimeout)
				stop, err := send(sctx, i)
				scancel()
				t1 := time.Now()
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if stop {
						break
					}
					continue
				}
				sentTotal.Add(1)
				if !t1.Before(l.winStart) && t1.Before(l.winEnd) {
					acked[i]++
					if !t0.Before(l.winStart) {
						samples = append(samples, t1.Sub(t0))
					}
				}
			}
			lat[i] = samples
		}()
	}

	var perf *exec.Cmd
	time.Sleep(time.Until(l.winStart))
	if s0, err = takeSnapshot(ctx, l.srv); err != nil {
		cancel()
		wg.Wait()
		return s0, s1, w, err
	}
	if l.perfDir != "" {
		perf = startPerf(l.perfDir, l.n, l.srv.pid, l.winEnd.Sub(l.winStart))
	}
	time.Sleep(time.Until(l.winEnd))
	s1, err = takeSnapshot(ctx, l.srv)
	wg.Wait()
	if perf != nil {
		_ = perf.Wait()
	}
	if err != nil {
		return s0, s1, w, err
	}
	if e := errCount.Load(); e > 0 {
		fmt.Fprintf(os.Stderr, "%d senders: %d failed %s, first: %v\n", l.n, e, l.what, firstErr.Load())
	}

	var all []time.Duration
	for i := range l.n {
		w.acked += acked[i]
		all = append(all, lat[i]...)
	}
	slices.Sort(all)
	w.errors, w.sentTotal = errCount.Load(), sentTotal.Load()
	w.window = s1.at.Sub(s0.at)
	secs := w.window.Seconds()
	w.ackedPerS = float64(w.acked) / secs
	if len(all) > 0 {
		w.p50 = ms(percentile(all, 0.50))
		w.p99 = ms(percentile(all, 0.99))
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

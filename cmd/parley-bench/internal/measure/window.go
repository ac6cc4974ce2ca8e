package measure

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
)

// WindowStats are the figures of one measured closed-loop window, the same
// for the WebSocket (durable, b4) and MQTT (mqtt-durable, b4) modes.
type WindowStats struct {
	Acked, Errors, SentTotal, serverSends int64
	Window                                time.Duration
	AckedPerS, P50, P99, P999, MaxLat     float64
	ServerCPUPerMsg, HarnessCPUPerMsg     float64
	ServerUtil, harnessUtil, OtherUtil    float64
	BatchMean, CommitsPerS                float64
	Gomaxprocs                            int
	loadavg                               string
}

// Loop describes a closed-loop run: n senders send back to back from now
// until winEnd (or until stop is closed); the window [winStart, winEnd) is
// measured.
type Loop struct {
	Srv              *proc.Server
	N                int
	WinStart, WinEnd time.Time
	Stop             <-chan struct{} // optional: once closed, no sender starts another send
	SendTimeout      time.Duration
	What             string // what a send is called in the error summary
	// OnWindow, if set, is called when the window starts, with its length
	// (a -profile-dir profile); its wait is called when the window ends.
	OnWindow func(s *proc.Server, d time.Duration) (wait func() error)
}

// SendFunc makes one send of sender i and says, on failure, whether that
// sender must stop (its connection ended).
type SendFunc func(ctx context.Context, i int) (stop bool, err error)

// SenderRun is a running set of closed-loop senders (StartSenders).
type SenderRun struct {
	l                   Loop
	wg                  sync.WaitGroup
	lat                 [][]time.Duration // per sender: latencies of sends that started and ended in the window
	acked               []int64           // per sender: sends that ended in the window
	ErrCount, sentTotal atomic.Int64
	firstErr            atomic.Value
}

// StartSenders starts l.n senders, each calling send back to back (every
// call bounded by l.sendTimeout) until l.winEnd, l.stop or the end of ctx.
// A send's latency counts if it started and ended in the window.
func StartSenders(ctx context.Context, l Loop, send SendFunc) *SenderRun {
	r := &SenderRun{l: l, lat: make([][]time.Duration, l.N), acked: make([]int64, l.N)}
	for i := range l.N {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			samples := make([]time.Duration, 0, 1024)
			for k := 0; k < maxSendsPerSender; k++ {
				t0 := time.Now()
				if !t0.Before(l.WinEnd) || ctx.Err() != nil || closed(l.Stop) {
					break
				}
				sctx, scancel := context.WithTimeout(ctx, l.SendTimeout)
				stop, err := send(sctx, i)
				scancel()
				t1 := time.Now()
				if err != nil {
					r.ErrCount.Add(1)
					r.firstErr.CompareAndSwap(nil, err.Error())
					if stop {
						break
					}
					continue
				}
				r.sentTotal.Add(1)
				if !t1.Before(l.WinStart) && t1.Before(l.WinEnd) {
					r.acked[i]++
					if !t0.Before(l.WinStart) {
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

// Wait waits for every sender to stop and prints a summary of the failed
// sends, if any.
func (r *SenderRun) Wait() {
	r.wg.Wait()
	if e := r.ErrCount.Load(); e > 0 {
		fmt.Fprintf(os.Stderr, "%d senders: %d failed %s, first: %v\n", r.l.N, e, r.l.What, r.firstErr.Load())
	}
}

// latencies returns the sends counted in the window and their sorted
// latencies (after wait).
func (r *SenderRun) latencies() (acked int64, sorted []time.Duration) {
	for i := range r.l.N {
		acked += r.acked[i]
		sorted = append(sorted, r.lat[i]...)
	}
	slices.Sort(sorted)
	return acked, sorted
}

// ClosedLoop runs the senders (StartSenders) and measures the window. It
// returns the server's snapshots at the window's edges and the stats
// derived from them (sentTotal counts the whole run, warm-up included).
func ClosedLoop(ctx context.Context, cancel context.CancelFunc, l Loop, send SendFunc) (s0, s1 Snapshot, w WindowStats, err error) {
	run := StartSenders(ctx, l, send)
	time.Sleep(time.Until(l.WinStart))
	if s0, err = takeSnapshot(ctx, l.Srv); err != nil {
		cancel()
		run.wg.Wait()
		return s0, s1, w, err
	}
	profWait := func() error { return nil }
	if l.OnWindow != nil {
		profWait = l.OnWindow(l.Srv, l.WinEnd.Sub(l.WinStart))
	}
	time.Sleep(time.Until(l.WinEnd))
	s1, err = takeSnapshot(ctx, l.Srv)
	run.Wait()
	if perr := profWait(); perr != nil {
		fmt.Fprintln(os.Stderr, perr)
	}
	if err != nil {
		return s0, s1, w, err
	}

	var all []time.Duration
	w.Acked, all = run.latencies()
	w.Errors, w.SentTotal = run.ErrCount.Load(), run.sentTotal.Load()
	w.Window = s1.at.Sub(s0.at)
	secs := w.Window.Seconds()
	w.AckedPerS = float64(w.Acked) / secs
	if len(all) > 0 {
		w.P50 = Ms(percentile(all, 0.50))
		w.P99 = Ms(percentile(all, 0.99))
		w.P999 = Ms(percentile(all, 0.999))
		w.MaxLat = Ms(all[len(all)-1])
	}
	serverUs := float64(s1.serverTicks-s0.serverTicks) * 1e6 / proc.ClockTicks
	harnessUs := float64((s1.harness - s0.harness).Microseconds())
	if w.Acked > 0 {
		w.ServerCPUPerMsg = serverUs / float64(w.Acked)
		w.HarnessCPUPerMsg = harnessUs / float64(w.Acked)
	}
	w.ServerUtil = serverUs / 1e6 / secs
	w.harnessUtil = harnessUs / 1e6 / secs
	if dt := s1.total - s0.total; dt > 0 {
		busyCores := float64(s1.busy-s0.busy) / float64(dt) * float64(proc.DescribeMachine().Cores)
		w.OtherUtil = max(busyCores-w.ServerUtil-w.harnessUtil, 0)
	}
	dSum := s1.Metrics["parley_commit_batch_size_sum"] - s0.Metrics["parley_commit_batch_size_sum"]
	dCount := s1.Metrics["parley_commit_batch_size_count"] - s0.Metrics["parley_commit_batch_size_count"]
	if dCount > 0 {
		w.BatchMean = dSum / dCount
		w.CommitsPerS = dCount / secs
	}
	w.serverSends = int64(s1.Metrics["parley_sends_total"] - s0.Metrics["parley_sends_total"])
	w.Gomaxprocs = proc.GomaxprocsOf(s1.Metrics)
	w.loadavg = proc.LoadAvg()
	return s0, s1, w, nil
}

// maxSendsPerSender bounds each sender's loop besides the time limit.
const maxSendsPerSender = 5_000_000

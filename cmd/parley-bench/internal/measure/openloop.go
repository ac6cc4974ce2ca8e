package measure

// Open-loop load: sends follow a fixed-rate schedule whatever the server
// does, and latency is measured from each send's scheduled time, so a
// stalled server shows up as latency instead of as fewer sends (no
// coordinated omission).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
)

// OpenSchedule is a fixed-rate schedule: item k (0 ≤ k < total) is due at
// start + k/rate.
type OpenSchedule struct {
	Start time.Time
	Rate  int // items per second
	Total int
}

// at is item k's scheduled time as an offset from start.
func (s OpenSchedule) at(k int) time.Duration {
	return time.Duration(int64(k) * int64(time.Second) / int64(s.Rate))
}

// Due is how many items are due at offset d from start (0 ≤ due ≤ total).
func (s OpenSchedule) Due(d time.Duration) int {
	if d < 0 {
		return 0
	}
	n := int64(d)*int64(s.Rate)/int64(time.Second) + 1
	return int(min(n, int64(s.Total)))
}

// Run calls issue(k, lag) for every item, in order, from the calling
// goroutine, at (or as soon as possible after) the item's time; lag is how
// late the call is. issue must not block: an item that cannot start is the
// caller's to count. Items that fall due together (the clock is coarser
// than the interval, or the loop was late) are issued in one burst, and
// later items stay on their own times. It returns how many items it issued
// (total unless ctx ended first).
func (s OpenSchedule) Run(ctx context.Context, issue func(k int, lag time.Duration)) int {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	k := 0
	for k < s.Total {
		now := time.Since(s.Start)
		for due := s.Due(now); k < due; k++ {
			issue(k, now-s.at(k))
		}
		if k >= s.Total {
			break
		}
		t.Reset(s.at(k) - time.Since(s.Start))
		select {
		case <-t.C:
		case <-ctx.Done():
			return k
		}
	}
	return k
}

// ItemTimes records per scheduled item the first time something happened
// to it (a send started, an ack, a delivery), as an offset from the
// schedule's start.
type ItemTimes struct {
	t     []atomic.Int64 // offset+1 in ns; 0: not yet
	Count atomic.Int64   // items marked
}

// NewItemTimes records items 0 … n-1.
func NewItemTimes(n int) *ItemTimes { return &ItemTimes{t: make([]atomic.Int64, n)} }

// Mark records item k at offset at; it reports false (and records nothing)
// if k was already marked or is out of range.
func (it *ItemTimes) Mark(k int, at time.Duration) bool {
	if k < 0 || k >= len(it.t) {
		return false
	}
	if !it.t[k].CompareAndSwap(0, int64(at)+1) {
		return false
	}
	it.Count.Add(1)
	return true
}

// get returns item k's offset and whether it was marked.
func (it *ItemTimes) get(k int) (time.Duration, bool) {
	v := it.t[k].Load()
	return time.Duration(v - 1), v != 0
}

// Latencies returns, sorted, the time from scheduled to marked of the
// marked items in [lo, hi), in ns.
func (it *ItemTimes) Latencies(s OpenSchedule, lo, hi int) []int64 {
	out := make([]int64, 0, hi-lo)
	for k := lo; k < hi; k++ {
		if at, ok := it.get(k); ok {
			out = append(out, int64(at-s.at(k)))
		}
	}
	slices.Sort(out)
	return out
}

// Marked counts the marked items in [lo, hi).
func (it *ItemTimes) Marked(lo, hi int) int {
	n := 0
	for k := lo; k < hi; k++ {
		if it.t[k].Load() != 0 {
			n++
		}
	}
	return n
}

// MarkedBetween counts the items of any index marked at an offset in
// [from, to): the throughput of that interval.
func (it *ItemTimes) MarkedBetween(from, to time.Duration) int {
	n := 0
	for k := range it.t {
		v := it.t[k].Load()
		if v != 0 && time.Duration(v-1) >= from && time.Duration(v-1) < to {
			n++
		}
	}
	return n
}

// ProcCPUTime is the CPU time pid has used, summed over its threads from
// /proc/PID/task/*/schedstat (nanoseconds, so that a step of a few
// milliseconds of server CPU is not lost to the 10 ms clock tick of
// /proc/PID/stat); without schedstat, proc.CPU's ticks. The time of threads
// that have exited is not counted (Go servers and Mosquitto keep theirs).
func ProcCPUTime(pid int) (time.Duration, error) {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		sum += v
		n++
	}
	if n > 0 {
		return time.Duration(sum), nil
	}
	ticks, err := proc.CPU(pid)
	return time.Duration(ticks) * time.Second / proc.ClockTicks, err
}

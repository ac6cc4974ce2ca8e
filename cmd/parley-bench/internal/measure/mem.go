package measure

import (
	"context"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
)

// MemState is the server's memory, goroutines and connections at one moment.
type MemState struct {
	PID                   int
	RSSKB                 int64
	Threads               int64
	HeapInuse, StackInuse float64
	heapAlloc, gcCount    float64
	// liveEst estimates the heap that survived the last GC from its goal:
	// with GOGC=100 the goal is live + (live + stacks + globals), so
	// live ≈ (goal - stacks) / 2 (globals, a few MB, are ignored).
	liveEst     float64
	Goroutines  float64
	Connections float64
	Metrics     map[string]float64
}

// MemSnapshot scrapes the server's /metrics and reads its RSS and threads.
func MemSnapshot(ctx context.Context, s *proc.Server) (MemState, error) {
	m := MemState{PID: s.PID}
	var err error
	if m.Metrics, err = s.Metrics(ctx); err != nil {
		return m, err
	}
	// RSS after the scrape, so both describe the same moment as closely
	// as possible (the scrape itself allocates a little).
	if m.RSSKB, err = proc.Status(s.PID, "VmRSS"); err != nil {
		return m, err
	}
	m.Threads, _ = proc.Status(s.PID, "Threads")
	m.HeapInuse = m.Metrics["go_memstats_heap_inuse_bytes"]
	m.StackInuse = m.Metrics["go_memstats_stack_inuse_bytes"]
	m.Goroutines = m.Metrics["go_goroutines"]
	m.heapAlloc = m.Metrics["go_memstats_heap_alloc_bytes"]
	m.gcCount = m.Metrics["go_gc_duration_seconds_count"]
	m.liveEst = (m.Metrics["go_memstats_next_gc_bytes"] - m.StackInuse) / 2
	m.Connections = m.Metrics["parley_connections"]
	return m, nil
}

package measure

import (
	"context"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
)

// Snapshot is the state at one edge of the measured window.
type Snapshot struct {
	at          time.Time
	serverTicks int64
	harness     time.Duration
	busy, total int64
	Metrics     map[string]float64
}

func takeSnapshot(ctx context.Context, s *proc.Server) (Snapshot, error) {
	var sn Snapshot
	var err error
	sn.at = time.Now()
	if sn.serverTicks, err = proc.CPU(s.PID); err != nil {
		return sn, err
	}
	sn.harness = proc.SelfCPU()
	sn.busy, sn.total = proc.MachineCPU()
	sn.Metrics, err = s.Metrics(ctx)
	return sn, err
}

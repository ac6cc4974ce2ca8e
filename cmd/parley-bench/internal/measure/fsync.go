package measure

import (
	"errors"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
)

// FsyncProbe is what ProbeFsync measured.
type FsyncProbe struct {
	PerS  float64 // write+fdatasync per second
	P50ms float64 // median fdatasync latency
	cpuUs float64 // CPU (user+system) per write+fdatasync
}

// ProbeFsync appends 100 bytes and calls fdatasync in a loop for d (at most
// 1,000,000 times) in a file under dir.
func ProbeFsync(dir string, d time.Duration) (FsyncProbe, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return FsyncProbe{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 100)
	lat := make([]time.Duration, 0, 4096)
	cpu0 := proc.SelfCPU()
	start := time.Now()
	for i := 0; i < 1_000_000 && time.Since(start) < d; i++ {
		if _, err := f.Write(buf); err != nil {
			return FsyncProbe{}, err
		}
		t0 := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return FsyncProbe{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	el := time.Since(start).Seconds()
	cpu := proc.SelfCPU() - cpu0
	slices.Sort(lat)
	if len(lat) == 0 {
		return FsyncProbe{}, errors.New("no sync completed")
	}
	return FsyncProbe{PerS: float64(len(lat)) / el, P50ms: Ms(percentile(lat, 0.5)),
		cpuUs: float64(cpu.Microseconds()) / float64(len(lat))}, nil
}

//go:build unix

package sqlite

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// rusageCPU is the process's user plus system CPU time so far.
func rusageCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNoticeChunk measures one chunk of 100, 250 or 1,000 copies
// to users who have no system conversation yet, the write transaction a
// notice holds at a time (docs/performance.md, notices).
func BenchmarkNoticeChunk(b *testing.B) {
	for _, chunk := range []int{100, 250, 1000} {
		b.Run(fmt.Sprint(chunk), func(b *testing.B) { benchNoticeChunk(b, chunk) })
	}
}

func benchNoticeChunk(b *testing.B, chunk int) {
	db := openInternal(b)
	ctx := context.Background()
	t0 := time.UnixMilli(1_767_225_600_000)
	seedTagged(b, db, (b.N+1)*chunk, t0, func(int) map[string]string { return map[string]string{"region": "beijing"} })
	if err := db.CreateNotice(ctx, store.Notice{ID: "n", To: store.TagExpr{Op: store.TagTerm, Key: "region", Value: "beijing"},
		Body: "Happy new year", ContentType: "text/plain", CreatedAt: t0.Add(time.Second)}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := rusageCPU()
	for range b.N {
		copies, _, err := db.SendNoticeChunk(ctx, "n", chunk, 0, t0.Add(2*time.Second))
		if err != nil || len(copies) != chunk {
			b.Fatalf("%d copies, %v", len(copies), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*chunk), "µs/copy")
	// CPU time is what a loaded machine does not inflate.
	b.ReportMetric(float64((rusageCPU()-cpu0).Microseconds())/float64(b.N*chunk), "cpu-µs/copy")
}

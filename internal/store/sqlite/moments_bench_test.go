package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkFeed measures the first page (20 moments) of the feed of a user
// who follows 5,000 users, each of whom posted 20 moments, while as many
// users whom the reader does not follow posted as many (200,000 moments in
// all), and a page from the middle of the feed (docs/performance.md,
// "Moments feed").
func BenchmarkFeed(b *testing.B) {
	const followed, others, perAuthor, page = 5000, 5000, 20, 20
	db := openDB(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := b.Context()
	if err := db.SeedMoments(ctx, "reader", followed, others, perAuthor, time.UnixMilli(1_767_225_600_000)); err != nil {
		b.Fatal(err)
	}
	first, err := db.Feed(ctx, "reader", 0, page)
	if err != nil || len(first) != page {
		b.Fatalf("first page: %d moments, %v", len(first), err)
	}
	// cpu-ms/op is the process's CPU time per page: on a shared machine
	// the wall time per op also counts the waits for a core.
	b.Run("first-page", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, err := db.Feed(ctx, "reader", 0, page); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
	b.Run("middle-page", func(b *testing.B) {
		middle := first[0].ID / 2
		cpu := cpuTime()
		for b.Loop() {
			if ms, err := db.Feed(ctx, "reader", middle, page); err != nil || len(ms) != page {
				b.Fatalf("%d moments, %v", len(ms), err)
			}
		}
		b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
}

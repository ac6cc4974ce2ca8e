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
	b.Run("first-page", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Feed(ctx, "reader", 0, page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("middle-page", func(b *testing.B) {
		middle := first[0].ID / 2
		for b.Loop() {
			if ms, err := db.Feed(ctx, "reader", middle, page); err != nil || len(ms) != page {
				b.Fatalf("%d moments, %v", len(ms), err)
			}
		}
	})
}

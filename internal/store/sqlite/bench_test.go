package sqlite_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/protocol"
)

// BenchmarkAppend measures the group-commit path: one Append (one synced
// transaction) per iteration with batch=N content messages of 100 bytes,
// spread round-robin over 1,000 conversations, each with a fresh client
// message id. It reports rows/s and the process CPU time per row (cpu-µs/row,
// user+system, where the platform tells it).
func BenchmarkAppend(b *testing.B) {
	const convs = 1000
	body := strings.Repeat("x", 100)
	for _, size := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := openDB(b, filepath.Join(b.TempDir(), "bench.db"))
			ctx := b.Context()
			now := time.UnixMilli(1_767_225_600_000)
			if err := db.SeedGroups(ctx, "g_", convs, []string{"u0", "u1"}, now); err != nil {
				b.Fatal(err)
			}
			appendLoop(b, db, size, body, func(next int) (string, string) {
				return fmt.Sprint("g_", next%convs), fmt.Sprint("u", next%2)
			})
		})
	}
}

// BenchmarkAppendManySenders is BenchmarkAppend (batch=256) with 1,000
// senders, one per conversation, as a busy server sees them: an index
// keyed by sender is then touched at 1,000 places per batch rather than 2.
// docs/adr/0004-erasure-without-sender-index.md used it to price a sender
// index on messages.
func BenchmarkAppendManySenders(b *testing.B) {
	const convs, size = 1000, 256
	body := strings.Repeat("x", 100)
	db := openDB(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := b.Context()
	now := time.UnixMilli(1_767_225_600_000)
	for i := range convs {
		members := []string{fmt.Sprint("u", i), fmt.Sprint("v", i)}
		if err := db.SeedGroups(ctx, fmt.Sprint("g_", i, "_"), 1, members, now); err != nil {
			b.Fatal(err)
		}
	}
	appendLoop(b, db, size, body, func(next int) (string, string) {
		c := next % convs
		return fmt.Sprint("g_", c, "_0"), fmt.Sprint("u", c)
	})
}

// appendLoop appends batches of size content messages with fresh client
// message ids, to the conversation and sender that at(n) names for the
// n-th message, and reports rows/s and process CPU per row.
func appendLoop(b *testing.B, db *sqlite.DB, size int, body string, at func(n int) (conv, sender string)) {
	ctx := b.Context()
	now := time.UnixMilli(1_767_225_600_000)
	entries := make([]store.Append, size)
	next, rows := 0, 0
	cpu0 := cpuTime()
	for b.Loop() {
		for i := range entries {
			conv, sender := at(next)
			entries[i] = store.Append{
				Conv:        conv,
				Sender:      sender,
				ClientMsgID: fmt.Sprint("c", next),
				Kind:        protocol.KindMessage,
				ContentType: "text/plain",
				Body:        body,
			}
			next++
		}
		res, err := db.Append(ctx, entries, now)
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Err != nil || res[0].Duplicate {
			b.Fatalf("append: %+v", res[0])
		}
		rows += size
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(rows), "cpu-µs/row")
	}
}

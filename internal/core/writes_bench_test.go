package core

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/internal/store/sqlite"
)

// BenchmarkReadsBesideSends: readers mark a group read (each read raises
// their position) while one sender keeps sending, on a durable SQLite store
// (WAL, synchronous=FULL). Besides the time per read it reports the write
// transactions per read (tx/read) and the sends acknowledged per read
// (sends/read): a read with a transaction of its own competes with the
// sends for the one writer.
func BenchmarkReadsBesideSends(b *testing.B) {
	const readers = 16
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "p.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	signer, err := auth.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	ts := &txStore{Store: db}
	c, err := New(Options{
		Store: ts, Bus: local.New(), Signer: signer,
		Limits: Limits{MaxMessageBytes: 1 << 16, HistoryPageMax: 100, OutboundQueueMessages: 1000, OutboundQueueBytes: 1 << 24},
		Timeouts: Timeouts{AccessTTL: time.Hour, RefreshTTL: 2 * time.Hour, AckFlushInterval: 200 * time.Millisecond,
			PresenceCoalesce: 10 * time.Millisecond, WriteTimeout: 5 * time.Second},
	})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	ctx := context.Background()
	members := make([]string, readers)
	for i := range members {
		members[i] = fmt.Sprintf("m%02d", i)
		if _, err := c.CreateUser(ctx, members[i], "", ""); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := c.CreateUser(ctx, "alice", "", ""); err != nil {
		b.Fatal(err)
	}
	alice := Identity{User: "alice", Device: "phone"}
	g, err := c.CreateGroup(ctx, alice, "reads", members)
	if err != nil {
		b.Fatal(err)
	}
	var last atomic.Uint64
	ack, err := c.Send(ctx, alice, SendRequest{Conv: g.ID, Body: "first"})
	if err != nil {
		b.Fatal(err)
	}
	last.Store(ack.Seq)

	stop := make(chan struct{})
	var sends atomic.Int64
	var sender sync.WaitGroup
	sender.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ack, err := c.Send(ctx, alice, SendRequest{Conv: g.ID, Body: "during"})
			if err != nil {
				b.Error(err)
				return
			}
			last.Store(ack.Seq)
			sends.Add(1)
		}
	})
	var next atomic.Int64
	b.ResetTimer()
	tx0, sends0 := ts.n.Load(), sends.Load()
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			id := Identity{User: members[i], Device: "d"}
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Read(ctx, id, g.ID, last.Load()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	tx, sent := ts.n.Load()-tx0, sends.Load()-sends0
	close(stop)
	sender.Wait()
	b.ReportMetric(float64(tx)/float64(b.N), "tx/read")
	b.ReportMetric(float64(sent)/float64(b.N), "sends/read")
}

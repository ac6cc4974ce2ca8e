package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// maxSendsPerSender bounds each sender's loop besides the time limit.
const maxSendsPerSender = 5_000_000

type durableFlags struct {
	server      string
	duration    time.Duration
	warmup      time.Duration
	cpuServer   int
	cpuClient   int
	bodyBytes   int
	authMode    string
	sendTimeout time.Duration
	// onWindow, if set, is called when a measured window starts (b4's
	// -profile-dir); see loop.
	onWindow func(s *server, d time.Duration) (wait func() error)
}

type durableResult struct {
	windowStats
	received, echoes, events, senderEvents, receipts int64
}

// snapshot is the state at one edge of the measured window.
type snapshot struct {
	at          time.Time
	serverTicks int64
	harness     time.Duration
	busy, total int64
	metrics     map[string]float64
}

func takeSnapshot(ctx context.Context, s *server) (snapshot, error) {
	var sn snapshot
	var err error
	sn.at = time.Now()
	if sn.serverTicks, err = procCPU(s.pid); err != nil {
		return sn, err
	}
	sn.harness = selfCPU()
	sn.busy, sn.total = machineCPU()
	sn.metrics, err = s.metrics(ctx)
	return sn, err
}

// prepareTokens makes an access token for each of users on device:
// authMode "cli" creates the users and tokens with "BIN user add" and
// "BIN token" in dataDir (workers processes at a time; the server then
// starts from a copy of dataDir); "external" signs application tokens and
// returns the server environment that accepts them.
func prepareTokens(bin, dataDir string, users []string, device, authMode string, workers int) (tokens map[string]string, env []string, err error) {
	switch authMode {
	case "cli":
		t0 := time.Now()
		fmt.Printf("preparing %d users and tokens with %s user add / token (%d at a time)...\n", len(users), filepath.Base(bin), workers)
		if tokens, err = cliTokens(bin, dataDir, users, device, workers); err != nil {
			return nil, nil, err
		}
		fmt.Printf("prepared in %s\n", time.Since(t0).Round(time.Second))
		return tokens, nil, nil
	case "external":
		ext, err := newExternalAuth()
		if err != nil {
			return nil, nil, err
		}
		tokens = make(map[string]string, len(users))
		for _, u := range users {
			if tokens[u], err = ext.token(u, device, 2*time.Hour); err != nil {
				return nil, nil, err
			}
		}
		return tokens, ext.env(), nil
	}
	return nil, nil, fmt.Errorf("-auth must be cli or external, not %q", authMode)
}

func durableRun(f durableFlags, n int, dir string, tokens map[string]string, env []string) (durableResult, error) {
	var r durableResult
	srv, err := startServer(f.server, dir, f.cpuServer, env)
	if err != nil {
		return r, err
	}
	defer srv.stopOrLog()
	ctx, cancel := context.WithTimeout(context.Background(), f.warmup+f.duration+2*time.Minute)
	defer cancel()

	// Connect receivers first (so every direct conversation's peer is
	// online), then senders; every client's messages and events are drained.
	var received, echoes, events, senderEvents, receipts atomic.Int64
	var drains sync.WaitGroup
	dial := func(user string, count *atomic.Int64) (*parley.Client, error) {
		c, err := parley.Dial(ctx, parley.Options{URL: srv.url, Token: tokens[user], Buffer: 256})
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", user, err)
		}
		drains.Add(2)
		go func() {
			defer drains.Done()
			for range c.Messages() {
				count.Add(1)
			}
		}()
		go func() {
			defer drains.Done()
			for e := range c.Events() {
				events.Add(1)
				if count == &echoes {
					senderEvents.Add(1)
				}
				if e.Type == protocol.TypeReceipt {
					receipts.Add(1)
				}
			}
		}()
		return c, nil
	}
	clients := make([]*parley.Client, 0, 2*n)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
		wg.Wait()
		drains.Wait()
	}()
	senders := make([]*parley.Client, n)
	for _, role := range []string{"r", "s"} {
		errs := make(chan error, n)
		sem := make(chan struct{}, 16)
		var mu sync.Mutex
		for i := range n {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				cnt := &received
				if role == "s" {
					cnt = &echoes
				}
				c, err := dial(fmt.Sprintf("%s%d", role, i), cnt)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				clients = append(clients, c)
				if role == "s" {
					senders[i] = c
				}
				mu.Unlock()
			}()
		}
		for range cap(sem) {
			sem <- struct{}{}
		}
		select {
		case err := <-errs:
			return r, err
		default:
		}
	}

	body := strings.Repeat("x", f.bodyBytes)
	winStart := time.Now().Add(f.warmup)
	_, _, w, err := closedLoop(ctx, cancel, loop{srv: srv, n: n, winStart: winStart, winEnd: winStart.Add(f.duration),
		sendTimeout: f.sendTimeout, what: "sends", onWindow: f.onWindow}, func(ctx context.Context, i int) (bool, error) {
		_, err := senders[i].Send(ctx, parley.SendOptions{To: fmt.Sprintf("r%d", i), Body: body})
		return false, err
	})
	if err != nil {
		return r, err
	}
	r.windowStats = w
	// Totals over the whole run (warm-up included), to relate them.
	r.received, r.echoes, r.events = received.Load(), echoes.Load(), events.Load()
	r.senderEvents, r.receipts = senderEvents.Load(), receipts.Load()
	return r, nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// fsyncProbe is what probeFsync measured.
type fsyncProbe struct {
	perS  float64 // write+fdatasync per second
	p50ms float64 // median fdatasync latency
	cpuUs float64 // CPU (user+system) per write+fdatasync
}

// probeFsync appends 100 bytes and calls fdatasync in a loop for d (at most
// 1,000,000 times) in a file under dir.
func probeFsync(dir string, d time.Duration) (fsyncProbe, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return fsyncProbe{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 100)
	lat := make([]time.Duration, 0, 4096)
	cpu0 := selfCPU()
	start := time.Now()
	for i := 0; i < 1_000_000 && time.Since(start) < d; i++ {
		if _, err := f.Write(buf); err != nil {
			return fsyncProbe{}, err
		}
		t0 := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fsyncProbe{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	el := time.Since(start).Seconds()
	cpu := selfCPU() - cpu0
	slices.Sort(lat)
	if len(lat) == 0 {
		return fsyncProbe{}, errors.New("no sync completed")
	}
	return fsyncProbe{perS: float64(len(lat)) / el, p50ms: ms(percentile(lat, 0.5)),
		cpuUs: float64(cpu.Microseconds()) / float64(len(lat))}, nil
}

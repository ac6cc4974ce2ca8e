package scenario

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

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
	onWindow func(s *proc.Server, d time.Duration) (wait func() error)
}

type durableResult struct {
	measure.WindowStats
	received, echoes, events, senderEvents, receipts int64
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
		if tokens, err = auth.CLITokens(bin, dataDir, users, device, workers); err != nil {
			return nil, nil, err
		}
		fmt.Printf("prepared in %s\n", time.Since(t0).Round(time.Second))
		return tokens, nil, nil
	case "external":
		ext, err := auth.NewExternal()
		if err != nil {
			return nil, nil, err
		}
		tokens = make(map[string]string, len(users))
		for _, u := range users {
			if tokens[u], err = ext.Token(u, device, 2*time.Hour); err != nil {
				return nil, nil, err
			}
		}
		return tokens, ext.Env(), nil
	}
	return nil, nil, fmt.Errorf("-auth must be cli or external, not %q", authMode)
}

func durableRun(f durableFlags, n int, dir string, tokens map[string]string, env []string) (durableResult, error) {
	var r durableResult
	srv, err := proc.StartServer(f.server, dir, f.cpuServer, env)
	if err != nil {
		return r, err
	}
	defer srv.StopOrLog()
	ctx, cancel := context.WithTimeout(context.Background(), f.warmup+f.duration+2*time.Minute)
	defer cancel()

	// Connect receivers first (so every direct conversation's peer is
	// online), then senders; every client's messages and events are drained.
	var received, echoes, events, senderEvents, receipts atomic.Int64
	var drains sync.WaitGroup
	dial := func(user string, count *atomic.Int64) (*parley.Client, error) {
		c, err := parley.Dial(ctx, parley.Options{URL: srv.URL, Token: tokens[user], Buffer: 256})
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
	_, _, w, err := measure.ClosedLoop(ctx, cancel, measure.Loop{Srv: srv, N: n, WinStart: winStart, WinEnd: winStart.Add(f.duration),
		SendTimeout: f.sendTimeout, What: "sends", OnWindow: f.onWindow}, func(ctx context.Context, i int) (bool, error) {
		_, err := senders[i].Send(ctx, parley.SendOptions{To: fmt.Sprintf("r%d", i), Body: body})
		return false, err
	})
	if err != nil {
		return r, err
	}
	r.WindowStats = w
	// Totals over the whole run (warm-up included), to relate them.
	r.received, r.echoes, r.events = received.Load(), echoes.Load(), events.Load()
	r.senderEvents, r.receipts = senderEvents.Load(), receipts.Load()
	return r, nil
}

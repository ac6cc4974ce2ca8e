package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/protocol"
)

// wsOpenOptions say how openConns opens WebSocket connections.
type wsOpenOptions struct {
	perUser     int // connections (devices) per user, without name
	concurrency int // connections being opened at once
	// name gives connection i's user and device (default u<i/perUser>,
	// d<i>); onFrame, if set, gets the frames connection i receives after
	// its resume.
	name    func(i int) (user, device string)
	onFrame func(i int) func(data []byte, at time.Time)
	// positions, if set, are the resume's client positions (a member
	// joining a group resumes after its membership events).
	positions map[string]uint64
}

type memState struct {
	pid                   int
	rssKB                 int64
	threads               int64
	heapInuse, stackInuse float64
	heapAlloc, gcCount    float64
	// liveEst estimates the heap that survived the last GC from its goal:
	// with GOGC=100 the goal is live + (live + stacks + globals), so
	// live ≈ (goal - stacks) / 2 (globals, a few MB, are ignored).
	liveEst     float64
	goroutines  float64
	connections float64
	metrics     map[string]float64
}

func memSnapshot(ctx context.Context, s *server) (memState, error) {
	m := memState{pid: s.pid}
	var err error
	if m.metrics, err = s.metrics(ctx); err != nil {
		return m, err
	}
	// RSS after the scrape, so both describe the same moment as closely
	// as possible (the scrape itself allocates a little).
	if m.rssKB, err = procStatus(s.pid, "VmRSS"); err != nil {
		return m, err
	}
	m.threads, _ = procStatus(s.pid, "Threads")
	m.heapInuse = m.metrics["go_memstats_heap_inuse_bytes"]
	m.stackInuse = m.metrics["go_memstats_stack_inuse_bytes"]
	m.goroutines = m.metrics["go_goroutines"]
	m.heapAlloc = m.metrics["go_memstats_heap_alloc_bytes"]
	m.gcCount = m.metrics["go_gc_duration_seconds_count"]
	m.liveEst = (m.metrics["go_memstats_next_gc_bytes"] - m.stackInuse) / 2
	m.connections = m.metrics["parley_connections"]
	return m, nil
}

// openConns opens conns[lo:hi]: dial, hello with an application token for
// user u<i/perUser> on device d<i>, resume, wait for "resumed"; then the
// connection is left to a reader that answers pings.
func openConns(ctx context.Context, url string, ext *externalAuth, conns []*websocket.Conn, lo, hi int, f wsOpenOptions) error {
	return forEachLimited(ctx, hi-lo, f.concurrency, func(j int) error {
		i := lo + j
		user, device := fmt.Sprintf("u%d", i/max(f.perUser, 1)), fmt.Sprintf("d%d", i)
		if f.name != nil {
			user, device = f.name(i)
		}
		var onFrame func([]byte, time.Time)
		if f.onFrame != nil {
			onFrame = f.onFrame(i)
		}
		c, err := openConn(ctx, url, ext, user, device, f.positions, onFrame)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = c
		return nil
	})
}

func openConn(ctx context.Context, url string, ext *externalAuth, user, device string, positions map[string]uint64,
	onFrame func(data []byte, at time.Time)) (*websocket.Conn, error) {
	tok, err := ext.token(user, device, time.Hour)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*websocket.Conn, error) { c.CloseNow(); return nil, err }
	write := func(req protocol.Request) error {
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		return c.Write(dctx, websocket.MessageText, b)
	}
	if err := write(protocol.Request{ID: "h", Op: protocol.OpHello, Version: protocol.Version, Token: tok}); err != nil {
		return fail(err)
	}
	if err := write(protocol.Request{ID: "r", Op: protocol.OpResume, Positions: positions}); err != nil {
		return fail(err)
	}
	// Read until the resume has ended (bounded: a new device has nothing
	// to resume, so a few frames at most).
	for range 1000 {
		_, data, err := c.Read(dctx)
		if err != nil {
			return fail(err)
		}
		var fr protocol.Frame
		if err := json.Unmarshal(data, &fr); err != nil {
			return fail(err)
		}
		if fr.Error != nil {
			return fail(fr.Error)
		}
		if fr.Type == protocol.TypeResumed {
			// Keep reading in the background so pings are answered;
			// frames go to onFrame, or are dropped.
			go func() {
				for {
					_, data, err := c.Read(context.Background())
					if err != nil {
						return
					}
					if onFrame != nil {
						onFrame(data, time.Now())
					}
				}
			}()
			return c, nil
		}
	}
	return fail(errors.New("no resumed frame after 1000 frames"))
}

// closeAll closes the connections, 64 at a time.
func closeAll(conns []*websocket.Conn) {
	_ = forEachLimited(context.Background(), len(conns), 64, func(i int) error {
		if conns[i] != nil {
			conns[i].CloseNow()
		}
		return nil
	})
}

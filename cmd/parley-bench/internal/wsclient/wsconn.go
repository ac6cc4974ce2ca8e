package wsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
	"github.com/parley-im/parley/protocol"
)

// OpenOptions say how OpenConns opens WebSocket connections.
type OpenOptions struct {
	PerUser     int // connections (devices) per user, without name
	Concurrency int // connections being opened at once
	// Name gives connection i's user and device (default u<i/perUser>,
	// d<i>); onFrame, if set, gets the frames connection i receives after
	// its resume.
	Name    func(i int) (user, device string)
	OnFrame func(i int) func(data []byte, at time.Time)
	// Positions, if set, are the resume's client positions (a member
	// joining a group resumes after its membership events).
	Positions map[string]uint64
}

// OpenConns opens conns[lo:hi]: dial, hello with an application token for
// user u<i/perUser> on device d<i>, resume, wait for "resumed"; then the
// connection is left to a reader that answers pings.
func OpenConns(ctx context.Context, url string, ext *auth.External, conns []*websocket.Conn, lo, hi int, f OpenOptions) error {
	return conc.ForEachLimited(ctx, hi-lo, f.Concurrency, func(j int) error {
		i := lo + j
		user, device := fmt.Sprintf("u%d", i/max(f.PerUser, 1)), fmt.Sprintf("d%d", i)
		if f.Name != nil {
			user, device = f.Name(i)
		}
		var onFrame func([]byte, time.Time)
		if f.OnFrame != nil {
			onFrame = f.OnFrame(i)
		}
		c, err := openConn(ctx, url, ext, user, device, f.Positions, onFrame)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = c
		return nil
	})
}

func openConn(ctx context.Context, url string, ext *auth.External, user, device string, positions map[string]uint64,
	onFrame func(data []byte, at time.Time)) (*websocket.Conn, error) {
	tok, err := ext.Token(user, device, time.Hour)
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

// CloseAll closes the connections, 64 at a time.
func CloseAll(conns []*websocket.Conn) {
	_ = conc.ForEachLimited(context.Background(), len(conns), 64, func(i int) error {
		if conns[i] != nil {
			conns[i].CloseNow()
		}
		return nil
	})
}

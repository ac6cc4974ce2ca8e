package ws

import (
	"context"
	"sync"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/gateway/cork"
)

// transport adapts a WebSocket connection to core.Transport.
type transport struct {
	conn      *websocket.Conn
	cork      *cork.Writer // nil: every frame is written at once
	closeOnce sync.Once
	closed    chan struct{} // closed when Close was called
	finished  chan struct{} // closed when the close handshake ended
}

func newTransport(conn *websocket.Conn, cork *cork.Writer) *transport {
	return &transport{conn: conn, cork: cork, closed: make(chan struct{}), finished: make(chan struct{})}
}

var (
	_ core.Transport = (*transport)(nil)
	_ core.Batcher   = (*transport)(nil)
	_ core.SelfTimed = (*transport)(nil)
)

// SelfTimed reports whether every write reaches the connection through the
// cork.Writer, which gives each one the write deadline: Send then needs no
// deadline of its own (and the library sets no timer for it).
// Protocol names the transport for the core's metrics.
func (t *transport) Protocol() string { return core.ProtoWebSocket }

func (t *transport) SelfTimed() bool {
	return t.cork != nil && t.cork.Timeout > 0
}

// Hold and Flush let the core's writer write a run of frames in one system
// call (cork.Writer).
func (t *transport) Hold() {
	if t.cork != nil {
		t.cork.Hold()
	}
}

func (t *transport) Flush() error {
	if t.cork == nil {
		return nil
	}
	return t.cork.Flush()
}

func (t *transport) Send(ctx context.Context, ev *core.Event) error {
	return t.conn.Write(ctx, websocket.MessageText, frameFor(ev))
}

// Close sends a close frame with code and reason without blocking the
// caller; the close handshake finishes in the background.
func (t *transport) Close(code int, reason string) {
	t.closeOnce.Do(func() {
		close(t.closed)
		go func() {
			defer close(t.finished)
			t.conn.Close(websocket.StatusCode(code), reason)
		}()
	})
}

// wait waits for a close started by Close to finish (the library bounds
// the handshake); it returns at once if Close was never called.
func (t *transport) wait() {
	select {
	case <-t.closed:
		<-t.finished
	default:
	}
}

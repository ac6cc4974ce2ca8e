package ws

import (
	"net"
	"sync"
	"time"
)

// corkWriter sits between the WebSocket library's buffered writer and the
// network connection. While held (Hold), the frames the library flushes
// are kept and written together by Flush, in one system call: the core's
// writer holds the connection while it writes a run of queued events (an
// ack, the sender's own copy, deliveries), which otherwise cost one write
// each. Writes while not held go straight through. Kept bytes beyond
// corkMax are written at once, so a long run (a resume) never piles up.
type corkWriter struct {
	conn    net.Conn
	timeout time.Duration // write deadline of a held run

	mu   sync.Mutex
	held bool
	buf  *[]byte // from corkBufs while a run is held; nil between runs
}

// corkMax is how many bytes a held run keeps before writing them.
const corkMax = 64 << 10

// corkBufs lends the buffers of held runs, so an idle connection keeps
// none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *corkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return c.conn.Write(p)
	}
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= corkMax {
		if err := c.writeHeld(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Hold keeps what is written until Flush.
func (c *corkWriter) Hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// Flush writes what was kept and stops holding.
func (c *corkWriter) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	return c.writeHeld()
}

// writeHeld writes the kept bytes and gives the buffer back (c.mu held).
func (c *corkWriter) writeHeld() error {
	if c.buf == nil {
		return nil
	}
	var err error
	if len(*c.buf) > 0 {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
		_, err = c.conn.Write(*c.buf)
		_ = c.conn.SetWriteDeadline(time.Time{})
	}
	if cap(*c.buf) <= corkMax*2 { // a large run's buffer is not kept
		*c.buf = (*c.buf)[:0]
		corkBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

// Package cork holds a connection's writes while a gateway writes a run
// of frames or packets, and writes them in one system call.
package cork

import (
	"net"
	"sync"
	"time"
)

// Writer sits between a protocol library's writes and the network
// connection. While held (Hold), what the library writes is kept and
// written together by Flush, in one system call: the core's writer holds
// the connection while it writes a run of queued events (an ack, the
// sender's own copy, deliveries), which otherwise cost one write each.
// Writes while not held go straight through. Kept bytes beyond Max are
// written at once, so a long run (a resume) never piles up. Every write to
// the connection has the write deadline Timeout (if not zero).
type Writer struct {
	Conn    net.Conn
	Timeout time.Duration

	mu   sync.Mutex
	held bool
	buf  *[]byte // from corkBufs while a run is held; nil between runs
}

// Max is how many bytes a held run keeps before writing them.
const Max = 64 << 10

// corkBufs lends the buffers of held runs, so an idle connection keeps
// none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *Writer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return c.write(p)
	}
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= Max {
		if err := c.writeHeld(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Hold keeps what is written until Flush.
func (c *Writer) Hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// Flush writes what was kept and stops holding.
func (c *Writer) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	return c.writeHeld()
}

// writeHeld writes the kept bytes and gives the buffer back (c.mu held).
func (c *Writer) writeHeld() error {
	if c.buf == nil {
		return nil
	}
	var err error
	if len(*c.buf) > 0 {
		_, err = c.write(*c.buf)
	}
	if cap(*c.buf) <= Max*2 { // a large run's buffer is not kept
		*c.buf = (*c.buf)[:0]
		corkBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

// write writes p to the connection within the deadline.
func (c *Writer) write(p []byte) (int, error) {
	if c.Timeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	}
	return c.Conn.Write(p)
}

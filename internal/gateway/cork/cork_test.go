package cork

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

// countingConn records each Write it gets.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }

func TestWriter(t *testing.T) {
	cc := &countingConn{}
	c := &Writer{Conn: cc, Timeout: time.Second}

	// Not held: every write goes straight through.
	_, _ = c.Write([]byte("a"))
	_, _ = c.Write([]byte("b"))
	if len(cc.writes) != 2 {
		t.Fatalf("unheld: %d writes, want 2", len(cc.writes))
	}

	// Held: kept, then written in one write by Flush, in order.
	cc.writes = nil
	c.Hold()
	for _, s := range []string{"ack ", "msg ", "sync"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("held write: %d, %v", n, err)
		}
	}
	if len(cc.writes) != 0 {
		t.Fatalf("held: %d writes before Flush", len(cc.writes))
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(cc.writes) != 1 || string(cc.writes[0]) != "ack msg sync" {
		t.Fatalf("Flush wrote %q, want one write of %q", cc.writes, "ack msg sync")
	}
	// A Flush with nothing held writes nothing; after it, writes pass.
	if err := c.Flush(); err != nil || len(cc.writes) != 1 {
		t.Fatalf("empty Flush: %v, %d writes", err, len(cc.writes))
	}
	_, _ = c.Write([]byte("c"))
	if len(cc.writes) != 2 {
		t.Fatalf("after Flush: %d writes, want 2", len(cc.writes))
	}

	// A long held run is written as it passes Max, not piled up.
	cc.writes = nil
	c.Hold()
	chunk := []byte(strings.Repeat("x", 1000))
	total := 0
	for total < 3*Max {
		_, _ = c.Write(chunk)
		total += len(chunk)
	}
	_ = c.Flush()
	sum := 0
	for _, w := range cc.writes {
		if len(w) > Max+len(chunk) {
			t.Fatalf("a held write of %d bytes, over Max %d", len(w), Max)
		}
		sum += len(w)
	}
	if sum != total || len(cc.writes) < 3 {
		t.Fatalf("%d bytes in %d writes, want %d in at least 3", sum, len(cc.writes), total)
	}
}

package proc

import (
	"net"
	"testing"
	"time"
)

// TestMosquittoPeer starts the Mosquitto peer the way the MQTT scenarios
// do, checks it speaks MQTT (CONNECT → CONNACK 0) and that the bench can
// read its CPU and memory, and stops it.
func TestMosquittoPeer(t *testing.T) {
	bin, err := FindMosquitto("")
	if err != nil {
		t.Skip(err)
	}
	b, err := StartMosquitto(bin, t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	c, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// CONNECT, MQTT 3.1.1, clean session, keepalive 30 s, client id "t".
	connect := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, 1, 't'}
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := c.Read(ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK % x, %v", ack, err)
	}
	if _, err := CPU(b.PID); err != nil {
		t.Fatal(err)
	}
	if rss, err := Status(b.PID, "VmRSS"); err != nil || rss <= 0 {
		t.Fatalf("VmRSS %d, %v", rss, err)
	}
}

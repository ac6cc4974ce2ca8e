package mqtt

import (
	"bufio"
	"bytes"
	"io"

	"github.com/mochi-mqtt/server/v2/packets"
)

// packetGuard reads what a client sends packet by packet, ahead of the
// engine, and ends the connection on input the engine (mochi-mqtt v2.7.9)
// mishandles:
//   - a Remaining Length of more than four bytes [MQTT-1.5.5]: the engine
//     takes 80 80 80 80 00 for 0, and reads 0x80 bytes for ever;
//   - a packet over the maximum packet size, refused before anything of
//     it is buffered: the whole packet counts, as the size advertised in
//     CONNACK does [MQTT-3.2.2-15] (the engine counts the Remaining Length
//     plus one, letting packets of up to 3 bytes more through);
//   - an MQTT 5 SUBSCRIBE whose last topic filter has no subscription
//     options byte: the engine indexes past the packet and panics, which
//     would end the process.
//
// Only the first packet (CONNECT, which says the protocol version) and
// MQTT 5 SUBSCRIBE packets are buffered whole; the bodies of all other
// packets pass through as the engine reads them.
type packetGuard struct {
	r       *bufio.Reader
	max     int // largest packet in bytes, fixed header included
	started bool
	v5      bool
	hdr     [5]byte
	pending []byte // checked bytes the engine has not read yet
	body    int    // bytes of the current packet's body still to pass through
}

func newPacketGuard(r io.Reader, maxPacket int) *packetGuard {
	return &packetGuard{r: bufio.NewReaderSize(r, 512), max: maxPacket}
}

func (g *packetGuard) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(g.pending) == 0 && g.body == 0 {
		if err := g.next(); err != nil {
			return 0, err
		}
	}
	if len(g.pending) > 0 {
		n := copy(b, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	if len(b) > g.body {
		b = b[:g.body]
	}
	n, err := g.r.Read(b)
	g.body -= n
	return n, err
}

// next reads and checks the fixed header of the next packet, and the whole
// packet if it is one that is checked further.
func (g *packetGuard) next() error {
	typ, err := g.r.ReadByte()
	if err != nil {
		return err
	}
	h := append(g.hdr[:0], typ)
	remaining, shift := 0, 0
	for {
		if len(h) == 5 {
			return packets.ErrMalformedVariableByteInteger
		}
		c, err := g.r.ReadByte()
		if err != nil {
			return unexpected(err)
		}
		h = append(h, c)
		remaining |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	if g.max > 0 && len(h)+remaining > g.max {
		return packets.ErrPacketTooLarge
	}
	first := !g.started
	g.started = true
	kind := typ >> 4
	if !(first && kind == packets.Connect) && !(g.v5 && kind == packets.Subscribe) {
		g.pending, g.body = h, remaining
		return nil
	}
	pk := make([]byte, len(h)+remaining)
	copy(pk, h)
	if _, err := io.ReadFull(g.r, pk[len(h):]); err != nil {
		return unexpected(err)
	}
	body := pk[len(h):]
	if kind == packets.Connect {
		g.v5 = connectVersion(body) == 5
	} else if !v5SubscribeComplete(body) {
		return packets.ErrMalformedPacket
	}
	g.pending = pk
	return nil
}

// unexpected is err for the end of the input inside a packet.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// connectVersion returns the protocol level of a CONNECT body (0 if it has
// none).
func connectVersion(b []byte) byte {
	if len(b) < 2 {
		return 0
	}
	i := 2 + (int(b[0])<<8 | int(b[1]))
	if i >= len(b) {
		return 0
	}
	return b[i]
}

// v5SubscribeComplete reports whether every topic filter of an MQTT 5
// SUBSCRIBE body is followed by its subscription options byte. It walks the
// body as the engine's decoder does; what else is wrong the engine reports.
func v5SubscribeComplete(b []byte) bool {
	if len(b) < 2 {
		return true
	}
	n, bu, err := packets.DecodeLength(bytes.NewReader(b[2:]))
	if err != nil {
		return true
	}
	for i := 2 + bu + n; i < len(b); i++ {
		if i+2 > len(b) {
			return true
		}
		i += 2 + (int(b[i])<<8 | int(b[i+1]))
		if i > len(b) {
			return true
		}
		if i == len(b) {
			return false
		}
	}
	return true
}

package mqttclient

// A minimal MQTT 3.1.1 client for the load harness: CONNECT, SUBSCRIBE,
// PUBLISH at QoS 0 and 1, PUBACK, PINGREQ, DISCONNECT. Nothing else (no
// QoS 2, no retained messages, no reconnect, no session state).
//
// Why not Paho (github.com/eclipse/paho.mqtt.golang, which the e2e tests
// use): a Paho client runs several goroutines and a keepalive timer of its
// own per connection and routes every message through its own router and
// channels. For 10,000 idle connections on one harness core, and for 512
// closed-loop clients, that is client CPU and memory the harness does not
// need; this client costs one reader goroutine and one small buffer per
// connection, and the keepalive pings of all connections are sent by one
// goroutine (Pinger).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
)

// MQTT control packet types (MQTT 3.1.1 §2.2.1).
const (
	mqttConnect    = 1
	mqttConnack    = 2
	mqttPublish    = 3
	mqttPuback     = 4
	mqttSubscribe  = 8
	mqttSuback     = 9
	mqttPingreq    = 12
	mqttPingresp   = 13
	mqttDisconnect = 14
)

// mqttMaxPacket bounds what the harness reads (the server's default limit
// is 256 KiB; deliveries are a few hundred bytes).
const mqttMaxPacket = 1 << 20

var (
	mqttPingreqPacket    = []byte{mqttPingreq << 4, 0}
	mqttDisconnectPacket = []byte{mqttDisconnect << 4, 0}
)

// appendRemLen appends MQTT's variable-length "remaining length" (§2.2.3).
func appendRemLen(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// appendMQTTString appends a length-prefixed UTF-8 string (§1.5.3).
func appendMQTTString(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

func mqttPacket(first byte, body []byte) []byte {
	b := make([]byte, 0, len(body)+5)
	b = append(b, first)
	b = appendRemLen(b, len(body))
	return append(b, body...)
}

// connectPacket builds a 3.1.1 CONNECT (protocol level 4).
func connectPacket(clientID, user, password string, keepalive uint16, clean bool) []byte {
	body := appendMQTTString(nil, "MQTT")
	flags := byte(0)
	if clean {
		flags |= 0x02
	}
	if user != "" {
		flags |= 0x80
	}
	if password != "" {
		flags |= 0x40
	}
	body = append(body, 4, flags, byte(keepalive>>8), byte(keepalive))
	body = appendMQTTString(body, clientID)
	if user != "" {
		body = appendMQTTString(body, user)
	}
	if password != "" {
		body = appendMQTTString(body, password)
	}
	return mqttPacket(mqttConnect<<4, body)
}

// subscribePacket builds a SUBSCRIBE of filters, all at qos.
func subscribePacket(pid uint16, qos byte, filters ...string) []byte {
	body := []byte{byte(pid >> 8), byte(pid)}
	for _, f := range filters {
		body = appendMQTTString(body, f)
		body = append(body, qos)
	}
	return mqttPacket(mqttSubscribe<<4|0x02, body)
}

// publishPacket builds a PUBLISH; pid is used only for QoS 1.
func publishPacket(topic string, payload []byte, qos byte, pid uint16) []byte {
	body := make([]byte, 0, 2+len(topic)+2+len(payload))
	body = appendMQTTString(body, topic)
	if qos > 0 {
		body = append(body, byte(pid>>8), byte(pid))
	}
	body = append(body, payload...)
	return mqttPacket(mqttPublish<<4|qos<<1, body)
}

func pubackPacket(pid uint16) []byte {
	return []byte{mqttPuback << 4, 2, byte(pid >> 8), byte(pid)}
}

// readMQTTPacket reads one packet and returns its first byte and its body,
// in buf if it is large enough.
func readMQTTPacket(r *bufio.Reader, buf []byte) (byte, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("mqtt: malformed remaining length")
		}
		mul *= 128
	}
	if n > mqttMaxPacket {
		return 0, nil, fmt.Errorf("mqtt: packet of %d bytes", n)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return first, buf, nil
}

// Pub is a received PUBLISH. Payload and Topic alias the read buffer
// only until the handler returns.
type Pub struct {
	Topic   string
	QoS     byte
	PID     uint16
	Payload []byte
	// Acked reports whether the client writes this PUBLISH's PUBACK right
	// after the handler returns, before any DISCONNECT: true for QoS 1
	// unless Close has begun (then the server never gets a PUBACK for it
	// and may deliver it again, legitimately).
	Acked bool
}

func parsePublish(first byte, body []byte) (Pub, error) {
	var p Pub
	p.QoS = (first >> 1) & 3
	if len(body) < 2 {
		return p, errors.New("mqtt: short PUBLISH")
	}
	tl := int(body[0])<<8 | int(body[1])
	if len(body) < 2+tl {
		return p, errors.New("mqtt: short PUBLISH topic")
	}
	p.Topic = string(body[2 : 2+tl])
	rest := body[2+tl:]
	if p.QoS > 0 {
		if len(rest) < 2 {
			return p, errors.New("mqtt: PUBLISH without packet id")
		}
		p.PID = uint16(rest[0])<<8 | uint16(rest[1])
		rest = rest[2:]
	}
	p.Payload = rest
	return p, nil
}

// DialOptions describe one client connection.
type DialOptions struct {
	Addr      string // host:port
	ClientID  string
	User      string
	Password  string // password or access token
	KeepAlive time.Duration
	// OnPublish is called on the connection's reader goroutine for every
	// PUBLISH, before its PUBACK (QoS 1) is written. It must not block.
	OnPublish func(p *Pub, at time.Time)
	// ReadBuffer is the size of the reader's buffer (default 512 bytes).
	ReadBuffer int
	// Persistent asks for a persistent session (clean session 0).
	Persistent bool
}

// Client is one connection.
type Client struct {
	conn net.Conn
	wmu  sync.Mutex
	// hmu is held by the reader from a PUBLISH's handler to its PUBACK,
	// and by Close while it writes DISCONNECT: a PUBACK the handler was
	// told of (Pub.Acked) always precedes the DISCONNECT.
	hmu     sync.Mutex
	closing bool // Close has begun: no more PUBACKs (hmu)
	pid     atomic.Uint32
	pubacks chan uint16 // PUBACKs of this client's publishes
	subacks chan []byte // SUBACK return codes, in order
	done    chan struct{}
	err     atomic.Value // error that ended the reader
	pings   atomic.Int64 // PINGRESPs received
}

// dialMQTTNet opens the byte stream of an MQTT connection: TCP to
// host:port, or MQTT over WebSocket (subprotocol mqtt, one binary message
// per write) to a ws:// or wss:// URL.
func dialMQTTNet(ctx context.Context, addr string) (net.Conn, error) {
	if !strings.HasPrefix(addr, "ws://") && !strings.HasPrefix(addr, "wss://") {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	wc, _, err := websocket.Dial(ctx, addr, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		return nil, err
	}
	wc.SetReadLimit(mqttMaxPacket + 16)
	return websocket.NetConn(context.Background(), wc, websocket.MessageBinary), nil
}

// dialMQTT connects, sends CONNECT and waits for a successful CONNACK.
func dialMQTT(ctx context.Context, o DialOptions) (*Client, error) {
	c, _, err := DialSession(ctx, o)
	return c, err
}

// DialSession is dialMQTT that also returns the CONNACK's session
// present flag.
func DialSession(ctx context.Context, o DialOptions) (*Client, bool, error) {
	nc, err := dialMQTTNet(ctx, o.Addr)
	if err != nil {
		return nil, false, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	} else {
		_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	ka := uint16(min(max(o.KeepAlive/time.Second, 0), 65535))
	if _, err := nc.Write(connectPacket(o.ClientID, o.User, o.Password, ka, !o.Persistent)); err != nil {
		nc.Close()
		return nil, false, err
	}
	rb := o.ReadBuffer
	if rb <= 0 {
		rb = 512
	}
	br := bufio.NewReaderSize(nc, rb)
	first, body, err := readMQTTPacket(br, nil)
	if err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("read CONNACK: %w", err)
	}
	if first>>4 != mqttConnack || len(body) < 2 {
		nc.Close()
		return nil, false, fmt.Errorf("expected CONNACK, got packet type %d", first>>4)
	}
	if body[1] != 0 {
		nc.Close()
		return nil, false, fmt.Errorf("CONNACK return code %d", body[1])
	}
	_ = nc.SetDeadline(time.Time{})
	c := &Client{conn: nc, pubacks: make(chan uint16, 256), subacks: make(chan []byte, 4), done: make(chan struct{})}
	go c.read(br, o.OnPublish)
	return c, body[0]&1 == 1, nil
}

func (c *Client) read(br *bufio.Reader, onPublish func(*Pub, time.Time)) {
	defer close(c.done)
	var buf []byte
	for {
		first, body, err := readMQTTPacket(br, buf)
		if err != nil {
			c.err.Store(err)
			return
		}
		if cap(body) <= 4096 {
			buf = body[:0] // keep a small buffer, drop a big one
		}
		switch first >> 4 {
		case mqttPublish:
			at := time.Now()
			p, err := parsePublish(first, body)
			if err != nil {
				c.err.Store(err)
				c.conn.Close()
				return
			}
			c.hmu.Lock()
			p.Acked = p.QoS == 1 && !c.closing
			if onPublish != nil {
				onPublish(&p, at)
			}
			if p.Acked {
				if err := c.write(pubackPacket(p.PID)); err != nil {
					c.hmu.Unlock()
					c.err.Store(err)
					return
				}
			}
			c.hmu.Unlock()
		case mqttPuback:
			if len(body) >= 2 {
				select {
				case c.pubacks <- uint16(body[0])<<8 | uint16(body[1]):
				default: // nobody waits for this one (open loop): dropped
				}
			}
		case mqttSuback:
			if len(body) >= 2 {
				codes := append([]byte(nil), body[2:]...)
				select {
				case c.subacks <- codes:
				default:
				}
			}
		case mqttPingresp:
			c.pings.Add(1)
		}
	}
}

// ReadErr is what ended the reader (nil while it runs).
func (c *Client) ReadErr() error {
	if e, ok := c.err.Load().(error); ok {
		return e
	}
	return nil
}

func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

func (c *Client) nextPID() uint16 {
	for {
		if p := uint16(c.pid.Add(1)); p != 0 {
			return p
		}
	}
}

// Subscribe subscribes to filters at qos and waits for the SUBACK; a
// refused filter (return code 0x80) is an error.
func (c *Client) Subscribe(ctx context.Context, qos byte, filters ...string) error {
	if err := c.write(subscribePacket(c.nextPID(), qos, filters...)); err != nil {
		return err
	}
	select {
	case codes := <-c.subacks:
		for i, code := range codes {
			if code >= 0x80 && i < len(filters) {
				return fmt.Errorf("subscription to %s refused (0x%02x)", filters[i], code)
			}
		}
		return nil
	case <-c.done:
		return fmt.Errorf("connection ended before SUBACK: %v", c.ReadErr())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish writes a PUBLISH and returns its packet id (0 for QoS 0).
func (c *Client) Publish(topic string, payload []byte, qos byte) (uint16, error) {
	var pid uint16
	if qos > 0 {
		pid = c.nextPID()
	}
	return pid, c.write(publishPacket(topic, payload, qos, pid))
}

// PublishWait publishes at QoS 1 and waits for the PUBACK (one publish in
// flight per client: the closed loop).
func (c *Client) PublishWait(ctx context.Context, topic string, payload []byte) error {
	pid, err := c.Publish(topic, payload, 1)
	if err != nil {
		return err
	}
	for {
		select {
		case got := <-c.pubacks:
			if got == pid {
				return nil
			}
		case <-c.done:
			return fmt.Errorf("connection ended before PUBACK: %v", c.ReadErr())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Client) ping() error { return c.write(mqttPingreqPacket) }

// Close sends DISCONNECT, waits (briefly) for the server to close the
// connection, closes it and waits for the reader.
//
// The order matters to anyone who counts a handler's PUBLISH as
// acknowledged (Pub.Acked): its PUBACK is written before the DISCONNECT
// (hmu), and the connection is closed only once the server has closed it,
// that is, once it has read everything up to the DISCONNECT. Closing at
// once could reset the TCP connection (RST when data from the server is
// still unread on either side), and the server would drop the PUBACKs it
// had not read yet: it then delivers those messages again on the next
// connection, legitimately (QoS 1 repeats what was not acknowledged).
func (c *Client) Close() {
	c.hmu.Lock()
	c.closing = true
	err := c.write(mqttDisconnectPacket)
	c.hmu.Unlock()
	if err == nil {
		select {
		case <-c.done: // the server closed the connection after the DISCONNECT
		case <-time.After(2 * time.Second):
		}
	}
	c.conn.Close()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// CloseAll closes clients, 64 at a time.
func CloseAll(cs []*Client) {
	_ = conc.ForEachLimited(context.Background(), len(cs), 64, func(i int) error {
		if cs[i] != nil {
			cs[i].Close()
		}
		return nil
	})
}

// Pinger sends PINGREQ on every client every interval, spread over the
// interval, until ctx ends: one goroutine for all connections.
func Pinger(ctx context.Context, cs func() []*Client, every time.Duration) {
	if every <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			list := cs()
			gap := every / time.Duration(max(len(list), 1)) / 2
			for _, c := range list {
				if c == nil {
					continue
				}
				_ = c.ping()
				if gap > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(gap):
					}
				}
			}
		}
	}()
}

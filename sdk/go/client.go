package parley

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/parley-im/parley/protocol"
)

// Errors of the client.
// defaultReadLimit bounds reads before the server names its largest frame
// (protocol.Hello.MaxFrameBytes): above the largest frame of any server
// configuration (limits.max_message_bytes is at most 2 MiB).
const defaultReadLimit = 16 << 20

var (
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("parley: client closed")
	// errDisconnected: the connection dropped while a request waited; the
	// request is retried on the next connection where that is safe.
	errDisconnected = errors.New("parley: disconnected")
)

// Options configure a Client.
type Options struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:8080"; the
	// WebSocket endpoint is derived from it (ws://…/v1/ws).
	URL string
	// Token is the access token. TokenFunc, if set, is asked for a token
	// before each connection instead (so it can refresh).
	Token     string
	TokenFunc func(ctx context.Context) (string, error)
	// Device names the device when the token does not.
	Device string
	// ManualAck turns off automatic acknowledgement: by default a message is
	// acknowledged once it has been put on the Messages channel.
	ManualAck bool
	// Positions seeds the per-conversation positions the client resumes
	// from (an app that persisted them); nil: the server's positions.
	Positions map[string]uint64
	// ReconnectMin and ReconnectMax bound the reconnect backoff
	// (defaults 100ms and 10s); jitter is added.
	ReconnectMin, ReconnectMax time.Duration
	// Buffer is the capacity of the Messages and Events channels (default 1024).
	Buffer int
	// AckInterval is how often automatic acks are sent (default 50ms).
	AckInterval time.Duration
	// HTTPHeader is added to the WebSocket upgrade request.
	HTTPHeader http.Header
	// HTTPClient makes the WebSocket upgrade request (for custom TLS
	// settings, proxies); nil: http.DefaultClient.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Trace, if set, observes the wire: it is called for every message
	// frame as it arrives, repeats included, and just before an
	// acknowledgement is written. For diagnostics and fault tests.
	Trace *Trace
}

// Trace observes what a Client receives and acknowledges. Its functions are
// called from the client's goroutines and must not block.
type Trace struct {
	// Received is called for every message received, before repeats are dropped.
	Received func(m protocol.Message)
	// Acking is called before an acknowledgement of conv up to seq is sent.
	Acking func(conv string, seq uint64)
}

// Event is a push other than a message: a receipt, a read-state change,
// typing, presence, or the end of a resume.
type Event struct {
	Type     string // protocol.TypeReceipt, TypeRead, TypeTyping, TypePresence, TypeResumed
	Receipt  *protocol.Receipt
	Read     *protocol.ReadState
	Typing   *protocol.Typing
	Presence *protocol.Presence
	Resumed  *protocol.Resumed
	// Moment is a new moment of a followed user (or of the user's own),
	// for Type protocol.TypeMoment.
	Moment *protocol.Moment
}

// Client is a connection to Parley that reconnects and resumes by itself.
type Client struct {
	opt   Options
	log   *slog.Logger
	wsURL string

	msgs   chan protocol.Message
	events chan Event

	mu        sync.Mutex
	conn      *websocket.Conn
	connected chan struct{} // closed while a connection is up
	pending   map[string]chan protocol.Frame
	positions map[string]uint64 // highest seq handed to the app, per conversation
	toAck     map[string]uint64
	user      string
	device    string
	lastErr   error

	nextID        atomic.Uint64
	droppedEvents atomic.Uint64
	ctx           context.Context
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	closeOnce     sync.Once
	closing       chan struct{} // closed when Close begins
	ackMu         sync.Mutex    // serializes flushAcks, and Close's last flush with the close handshake
}

// Dial connects, authenticates and resumes, then keeps the connection up in
// the background until Close. It fails if the first connection fails.
func Dial(ctx context.Context, opt Options) (*Client, error) {
	if opt.ReconnectMin <= 0 {
		opt.ReconnectMin = 100 * time.Millisecond
	}
	if opt.ReconnectMax <= 0 {
		opt.ReconnectMax = 10 * time.Second
	}
	if opt.Buffer <= 0 {
		opt.Buffer = 1024
	}
	if opt.AckInterval <= 0 {
		opt.AckInterval = 50 * time.Millisecond
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	u := strings.TrimRight(opt.URL, "/")
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	c := &Client{
		opt: opt, log: opt.Logger, wsURL: u + "/v1/ws",
		msgs: make(chan protocol.Message, opt.Buffer), events: make(chan Event, opt.Buffer),
		connected: make(chan struct{}), pending: map[string]chan protocol.Frame{},
		positions: map[string]uint64{}, toAck: map[string]uint64{}, closing: make(chan struct{}),
	}
	for k, v := range opt.Positions {
		c.positions[k] = v
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	conn, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.wg.Add(2)
	go c.run(conn)
	go c.ackLoop()
	return c, nil
}

// User and Device return who the client is signed in as.
func (c *Client) User() string   { c.mu.Lock(); defer c.mu.Unlock(); return c.user }
func (c *Client) Device() string { c.mu.Lock(); defer c.mu.Unlock(); return c.device }

// Messages delivers messages in seq order per conversation, each once.
// It is closed after Close.
func (c *Client) Messages() <-chan protocol.Message { return c.msgs }

// Events delivers receipts, read states, typing, presence and resume ends.
// It is best-effort: events that find it full are dropped (see
// DroppedEvents); messages never are. It is closed after Close.
func (c *Client) Events() <-chan Event { return c.events }

// Positions returns the highest seq handed to the application per
// conversation (to persist and pass as Options.Positions later).
func (c *Client) Positions() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.positions))
	for k, v := range c.positions {
		out[k] = v
	}
	return out
}

// Close disconnects and stops reconnecting. Pending acks are sent first,
// and the connection ends with a close handshake, so the server has read
// them when Close returns (it answers the close frame only after the
// frames before it).
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing) // no more automatic acks or reconnects
		c.ackMu.Lock()
		c.flushAcksLocked()
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		if conn != nil {
			// Before cancelling the reader: cancelling a read drops the TCP
			// connection at once, and the server could lose the acks just
			// written (a reset discards what it had not read yet); it then
			// sends those messages again on the next connection. The
			// server's close frame is read by the reader or, while it
			// waits to hand a message over, by Close itself; the library
			// bounds the handshake.
			conn.Close(websocket.StatusNormalClosure, "bye")
		}
		c.ackMu.Unlock()
		c.cancel()
		c.wg.Wait()
		close(c.msgs)
		close(c.events)
	})
	return nil
}

// connect dials, says hello and starts a resume; it returns the connection
// with the reader not yet running.
//
// Until the hello reply names the server's largest frame, reads are
// limited to defaultReadLimit, the largest frame of a server with the
// largest message limit it accepts.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, error) {
	token := c.opt.Token
	if c.opt.TokenFunc != nil {
		var err error
		if token, err = c.opt.TokenFunc(ctx); err != nil {
			return nil, fmt.Errorf("get token: %w", err)
		}
	}
	conn, resp, err := websocket.Dial(ctx, c.wsURL, &websocket.DialOptions{HTTPHeader: c.opt.HTTPHeader, HTTPClient: c.opt.HTTPClient})
	if err != nil {
		if pe := upgradeRefusal(resp); pe != nil {
			err = pe
		}
		return nil, fmt.Errorf("dial %s: %w", c.wsURL, err)
	}
	conn.SetReadLimit(defaultReadLimit)
	hello, _ := json.Marshal(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: token, Device: c.opt.Device})
	if err := conn.Write(ctx, websocket.MessageText, hello); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("hello: %w", err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("hello: %w", err)
	}
	var f protocol.Frame
	if err := json.Unmarshal(data, &f); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("hello reply: %w", err)
	}
	if f.Error != nil {
		conn.CloseNow()
		return nil, f.Error
	}
	var h protocol.Hello
	if err := json.Unmarshal(f.Data, &h); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("hello reply: %w", err)
	}
	if h.MaxFrameBytes > 0 {
		// The server's largest frame, whatever its message limit: a read
		// limit below it would fail the same frame on every reconnect.
		conn.SetReadLimit(int64(h.MaxFrameBytes))
	}
	c.mu.Lock()
	c.user, c.device = h.User, h.Device
	var pos map[string]uint64
	if len(c.positions) > 0 {
		pos = make(map[string]uint64, len(c.positions))
		for k, v := range c.positions {
			pos[k] = v
		}
	}
	c.mu.Unlock()
	resume, _ := json.Marshal(protocol.Request{ID: "resume", Op: protocol.OpResume, Positions: pos})
	if err := conn.Write(ctx, websocket.MessageText, resume); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("resume: %w", err)
	}
	return conn, nil
}

// upgradeRefusal returns the error of an upgrade refused by a connection
// limit (429, with Retry-After and an error body), or nil.
func upgradeRefusal(resp *http.Response) *protocol.Error {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		return nil
	}
	pe := &protocol.Error{Code: resp.StatusCode, Reason: http.StatusText(resp.StatusCode)}
	if resp.Body != nil {
		var eb struct {
			Error *protocol.Error `json:"error"`
		}
		if data, err := io.ReadAll(io.LimitReader(resp.Body, 4096)); err == nil && json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			pe = eb.Error
		}
	}
	withRetryAfter(pe, resp.Header)
	return pe
}

// run owns the connection: it reads until the connection drops, then
// reconnects with backoff, until Close.
func (c *Client) run(conn *websocket.Conn) {
	defer c.wg.Done()
	backoff := c.opt.ReconnectMin
	for {
		c.mu.Lock()
		c.conn = conn
		close(c.connected)
		c.mu.Unlock()
		err := c.readLoop(conn)
		c.mu.Lock()
		c.conn = nil
		c.connected = make(chan struct{})
		for id, ch := range c.pending {
			close(ch)
			delete(c.pending, id)
		}
		c.lastErr = err
		c.mu.Unlock()
		conn.CloseNow()
		if c.ctx.Err() != nil || c.isClosing() {
			return
		}
		if ce := websocket.CloseStatus(err); ce >= 3500 && ce < 4000 {
			c.log.Warn("parley: server closed the connection for good", "code", ce, "err", err)
			// Only an authentication problem can be mended by a new token;
			// a takeover, kick or protocol mismatch needs the user.
			if c.opt.TokenFunc == nil || (ce != protocol.CloseAuthFailed && ce != protocol.CloseRevoked) {
				return
			}
		}
		var notBefore time.Duration // advised by a refusal (429)
		for {
			wait := max(notBefore, backoff+time.Duration(rand.Int64N(int64(backoff)/2+1)))
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(wait):
			}
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			conn, err = c.connect(ctx)
			cancel()
			if err == nil {
				backoff = c.opt.ReconnectMin
				break
			}
			c.log.Debug("parley: reconnect failed", "err", err)
			backoff = min(backoff*2, c.opt.ReconnectMax)
			var pe *protocol.Error
			notBefore = 0
			if errors.As(err, &pe) && pe.Code == protocol.CodeTooMany {
				// A connection limit or a flapping ban (an upgrade refused
				// with 429, or close 3004/3005 after hello): reconnecting
				// sooner than advised would only be refused again.
				notBefore = time.Duration(pe.RetryAfterMS) * time.Millisecond
			}
			if errors.As(err, &pe) && pe.Code == protocol.CodeUnauthorized && c.opt.TokenFunc == nil {
				c.mu.Lock()
				c.lastErr = err
				c.mu.Unlock()
				return
			}
		}
	}
}

// Err returns why the last connection ended (nil while connected or never
// disconnected).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

func (c *Client) readLoop(conn *websocket.Conn) error {
	for {
		_, data, err := conn.Read(c.ctx)
		if err != nil {
			return err
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("bad frame from server: %w", err)
		}
		if err := c.dispatch(f); err != nil {
			return err
		}
	}
}

func (c *Client) dispatch(f protocol.Frame) error {
	if f.ID != "" && f.ID != "resume" {
		c.mu.Lock()
		ch, ok := c.pending[f.ID]
		delete(c.pending, f.ID)
		c.mu.Unlock()
		if ok {
			ch <- f
		}
		return nil
	}
	switch f.Type {
	case protocol.TypeMsg:
		var m protocol.Message
		if err := json.Unmarshal(f.Data, &m); err != nil {
			return fmt.Errorf("bad message: %w", err)
		}
		return c.handOver(m)
	case protocol.TypePage:
		var p protocol.Page
		if err := json.Unmarshal(f.Data, &p); err != nil {
			return fmt.Errorf("bad page: %w", err)
		}
		for _, m := range p.Messages {
			if err := c.handOver(m); err != nil {
				return err
			}
		}
		return nil
	case protocol.TypeResumed:
		var r protocol.Resumed
		_ = json.Unmarshal(f.Data, &r)
		return c.emit(Event{Type: f.Type, Resumed: &r})
	case protocol.TypeReceipt:
		var r protocol.Receipt
		_ = json.Unmarshal(f.Data, &r)
		return c.emit(Event{Type: f.Type, Receipt: &r})
	case protocol.TypeRead:
		var r protocol.ReadState
		_ = json.Unmarshal(f.Data, &r)
		return c.emit(Event{Type: f.Type, Read: &r})
	case protocol.TypeTyping:
		var t protocol.Typing
		_ = json.Unmarshal(f.Data, &t)
		return c.emit(Event{Type: f.Type, Typing: &t})
	case protocol.TypePresence:
		var p protocol.Presence
		_ = json.Unmarshal(f.Data, &p)
		return c.emit(Event{Type: f.Type, Presence: &p})
	case protocol.TypeMoment:
		var m protocol.Moment
		_ = json.Unmarshal(f.Data, &m)
		return c.emit(Event{Type: f.Type, Moment: &m})
	case protocol.TypeError:
		if f.Error != nil {
			c.log.Warn("parley: server error", "err", f.Error)
		}
	}
	return nil
}

// handOver gives a message to the application once, in seq order; a
// repeat (seq at or below the position) is dropped.
func (c *Client) handOver(m protocol.Message) error {
	if c.opt.Trace != nil && c.opt.Trace.Received != nil {
		c.opt.Trace.Received(m)
	}
	c.mu.Lock()
	if m.Seq <= c.positions[m.Conv] {
		c.mu.Unlock()
		return nil
	}
	c.positions[m.Conv] = m.Seq
	c.mu.Unlock()
	select {
	case c.msgs <- m:
	case <-c.ctx.Done():
		return ErrClosed
	}
	if !c.opt.ManualAck {
		c.mu.Lock()
		c.toAck[m.Conv] = m.Seq
		c.mu.Unlock()
	}
	return nil
}

// emit offers an event to the application without blocking: events are
// state the application can query again (receipts, read states, presence),
// so when Events is not drained they are dropped and counted rather than
// holding up messages.
func (c *Client) emit(e Event) error {
	select {
	case c.events <- e:
	default:
		c.droppedEvents.Add(1)
	}
	return nil
}

// DroppedEvents reports how many events were dropped because the Events
// channel was full.
func (c *Client) DroppedEvents() uint64 { return c.droppedEvents.Load() }

func (c *Client) ackLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opt.AckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.flushAcks()
		}
	}
}

// isClosing reports whether Close has begun.
func (c *Client) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// flushAcks sends the automatic acks collected since the last flush; once
// Close has begun, Close sends the last ones.
func (c *Client) flushAcks() {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if c.isClosing() {
		return
	}
	c.flushAcksLocked()
}

// flushAcksLocked is flushAcks with ackMu held.
func (c *Client) flushAcksLocked() {
	c.mu.Lock()
	conn := c.conn
	if conn == nil || len(c.toAck) == 0 {
		c.mu.Unlock()
		return
	}
	acks := c.toAck
	c.toAck = map[string]uint64{}
	c.mu.Unlock()
	for conv, seq := range acks {
		c.traceAck(conv, seq)
		b, _ := json.Marshal(protocol.Request{Op: protocol.OpAck, Conv: conv, Seq: seq})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := conn.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			// Not acknowledged: the server redelivers and handOver drops it.
			return
		}
	}
}

func (c *Client) traceAck(conv string, seq uint64) {
	if c.opt.Trace != nil && c.opt.Trace.Acking != nil {
		c.opt.Trace.Acking(conv, seq)
	}
}

// call sends a request and waits for its reply on the current connection.
func (c *Client) call(ctx context.Context, req protocol.Request) (protocol.Frame, error) {
	if c.ctx.Err() != nil {
		return protocol.Frame{}, ErrClosed
	}
	req.ID = strconv.FormatUint(c.nextID.Add(1), 36)
	ch := make(chan protocol.Frame, 1)
	c.mu.Lock()
	conn := c.conn
	if conn == nil {
		c.mu.Unlock()
		return protocol.Frame{}, errDisconnected
	}
	c.pending[req.ID] = ch
	c.mu.Unlock()
	b, err := json.Marshal(req)
	if err != nil {
		return protocol.Frame{}, err
	}
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
		if ctx.Err() != nil {
			return protocol.Frame{}, ctx.Err()
		}
		return protocol.Frame{}, errDisconnected
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return protocol.Frame{}, errDisconnected
		}
		if f.Error != nil {
			return f, f.Error
		}
		return f, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
		return protocol.Frame{}, ctx.Err()
	case <-c.ctx.Done():
		return protocol.Frame{}, ErrClosed
	}
}

// waitConnected blocks until a connection is up.
func (c *Client) waitConnected(ctx context.Context) error {
	c.mu.Lock()
	ch := c.connected
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}

// request calls req, retrying on a new connection after a disconnect if
// retry is set (safe for idempotent requests).
func (c *Client) request(ctx context.Context, req protocol.Request, retry bool, out any) error {
	for {
		if err := c.waitConnected(ctx); err != nil {
			return err
		}
		f, err := c.call(ctx, req)
		if errors.Is(err, errDisconnected) && retry {
			continue
		}
		if retry && waitRateLimited(ctx, err) {
			continue // refused by a rate limit, nothing stored: send again after the advised delay
		}
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code >= 500 && retry {
			select {
			case <-time.After(c.opt.ReconnectMin):
				continue
			case <-ctx.Done():
				return err
			}
		}
		if err != nil {
			return err
		}
		if out != nil && len(f.Data) > 0 {
			if err := json.Unmarshal(f.Data, out); err != nil {
				return fmt.Errorf("decode %s reply: %w", req.Op, err)
			}
		}
		return nil
	}
}

// NewClientMsgID returns a fresh client message id.
func NewClientMsgID() string { return uuid.NewString() }

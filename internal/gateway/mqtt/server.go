package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/gateway/admit"
	"github.com/parley-im/parley/internal/ratelimit"
)

// Options configure the gateway. Zero values take the defaults noted.
type Options struct {
	// Root is the first level of every topic (default "IMS").
	Root string
	// MaxPacketBytes is the largest packet a client may send (default
	// 256 KiB); larger ones end the connection before they are read.
	MaxPacketBytes int
	// AuthDeadline is how long a new connection has to send CONNECT
	// (default 10 s).
	AuthDeadline time.Duration
	// WriteTimeout bounds one write to a connection (default 10 s).
	WriteTimeout time.Duration
	// KeepAlive is the keepalive the server imposes on a client that asks
	// for none or for more than MaxKeepAlive (default 60 s, at most 65535 s).
	KeepAlive time.Duration
	// MaxKeepAlive is the longest keepalive a client may choose (default 300 s).
	MaxKeepAlive time.Duration
	// ReceiveMaximum is how many QoS 1 and 2 publishes a client may have
	// unacknowledged at once (default 64); a client that sends more is
	// disconnected (5.0: 0x93).
	ReceiveMaximum uint16
	// SendWindow is how many QoS 1 deliveries may wait for their PUBACK at
	// once per connection, also bounded by the client's Receive Maximum
	// (default 64).
	SendWindow int
	// MaxSubscriptions bounds the topic filters of one session (default 128).
	MaxSubscriptions int
	// AllowedOrigins is the browser origin allow-list for MQTT over
	// WebSocket (the WebSocket gateway's list).
	AllowedOrigins []string
	// Proxies and Conns: see the WebSocket gateway; MQTT connections count
	// against the same per-address limits.
	Proxies *ratelimit.Proxies
	Conns   *ratelimit.IPGate
	// Logins limits failed password checks per client address and account
	// (shared with the HTTP API's login); nil: not limited.
	Logins LoginLimiter
	Logger *slog.Logger
}

// LoginLimiter admits a password check from the client address with key
// ipKey on account, or refuses it (an error unwrapping to
// core.ErrRateLimited). done is called with the check's result (nil, an
// error unwrapping to core.ErrUnauthorized, or another: nothing checked).
type LoginLimiter interface {
	Attempt(ipKey, account string) (done func(error), err error)
}

func (o *Options) defaults() {
	if o.Root == "" {
		o.Root = "IMS"
	}
	if o.MaxPacketBytes == 0 {
		o.MaxPacketBytes = 256 << 10
	}
	if o.AuthDeadline == 0 {
		o.AuthDeadline = 10 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 60 * time.Second
	}
	if o.MaxKeepAlive == 0 {
		o.MaxKeepAlive = 300 * time.Second
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 64
	}
	if o.SendWindow == 0 {
		o.SendWindow = 64
	}
	if o.MaxSubscriptions == 0 {
		o.MaxSubscriptions = 128
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the MQTT gateway.
type Server struct {
	ctx    context.Context
	core   Core
	opt    Options
	log    *slog.Logger
	scheme scheme
	mq     *mochi.Server

	mu        sync.Mutex
	conns     map[*mochi.Client]*conn
	wills     map[string]*time.Timer // delayed wills by session key
	dups      map[string]*dupCache   // QoS 1 dedupe of persistent sessions by session key
	listeners []net.Listener
	closed    bool
	wg        sync.WaitGroup // connections and accept loops
}

// New builds the gateway on c. ctx ends the connections' background work.
func New(ctx context.Context, c Core, opt Options) (*Server, error) {
	opt.defaults()
	s := &Server{ctx: ctx, core: c, opt: opt, log: opt.Logger, scheme: scheme{root: opt.Root},
		conns: make(map[*mochi.Client]*conn), wills: make(map[string]*time.Timer), dups: make(map[string]*dupCache)}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(opt.MaxPacketBytes)
	caps.ReceiveMaximum = opt.ReceiveMaximum
	caps.MaximumInflight = opt.ReceiveMaximum
	caps.MaximumClientWritesPending = 16 // the library queues only its own writes
	caps.MaximumSessionExpiryInterval = 7 * 24 * 3600
	// Topic aliases are not offered: the engine checks the ACL before it
	// resolves an alias. An alias is then a protocol error (0x94).
	caps.TopicAliasMaximum = 0
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	caps.RetainAvailable = 0
	caps.SharedSubAvailable = 0
	caps.SubIDAvailable = 0
	s.mq = mochi.New(&mochi.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  1024,
		ClientNetWriteBufferSize: 1024,
		// The library's own log is for its internals; bad packets are
		// routine on a public port, so they are logged at debug level.
		Logger:                 slog.New(levelShift{opt.Logger.Handler()}),
		SysTopicResendInterval: 3600,
	})
	if err := s.mq.AddHook(&hook{s: s}, nil); err != nil {
		return nil, fmt.Errorf("mqtt hook: %w", err)
	}
	if err := s.mq.Serve(); err != nil {
		return nil, fmt.Errorf("mqtt engine: %w", err)
	}
	return s, nil
}

// Listen serves MQTT over TCP (with TLS if cfg is not nil) on addr and
// returns the bound listener's address (port 0 picks a free port).
func (s *Server) Listen(addr string, cfg *tls.Config) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, errors.New("mqtt gateway is closed")
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accept(ln, cfg != nil)
	return ln.Addr(), nil
}

func (s *Server) accept(ln net.Listener, secure bool) {
	defer s.wg.Done()
	listener := "tcp"
	if secure {
		listener = "tls"
	}
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return
		}
		delay = 0
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		client, _ := netip.ParseAddr(host)
		release, err := s.opt.Conns.Admit(ratelimit.Key(client))
		if err != nil {
			s.refused(err)
			c.Close()
			continue
		}
		if !s.track() {
			release()
			c.Close()
			return
		}
		go func() {
			defer s.wg.Done()
			defer release()
			s.serveConn(listener, c, ratelimit.Key(client))
		}()
	}
}

// refused counts a connection refused by a per-address limit.
func (s *Server) refused(err error) {
	var le *ratelimit.Error
	if errors.As(err, &le) {
		s.core.Metrics().RateLimited.WithLabelValues(le.Limit).Inc()
	}
	s.log.Debug("mqtt connection refused", "err", err)
}

// track counts a connection in the wait group unless the gateway is
// closing.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// serveConn runs one connection through the engine until it ends.
func (s *Server) serveConn(listener string, c net.Conn, ipKey string) {
	nc := &netConn{Conn: c, writeTimeout: s.opt.WriteTimeout, ipKey: ipKey, guard: newPacketGuard(c, s.opt.MaxPacketBytes), mq: s.mq}
	// Until CONNECT: the engine reads it without a deadline of its own.
	_ = c.SetReadDeadline(time.Now().Add(s.opt.AuthDeadline))
	err := s.mq.EstablishConnection(listener, nc)
	if err != nil {
		s.log.Debug("mqtt connection ended", "remote", c.RemoteAddr().String(), "err", err)
	}
}

// ServeHTTP serves MQTT over WebSocket (subprotocol "mqtt", RFC 6455 binary
// frames carrying the MQTT byte stream). After the upgrade the connection
// is served on a goroutine of its own and the handler returns.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Counted from the start, not from the upgrade: the HTTP server's
	// Shutdown stops waiting for a request once it is hijacked.
	if !s.track() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	handedOff := false // the connection's goroutine has taken over wg and the admission
	defer func() {
		if !handedOff {
			s.wg.Done()
		}
	}()
	client := s.opt.Proxies.ClientIP(r)
	if origin := r.Header.Get("Origin"); origin != "" && !admit.OriginAllowed(s.opt.AllowedOrigins, origin) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if !hasSubprotocol(r, "mqtt") {
		http.Error(w, `MQTT over WebSocket needs the subprotocol "mqtt" (Sec-WebSocket-Protocol: mqtt)`, http.StatusBadRequest)
		return
	}
	release, err := s.opt.Conns.Admit(ratelimit.Key(client))
	if err != nil {
		s.refused(err)
		admit.WriteTooMany(w, err)
		return
	}
	defer func() {
		if !handedOff {
			release()
		}
	}()
	wc, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		Subprotocols:       []string{"mqtt"},
		InsecureSkipVerify: true, // the origin was checked above
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("mqtt websocket upgrade failed", "err", err)
		return
	}
	wc.SetReadLimit(int64(s.opt.MaxPacketBytes) + 16)
	// As for /v1/ws: the HTTP server then drops its per-connection state
	// (the request, the response's buffer) and the handler's deep stack,
	// which a connection served inside the handler would keep for its
	// whole life. The connection uses the gateway's context, not the
	// request's, which ends now.
	handedOff = true
	go func() {
		defer s.wg.Done()
		defer release()
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		s.serveConn("ws", websocket.NetConn(ctx, wc, websocket.MessageBinary), ratelimit.Key(client))
	}()
}

// wsBufferSize is the size of the WebSocket library's read and write
// buffers on an MQTT connection: the engine reads and writes through
// buffers of its own above them.
const wsBufferSize = 512

// smallBuffers gives the WebSocket library small buffers of its own when it
// hijacks the connection, instead of the HTTP server's (4 KiB each), which
// it would otherwise keep for the connection's life.
type smallBuffers struct{ http.ResponseWriter }

// Unwrap lets http.ResponseController reach the server's writer.
func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes over the connection. Bytes the client sent right after its
// upgrade request, which the HTTP server has buffered, are read first: the
// connection returned reads them before the network's (the library reads
// from the connection, not only through the buffer returned).
func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		conn = &prefixConn{Conn: conn, r: io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)}
	}
	return conn, bufio.NewReadWriter(bufio.NewReaderSize(conn, wsBufferSize), bufio.NewWriterSize(conn, wsBufferSize)), nil
}

// prefixConn reads what r gives: bytes read ahead, then the connection's.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func hasSubprotocol(r *http.Request, want string) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == want {
				return true
			}
		}
	}
	return false
}

// Close stops accepting connections. The core closes the connections
// themselves (app shutdown: core.CloseAll); Wait waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	lns := s.listeners
	for _, t := range s.wills {
		t.Stop()
	}
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
}

// Wait waits until every connection and accept loop has ended, or ctx.
// Connections that never got past CONNECT are cut when ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, cl := range s.mq.Clients.GetAll() {
			cl.Stop(packets.ErrServerShuttingDown)
		}
		_ = s.mq.Close() // the engine's event loop
		return ctx.Err()
	}
	return s.mq.Close()
}

// netConn gives the engine a connection whose writes time out, whose
// SetDeadline (the engine's keepalive) only moves the read deadline, and
// whose reads pass the packet guard (guard.go).
type netConn struct {
	net.Conn
	writeTimeout time.Duration
	ipKey        string       // the client address's rate-limit key
	guard        *packetGuard // reads c.Conn ahead of the engine
	mq           *mochi.Server
	// established is the engine's client once its CONNACK is written: from
	// then on an MQTT 5 client is told why the guard ends the connection.
	established atomic.Pointer[mochi.Client]
}

func (c *netConn) Read(b []byte) (int, error) {
	n, err := c.guard.Read(b)
	var code packets.Code
	if err != nil && errors.As(err, &code) {
		if cl := c.established.Load(); cl != nil && cl.Properties.ProtocolVersion == 5 {
			// DISCONNECT 0x95 (too large) or 0x81 (malformed) before the
			// close [MQTT-4.13.1-1]; the engine's read then fails.
			_ = c.mq.DisconnectClient(cl, code)
		}
	}
	return n, err
}

func (c *netConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.Conn.Write(b)
}

func (c *netConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// levelShift logs the engine's messages lower: its errors as warnings,
// everything else (warnings about a client's bad packet included) as
// debug lines. Packets are never logged.
type levelShift struct{ slog.Handler }

func shifted(l slog.Level) slog.Level {
	if l >= slog.LevelError {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (h levelShift) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, shifted(l))
}

func (h levelShift) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, shifted(r.Level), r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pk" && a.Key != "packet" {
			// Packets carry message payloads and passwords.
			out.AddAttrs(a)
		}
		return true
	})
	out.AddAttrs(slog.String("component", "mqtt-engine"))
	return h.Handler.Handle(ctx, out)
}

func (h levelShift) WithAttrs(a []slog.Attr) slog.Handler { return levelShift{h.Handler.WithAttrs(a)} }
func (h levelShift) WithGroup(n string) slog.Handler      { return levelShift{h.Handler.WithGroup(n)} }

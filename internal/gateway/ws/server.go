package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/internal/gateway/admit"
	"github.com/parley-im/parley/internal/ratelimit"
)

// Options configure the WebSocket gateway.
type Options struct {
	// AllowedOrigins lists the origins (scheme://host[:port]) browsers may
	// connect from; "*" allows any. A request without an Origin header (not
	// a browser) is always accepted.
	AllowedOrigins []string
	MaxFrameBytes  int64
	AuthDeadline   time.Duration
	PingInterval   time.Duration
	PongTimeout    time.Duration
	// MaxInflight bounds the sends of one connection waiting for commit.
	MaxInflight int
	// JSONMaxDepth bounds the nesting of objects and arrays in a frame.
	JSONMaxDepth int
	// MaxConsecutiveErrors is how many malformed request frames in a row
	// close the connection (1008). Zero means 10.
	MaxConsecutiveErrors int
	// PingRate is how many WebSocket pings per second a client may send on
	// average, PingBurst how many at once; one more closes the connection
	// (1008). Zero means 2 per second, 10 at once.
	PingRate  float64
	PingBurst int
	// Proxies are the trusted reverse proxies: behind one, the client
	// address (for the per-address limits and the logs) is taken from
	// X-Forwarded-For. nil: the TCP peer is the client.
	Proxies *ratelimit.Proxies
	// Conns admits new connections per client address (concurrent, rate,
	// flapping ban), refusing with 429 before the upgrade; shared with the
	// other connection gateways. nil: no per-address limits.
	Conns *ratelimit.IPGate
	// WriteTimeout bounds one write of frames held together (cork.Writer).
	// Zero means 10 seconds.
	WriteTimeout time.Duration
	// ServerVersion is reported in the hello reply.
	ServerVersion string
	Logger        *slog.Logger
}

// Server is an http.Handler that serves WebSocket connections.
type Server struct {
	core Core
	opt  Options
	log  *slog.Logger
	ctx  context.Context // cancelled when the gateway shuts down
	wg   sync.WaitGroup  // one per connection being served
}

// Wait waits until every connection has ended (its close handshake
// included) or ctx is done.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns the gateway on c (the roles in Core; the app passes its
// *core.Core). ctx ends every connection when it is cancelled.
func New(ctx context.Context, c Core, opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	if opt.MaxInflight <= 0 {
		opt.MaxInflight = 64
	}
	if opt.JSONMaxDepth <= 0 {
		opt.JSONMaxDepth = 32
	}
	if opt.MaxConsecutiveErrors <= 0 {
		opt.MaxConsecutiveErrors = 10
	}
	if opt.PingRate <= 0 {
		opt.PingRate = 2
	}
	if opt.PingBurst <= 0 {
		opt.PingBurst = 10
	}
	return &Server{core: c, opt: opt, log: opt.Logger, ctx: ctx}
}

// ServeHTTP upgrades the request and serves the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Counted from the start, not from the upgrade: the HTTP server's
	// Shutdown stops waiting for a request once it is hijacked, so an Add
	// after the upgrade could come after Wait began.
	s.wg.Add(1)
	handedOff := false // the session's goroutine has taken over wg and the admission
	defer func() {
		if !handedOff {
			s.wg.Done()
		}
	}()
	client := s.opt.Proxies.ClientIP(r)
	remote := ratelimit.String(client)
	if origin := r.Header.Get("Origin"); origin != "" && !admit.OriginAllowed(s.opt.AllowedOrigins, origin) {
		s.log.Warn("websocket origin refused", "origin", origin, "remote", remote)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" && hasToken(r.Header, "Upgrade", "websocket") {
		// RFC 6455 §4.4: name the version this server speaks.
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version: this server speaks version 13", http.StatusUpgradeRequired)
		return
	}
	release, err := s.opt.Conns.Admit(ratelimit.Key(client))
	if err != nil {
		s.refuseUpgrade(w, remote, err)
		return
	}
	defer func() {
		if !handedOff {
			release()
		}
	}()
	// The library reads the client's frames through a frameGuard.
	gw := &guardedWriter{ResponseWriter: w, opt: guardOptions{pingRate: s.opt.PingRate, pingBurst: float64(s.opt.PingBurst)},
		writeTimeout: s.opt.WriteTimeout}
	conn, err := websocket.Accept(gw, r, &websocket.AcceptOptions{
		// The origin was checked above against our own allow-list.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("websocket upgrade failed", "err", err, "remote", remote)
		return
	}
	conn.SetReadLimit(s.opt.MaxFrameBytes)
	sess := &session{srv: s, conn: conn, guard: gw.guard, cork: gw.cork, remote: remote, inflight: make(chan struct{}, s.opt.MaxInflight)}
	// The session runs on a goroutine of its own and the handler returns:
	// the HTTP server then drops its per-connection state (its 4 KiB read
	// buffer, the response's buffer, the request) and the handler's deep
	// stack, which a session inside the handler would keep for the
	// connection's whole life (docs/performance.md, b3). The session uses
	// the server's context, not the request's, which ends now.
	handedOff = true
	go func() {
		defer s.wg.Done()
		defer release()
		sess.serve()
	}()
}

// refuseUpgrade answers an upgrade refused by a per-address limit: 429 with
// Retry-After and the error body of the HTTP API, before any WebSocket
// exists. The refusal is counted; it is logged at debug level only (a
// flood would flood the log).
func (s *Server) refuseUpgrade(w http.ResponseWriter, remote string, err error) {
	var le *ratelimit.Error
	if errors.As(err, &le) {
		s.core.Metrics().RateLimited.WithLabelValues(le.Limit).Inc()
	}
	s.log.Debug("websocket upgrade refused", "remote", remote, "err", err)
	admit.WriteTooMany(w, err)
}

// hasToken reports whether a comma-separated header lists token
// (case-insensitively).
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

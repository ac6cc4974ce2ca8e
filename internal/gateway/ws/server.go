package ws

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/internal/core"
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
	// ServerVersion is reported in the hello reply.
	ServerVersion string
	Logger        *slog.Logger
}

// Server is an http.Handler that serves WebSocket connections.
type Server struct {
	core *core.Core
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

// New returns the gateway. ctx ends every connection when it is cancelled.
func New(ctx context.Context, c *core.Core, opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
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

func (s *Server) originAllowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	norm := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, o := range s.opt.AllowedOrigins {
		if o == "*" || strings.ToLower(strings.TrimSuffix(o, "/")) == norm {
			return true
		}
	}
	return false
}

// ServeHTTP upgrades the request and serves the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin) {
		s.log.Warn("websocket origin refused", "origin", origin, "remote", r.RemoteAddr)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" && hasToken(r.Header, "Upgrade", "websocket") {
		// RFC 6455 §4.4: name the version this server speaks.
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version: this server speaks version 13", http.StatusUpgradeRequired)
		return
	}
	// The library reads the client's frames through a frameGuard.
	gw := &guardedWriter{ResponseWriter: w, opt: guardOptions{pingRate: s.opt.PingRate, pingBurst: float64(s.opt.PingBurst)}}
	conn, err := websocket.Accept(gw, r, &websocket.AcceptOptions{
		// The origin was checked above against our own allow-list.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("websocket upgrade failed", "err", err, "remote", r.RemoteAddr)
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	conn.SetReadLimit(s.opt.MaxFrameBytes)
	sess := &session{srv: s, conn: conn, guard: gw.guard, remote: r.RemoteAddr, inflight: make(chan struct{}, s.opt.MaxInflight)}
	sess.serve()
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

package e2e

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/testinfra/sdkwait"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// adminKey is the admin key of test servers.
const adminKey = "test-admin-key-0123456789abcdef-0123"

// server is a Parley server started for one test.
type server struct {
	t   *testing.T
	app *app.App
	cfg config.Config
	URL string
}

// testConfig is a configuration with short waits for tests.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.MQTT.Addr = "127.0.0.1:0"
	cfg.Auth.AdminKey = adminKey
	cfg.Timeouts.AuthDeadline = 2 * time.Second
	cfg.Timeouts.PingInterval = 500 * time.Millisecond
	cfg.Timeouts.PongTimeout = 500 * time.Millisecond
	cfg.Timeouts.AckFlushInterval = 20 * time.Millisecond
	cfg.Timeouts.PresenceCoalesce = 50 * time.Millisecond
	cfg.Timeouts.LameDuck = 100 * time.Millisecond
	cfg.Timeouts.ShutdownGrace = 5 * time.Second
	return cfg
}

// slowPings makes the server ping every minute: for tests that hold a raw
// WebSocket (dialToken) without reading, which answers no ping meanwhile,
// so that the 500 ms pong timeout of testConfig cannot close it first on
// a loaded machine. Tests of heartbeats set their own timeouts.
func slowPings(c *config.Config) {
	c.Timeouts.PingInterval, c.Timeouts.PongTimeout = time.Minute, time.Minute
}

// startServer starts a server; mutate, if not nil, adjusts its config.
func startServer(t *testing.T, mutate func(*config.Config)) *server {
	t.Helper()
	cfg := testConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	return startWith(t, cfg)
}

func startWith(t *testing.T, cfg config.Config) *server {
	t.Helper()
	a, err := app.Start(context.Background(), cfg, testLogger())
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	s := &server{t: t, app: a, cfg: cfg, URL: "http://" + a.Addr()}
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.app.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// user creates a user with a password and returns its name.
func (s *server) user(name string) string {
	s.t.Helper()
	if _, err := s.app.Core().CreateUser(context.Background(), name, "password-"+name, ""); err != nil {
		s.t.Fatalf("create user %s: %v", name, err)
	}
	return name
}

// login signs a user in on a device and returns an API bound to the token.
func (s *server) login(name, device string) *parley.API {
	s.t.Helper()
	api := &parley.API{BaseURL: s.URL}
	tok, err := api.Login(ctxT(s.t), name, "password-"+name, device)
	if err != nil {
		s.t.Fatalf("login %s/%s: %v", name, device, err)
	}
	api.Token = tok.AccessToken
	return api
}

// dial connects an SDK client for a user's device.
func (s *server) dial(name, device string, mutate ...func(*parley.Options)) *parley.Client {
	s.t.Helper()
	api := s.login(name, device)
	opt := parley.Options{URL: s.URL, Token: api.Token, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond}
	for _, m := range mutate {
		m(&opt)
	}
	c, err := parley.Dial(ctxT(s.t), opt)
	if err != nil {
		s.t.Fatalf("dial %s/%s: %v", name, device, err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond every 10ms until it is true or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	sdkwait.Until(t, what, timeout, cond)
}

// recv reads n messages from c within the timeout.
func recv(t *testing.T, c *parley.Client, n int, timeout time.Duration) []protocol.Message {
	t.Helper()
	return sdkwait.Messages(t, c, n, timeout)
}

// noMessage checks that c receives no message for d.
func noMessage(t *testing.T, c *parley.Client, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("unexpected message: %+v", m)
	case <-time.After(d):
	}
}

// event waits for the first event of type typ matching match.
func event(t *testing.T, c *parley.Client, typ string, timeout time.Duration, match func(parley.Event) bool) parley.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("events channel closed waiting for %s", typ)
			}
			if e.Type == typ && (match == nil || match(e)) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", typ, timeout)
		}
	}
}

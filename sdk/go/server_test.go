package parley_test

// The SDK's tests run against a real server, started in-process for each
// test on a free loopback port with a temporary data directory, as the
// end-to-end tests (e2e/harness_test.go) do.

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// testAdminKey is the admin key of test servers.
const testAdminKey = "sdk-test-admin-key-0123456789abcdef-01"

// testServer is a Parley server started for one test.
type testServer struct {
	t   *testing.T
	app *app.App
	URL string
}

// startServer starts a server with short waits; mutate, if not nil,
// adjusts its configuration. It stops when the test ends.
func startServer(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.MQTT.Addr = ""
	cfg.Auth.AdminKey = testAdminKey
	cfg.Auth.PasswordWait = 20 * time.Second // several sign-ins at once on a loaded machine
	cfg.Timeouts.AckFlushInterval = 20 * time.Millisecond
	cfg.Timeouts.PresenceCoalesce = 50 * time.Millisecond
	cfg.Timeouts.LameDuck = 100 * time.Millisecond
	cfg.Timeouts.ShutdownGrace = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testServer{t: t, app: a, URL: "http://" + a.Addr()}
}

// ctxT is a context that ends with the test, or after 30 seconds.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// users creates users, each with the password "password-<name>".
func (s *testServer) users(names ...string) {
	s.t.Helper()
	for _, name := range names {
		if _, err := s.app.Core().CreateUser(context.Background(), name, "password-"+name, ""); err != nil {
			s.t.Fatalf("create user %s: %v", name, err)
		}
	}
}

// login signs a user in on a device and returns an API bound to the token.
func (s *testServer) login(name, device string) *parley.API {
	s.t.Helper()
	api := &parley.API{BaseURL: s.URL}
	tok, err := api.Login(ctxT(s.t), name, "password-"+name, device)
	if err != nil {
		s.t.Fatalf("login %s/%s: %v", name, device, err)
	}
	api.Token = tok.AccessToken
	return api
}

// dial connects a client for a user's device; it is closed when the test
// ends, if not before.
func (s *testServer) dial(name, device string) *parley.Client {
	s.t.Helper()
	api := s.login(name, device)
	c, err := parley.Dial(ctxT(s.t), parley.Options{URL: s.URL, Token: api.Token,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		s.t.Fatalf("dial %s/%s: %v", name, device, err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// admin returns an admin client of the server.
func (s *testServer) admin() *parley.Admin {
	return &parley.Admin{BaseURL: s.URL, Key: testAdminKey}
}

// resumed waits until c's resume has ended: from then on, messages reach
// it live (not from the store on resume).
func resumed(t *testing.T, c *parley.Client) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed before the resume ended")
			}
			if e.Type == protocol.TypeResumed {
				return
			}
		case <-deadline:
			t.Fatal("the resume did not end within 20s")
		}
	}
}

package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
)

func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.MQTT.Addr = "127.0.0.1:0"
	cfg.Timeouts.LameDuck = 10 * time.Millisecond
	cfg.Timeouts.ShutdownGrace = 5 * time.Second
	return cfg
}

var quiet = slog.New(slog.DiscardHandler)

func shutdown(t *testing.T, a *app.App) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Shutdown(ctx)
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartOnPortZero(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	a, err := app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	addr := a.Addr()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("Addr() = %q: %v", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p == 0 || host != "127.0.0.1" {
		t.Fatalf("Addr() = %q, want 127.0.0.1 and a real port", addr)
	}

	// It serves on that port.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}
	resp, err = client.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /readyz after Start: %d, want 200", resp.StatusCode)
	}

	var banner bytes.Buffer
	a.Banner(&banner)
	b := banner.String()
	for _, want := range []string{"http://" + addr, "parley user add", cfg.DataDir, "/v1/ws"} {
		if !strings.Contains(b, want) {
			t.Errorf("banner does not mention %q:\n%s", want, b)
		}
	}

	if err := shutdown(t, a); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := shutdown(t, a); err != nil {
		t.Errorf("second Shutdown: %v, want nil (idempotent)", err)
	}
	// The listener is closed.
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Shutdown", addr)
	}
}

func TestStartTwiceOnOneDataDir(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	a, err := app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Core().CreateUser(context.Background(), "alice", "pw", ""); err != nil {
		t.Fatal(err)
	}
	if err := shutdown(t, a); err != nil {
		t.Fatal(err)
	}
	// The store was closed and the signing key kept: a restart sees the user.
	a, err = app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer shutdown(t, a)
	if _, err := a.Store().User(context.Background(), "alice"); err != nil {
		t.Errorf("user after restart: %v", err)
	}
}

// openFDs counts this process's open file descriptors (Linux), or -1.
func openFDs() int {
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestStartFailsCleanlyWhenAddressTaken: Start on a taken address returns
// an error naming it and leaves nothing behind: no goroutine, no open file
// (store, listener), and the data directory can be used right away.
// Not parallel: it counts the process's goroutines and file descriptors.
func TestStartFailsCleanlyWhenAddressTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.HTTP.Addr = taken.Addr().String()

	// Warm up what a first Start initializes once per process (driver
	// registration, runtime pools) so that it does not count as a leak.
	if a, err := app.Start(context.Background(), testConfig(t), quiet); err == nil {
		shutdown(t, a)
	}
	goroutines, fds := runtime.NumGoroutine(), openFDs()
	start := time.Now()

	done := make(chan error, 1)
	go func() {
		a, err := app.Start(context.Background(), cfg, quiet)
		if err == nil {
			shutdown(t, a)
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Start on a taken address hung")
	}
	if err == nil {
		t.Fatal("Start succeeded on a taken address")
	}
	if !strings.Contains(err.Error(), cfg.HTTP.Addr) {
		t.Errorf("error %q does not name the address %s", err, cfg.HTTP.Addr)
	}

	waitFor(t, "goroutines to return to the baseline", 5*time.Second, func() bool {
		if runtime.NumGoroutine() <= goroutines {
			return true
		}
		if time.Since(start) > 4900*time.Millisecond {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Logf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), goroutines, b.String())
		}
		return false
	})
	if fds >= 0 {
		waitFor(t, "file descriptors to return to the baseline", 5*time.Second, func() bool { return openFDs() <= fds })
	}

	// The occupant of the address is undisturbed.
	go func() {
		if c, err := taken.Accept(); err == nil {
			c.Close()
		}
	}()
	conn, err := net.DialTimeout("tcp", cfg.HTTP.Addr, time.Second)
	if err != nil {
		t.Fatalf("the taken address no longer accepts: %v", err)
	}
	conn.Close()

	// The data directory is free: the store was closed.
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.MQTT.Addr = "127.0.0.1:0"
	a, err := app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("Start on the same data directory after the failure: %v", err)
	}
	if err := shutdown(t, a); err != nil {
		t.Error(err)
	}
}

func TestStartRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*config.Config)
		want   string
	}{
		{"zero message limit", func(c *config.Config) { c.Limits.MaxMessageBytes = 0 }, "invalid configuration"},
		{"unknown store", func(c *config.Config) { c.Store.Driver = "mongodb" }, "mongodb"},
		{"short signing key", func(c *config.Config) { c.Auth.SigningKey = "short" }, "signing_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			tt.mutate(&cfg)
			a, err := app.Start(context.Background(), cfg, quiet)
			if err == nil {
				shutdown(t, a)
				t.Fatal("Start accepted an invalid configuration")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestBannerMentionsDataDir: the hint to create the first user points at
// the server's own data directory, and a server without TLS says http.
func TestBannerMentionsDataDir(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	a, err := app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, a)
	var b bytes.Buffer
	a.Banner(&b)
	if !strings.Contains(b.String(), "--data-dir "+cfg.DataDir) {
		t.Errorf("the user add hint does not point at the data directory:\n%s", b.String())
	}
	if strings.Contains(b.String(), "https://") {
		t.Errorf("banner says https without TLS:\n%s", b.String())
	}
}

// TestPprofEndpoints: debug.pprof_addr serves the profiling endpoints on a
// listener of their own, never on the public one, and shutdown closes it.
func TestPprofEndpoints(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Debug.PprofAddr = "127.0.0.1:0"
	a, err := app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	addr := a.PprofAddr()
	get := func(url string) int {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			return 0
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	if code := get("http://" + addr + "/debug/pprof/heap"); code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/heap on %s: %d", addr, code)
	}
	if code := get("http://" + a.Addr() + "/debug/pprof/heap"); code != http.StatusNotFound {
		t.Fatalf("GET /debug/pprof/heap on the public listener: %d, want 404", code)
	}
	shutdown(t, a)
	if code := get("http://" + addr + "/debug/pprof/heap"); code != 0 {
		t.Fatalf("profiling endpoint still answers after shutdown: %d", code)
	}
}

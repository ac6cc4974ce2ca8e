package scenario

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
)

// pprofEnv makes a server serve its profiling endpoints on a free loopback
// port (debug.pprof_addr); proc.StartServer reads the address from its banner.
const pprofEnv = "PARLEY_DEBUG_PPROF_ADDR=127.0.0.1:0"

// serverEnv returns env plus what -profile-dir needs.
func (c *common) serverEnv(env ...string) []string {
	if c.profileDir != "" {
		env = append(env, pprofEnv)
	}
	return env
}

// profile takes a CPU profile of the server over d, starting now, into
// DIR/NAME.cpu.pprof, and when it ends a heap profile into
// DIR/NAME.heap.pprof. It returns at once; wait returns when both are
// saved. Without -profile-dir it does nothing.
func (c *common) profile(s *proc.Server, name string, d time.Duration) (wait func() error) {
	if c.profileDir == "" {
		return func() error { return nil }
	}
	if s.PprofURL == "" {
		return func() error {
			return fmt.Errorf("profile %s: the server did not announce its profiling endpoints", name)
		}
	}
	done := make(chan error, 1)
	go func() {
		secs := max(1, int(d.Round(time.Second)/time.Second))
		err := fetchProfile(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.PprofURL, secs), filepath.Join(c.profileDir, name+".cpu.pprof"), d+30*time.Second)
		if err == nil {
			err = fetchProfile(s.PprofURL+"/debug/pprof/heap", filepath.Join(c.profileDir, name+".heap.pprof"), 30*time.Second)
		}
		if err == nil {
			fmt.Printf("profiles: %s/%s.{cpu,heap}.pprof (go tool pprof -top %s %s)\n", c.profileDir, name, c.server, filepath.Join(c.profileDir, name+".cpu.pprof"))
		}
		done <- err
	}()
	return func() error { return <-done }
}

func fetchProfile(url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("profile %s: %s: %s", url, res.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(res.Body, 512<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

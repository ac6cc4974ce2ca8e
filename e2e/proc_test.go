package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// parleyBinary builds cmd/parley once per test run and returns its path.
func parleyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "parley")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/parley").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is the parley binary running as a child process.
type proc struct {
	t       *testing.T
	bin     string
	dataDir string
	env     []string
	addr    string // fixed after the first start, so clients reconnect to it
	cmd     *exec.Cmd
	exited  chan struct{}
	exit    int // exit code of the last process that ended
}

func newProc(t *testing.T, env ...string) *proc {
	p := &proc{t: t, bin: parleyBinary(t), dataDir: t.TempDir(), addr: "127.0.0.1:0", env: env}
	t.Cleanup(p.kill)
	return p
}

// run runs a one-shot CLI command on the data directory and returns stdout.
func (p *proc) run(args ...string) string {
	p.t.Helper()
	out, err := p.runErr(args...)
	if err != nil {
		p.t.Fatalf("parley %v: %v", args, err)
	}
	return out
}

// runErr is run returning the error (with stderr) instead of failing.
func (p *proc) runErr(args ...string) (string, error) {
	cmd := exec.Command(p.bin, append(args, "--data-dir", p.dataDir)...)
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

var listenRE = regexp.MustCompile(`listening on http://(\S+)`)

// start starts the server and waits until it listens. Retries a few times
// if the fixed port is briefly unavailable after a kill.
func (p *proc) start() {
	p.t.Helper()
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		if lastErr = p.tryStart(); lastErr == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("start parley: %v", lastErr)
}

func (p *proc) tryStart() error {
	cmd := exec.Command(p.bin, "serve", "--data-dir", p.dataDir, "--http-addr", p.addr, "--mqtt-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), p.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &syncWriter{w: &stderr}
	if f := os.Getenv("PARLEY_TEST_PROC_LOG"); f != "" {
		// Diagnostics: append the server's log to a file.
		if lf, err := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			cmd.Stderr = lf
			defer lf.Close()
		}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		p.exit = cmd.ProcessState.ExitCode()
		close(exited)
	}()
	select {
	case addr := <-found:
		p.addr, p.cmd, p.exited = addr, cmd, exited
		return nil
	case <-exited:
		return fmt.Errorf("exited at start: %s", stderr.String())
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("no listening line within 15s: %s", stderr.String())
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *proc) stop(ctx context.Context) error {
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		p.cmd = nil
		return nil
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("no graceful exit: %w", ctx.Err())
	}
}

func (p *proc) url() string { return "http://" + p.addr }

// lastExit is the exit code of the process that ended last (-1: killed).
func (p *proc) lastExit() int { return p.exit }

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.Len() > 64<<10 {
		return len(b), nil
	}
	return s.w.Write(b)
}

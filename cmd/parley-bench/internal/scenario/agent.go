package scenario

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
)

// More connections than one process may hold (RLIMIT_NOFILE, 20,000 on the
// reference machine) are held by agents: copies of parley-bench started as
// "parley-bench agent", each holding a share. The parent sends "open LO HI"
// lines on an agent's stdin; the agent opens those connections and answers
// "ok" or "err MESSAGE" on its stdout; when its stdin closes it closes its
// connections and exits. Agents inherit the parent's CPU pinning.

func init() {
	register(Scenario{"agent", "(started by b3) holds a share of the connections for the parley-bench that started it, when one process may not hold them all", runAgent})
}

// agentSecretEnv carries the token secret to an agent (not on its command line).
const agentSecretEnv = "PARLEY_BENCH_AGENT_SECRET"

// agentMaxLife bounds an agent whose parent never closes its stdin.
const agentMaxLife = 3 * time.Hour

func runAgent(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	var t b3Target
	fs.StringVar(&t.system, "system", "parley", "parley or mosquitto")
	fs.StringVar(&t.protocol, "protocol", "ws", "ws, mqtt or mqtt-ws")
	fs.StringVar(&t.addr, "addr", "", "WebSocket URL (ws), host:port (mqtt) or the /mqtt URL (mqtt-ws)")
	fs.IntVar(&t.conns, "conns", 0, "connections of the whole run (the index space the parent's LO HI refer to)")
	fs.IntVar(&t.perUser, "devices-per-user", 100, "connections (devices) per user")
	fs.IntVar(&t.concurrency, "dial-concurrency", 32, "connections being opened at once")
	fs.DurationVar(&t.keepalive, "keepalive", 60*time.Second, "MQTT keepalive")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.addr == "" || t.conns < 1 || t.perUser < 1 || t.concurrency < 1 {
		return errors.New("agent: -addr, -conns, -devices-per-user and -dial-concurrency are required")
	}
	if t.system == "parley" {
		secret := os.Getenv(agentSecretEnv)
		if secret == "" {
			return errors.New("agent: " + agentSecretEnv + " is not set")
		}
		t.ext = &auth.External{Secret: []byte(secret)}
	}
	if _, err := proc.RaiseNoFile(); err != nil {
		return fmt.Errorf("agent: raise RLIMIT_NOFILE: %w", err)
	}
	h, err := newB3Holder(t)
	if err != nil {
		return err
	}
	defer h.close()
	life := time.AfterFunc(agentMaxLife, func() {
		fmt.Fprintf(os.Stderr, "agent: still running after %s; exiting\n", agentMaxLife)
		h.close()
		os.Exit(3)
	})
	defer life.Stop()
	return serveAgent(os.Stdin, os.Stdout, h.open)
}

// serveAgent answers "open LO HI" lines from in on out until in ends.
func serveAgent(in io.Reader, out io.Writer, open func(ctx context.Context, lo, hi int) error) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var lo, hi int
		if _, err := fmt.Sscanf(sc.Text(), "open %d %d", &lo, &hi); err != nil {
			fmt.Fprintf(out, "err cannot parse %q\n", sc.Text())
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		err := open(ctx, lo, hi)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintln(out, "ok")
	}
	return sc.Err()
}

// agentPool is a parent's agents.
type agentPool struct {
	procs []*agentProc
}

type agentProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startAgents starts n agents for t.
func startAgents(n int, t b3Target) (*agentPool, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &agentPool{}
	for range n {
		cmd := exec.Command(self, "agent", "-system", t.system, "-protocol", t.protocol, "-addr", t.addr,
			"-conns", strconv.Itoa(t.conns), "-devices-per-user", strconv.Itoa(t.perUser),
			"-dial-concurrency", strconv.Itoa(t.concurrency), "-keepalive", t.keepalive.String())
		cmd.Env = os.Environ()
		if t.ext != nil {
			cmd.Env = append(cmd.Env, agentSecretEnv+"="+string(t.ext.Secret))
		}
		cmd.Stderr = os.Stderr
		// An agent whose parent dies is killed, not left holding connections.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		a, err := startAgent(cmd)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("start agent: %w", err)
		}
		p.procs = append(p.procs, a)
	}
	return p, nil
}

// startAgent starts cmd with pipes to its stdin and from its stdout.
func startAgent(cmd *exec.Cmd) (*agentProc, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &agentProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// open opens connections lo ≤ i < hi, split evenly over the agents, all at once.
func (p *agentPool) open(ctx context.Context, lo, hi int) error {
	n := len(p.procs)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k, a := range p.procs {
		from, to := lo+(hi-lo)*k/n, lo+(hi-lo)*(k+1)/n
		if from == to {
			continue
		}
		wg.Go(func() { errs[k] = a.open(from, to) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.close() // ends the agents' answers too
		<-done
		return ctx.Err()
	}
	return errors.Join(errs...)
}

func (a *agentProc) open(lo, hi int) error {
	if _, err := fmt.Fprintf(a.in, "open %d %d\n", lo, hi); err != nil {
		return fmt.Errorf("agent %d: %w", a.cmd.Process.Pid, err)
	}
	if !a.out.Scan() {
		return fmt.Errorf("agent %d ended: %v", a.cmd.Process.Pid, a.out.Err())
	}
	if line := a.out.Text(); line != "ok" {
		return fmt.Errorf("agent %d: %s", a.cmd.Process.Pid, strings.TrimPrefix(line, "err "))
	}
	return nil
}

// close closes the agents' stdin, so they close their connections and
// exit, and waits for them (killing any still running after a minute).
func (p *agentPool) close() {
	var wg sync.WaitGroup
	for _, a := range p.procs {
		a.in.Close()
		wg.Go(func() {
			t := time.AfterFunc(time.Minute, func() { _ = a.cmd.Process.Kill() })
			defer t.Stop()
			_ = a.cmd.Wait()
		})
	}
	wg.Wait()
	p.procs = nil
}

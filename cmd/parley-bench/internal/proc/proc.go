package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports (the kernel exports a fixed
// value to user space whatever CONFIG_HZ is).
const ClockTicks = 100

// PinnedEnv marks a harness process that was re-executed under taskset.
const PinnedEnv = "BENCH_PINNED_CPU" // not PARLEY_*: the server refuses unknown PARLEY_ variables

// PinSelf re-executes the harness under "taskset -c cpu" (once), so that the
// Go runtime starts with that one CPU and sets GOMAXPROCS to 1. It returns
// only if no re-execution is needed or possible; otherwise it exits with the
// child's status.
func PinSelf(cpu int) {
	if cpu < 0 || os.Getenv(PinnedEnv) != "" {
		return
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskset not found; the harness is not pinned")
		return
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot find own executable; the harness is not pinned:", err)
		return
	}
	cmd := exec.Command(ts, append([]string{"-c", strconv.Itoa(cpu), self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), PinnedEnv+"="+strconv.Itoa(cpu))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	default:
		fmt.Fprintln(os.Stderr, "re-exec under taskset failed:", err)
		os.Exit(1)
	}
}

// RaiseNoFile raises the soft RLIMIT_NOFILE to the hard limit; children
// (the server) inherit it. It returns the new soft limit.
func RaiseNoFile() (uint64, error) {
	return RaiseNoFileTo(0)
}

// RaiseNoFileTo raises RLIMIT_NOFILE to at least n, raising the hard limit
// too if it is lower (which needs privilege), and returns the new limit.
func RaiseNoFileTo(n uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = max(rl.Max, n)
	rl.Max = rl.Cur
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// CPU returns utime+stime of pid in clock ticks.
func CPU(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after the
	// closing parenthesis are space separated: state is field 3, utime 14,
	// stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return ut + st, nil
}

// Status returns a "kB" field (VmRSS, VmHWM, Threads...) of /proc/PID/status.
func Status(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				break
			}
			return strconv.ParseInt(fs[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", key, pid)
}

// SelfCPU is the harness's own user+system CPU time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MachineCPU returns the busy and total jiffies of all CPUs (/proc/stat),
// to tell how busy the machine was besides the server and the harness.
func MachineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// LoadAvg is the 1, 5 and 15 minute load average ("" if unknown).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Server is a running "parley serve" child process.
type Server struct {
	cmd     *exec.Cmd
	PID     int
	URL     string // http://ADDR
	dataDir string
	LogPath string
	done    chan error
	// PprofURL is http://ADDR of the profiling endpoints when the server
	// was started with PARLEY_DEBUG_PPROF_ADDR (see profile); "" if not.
	PprofURL string
}

// newerLimits are per-user limits that a load generator must lift too but
// that older servers do not have: each is set only for a binary whose
// `config default` lists its key, since a server refuses unknown PARLEY_
// variables (parley-bench compare runs servers built at older commits).
var newerLimits = []struct{ key, env string }{
	{"devices_per_user:", "PARLEY_LIMITS_DEVICES_PER_USER=1000000"},
	{"login_success_per_account_per_minute:", "PARLEY_RATE_LIMITS_LOGIN_SUCCESS_PER_ACCOUNT_PER_MINUTE=1000000"},
}

// liftNewerLimits returns the settings of newerLimits that bin knows.
func liftNewerLimits(bin string) []string {
	out, err := exec.Command(bin, "config", "default").Output()
	if err != nil {
		return nil
	}
	var env []string
	for _, l := range newerLimits {
		if bytes.Contains(out, []byte(l.key)) {
			env = append(env, l.env)
		}
	}
	return env
}

// StartServer runs "BIN serve" on a loopback port with dataDir, optionally
// under "taskset -c cpu", and waits for its "parley listening on" line.
func StartServer(bin, dataDir string, cpu int, env []string) (*Server, error) {
	args := []string{bin, "serve", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0"}
	if cpu >= 0 {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, errors.New("taskset not found (util-linux); use -cpu-server -1")
		}
		args = append([]string{ts, "-c", strconv.Itoa(cpu)}, args...)
	}
	logPath := dataDir + ".server.log"
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(),
		"PARLEY_LOG_LEVEL=warn",
		"PARLEY_MQTT_ADDR=127.0.0.1:0", // loopback only, whenever MQTT is served
		// A load generator is one address with many users and connections:
		// lift the per-user and per-address limits meant for real clients.
		"PARLEY_RATE_LIMITS_SENDS_PER_USER_PER_SECOND=1000000",
		"PARLEY_RATE_LIMITS_SEND_BURST=1000000",
		"PARLEY_RATE_LIMITS_CONNECTIONS_PER_USER=100000",
		"PARLEY_RATE_LIMITS_CONNECTIONS_PER_IP=1000000",
		"PARLEY_RATE_LIMITS_CONNECTS_PER_IP_PER_MINUTE=1000000",
		"PARLEY_RATE_LIMITS_FLAPPING_IP_CONNECTS_PER_MINUTE=1000000",
	)
	cmd.Env = append(cmd.Env, liftNewerLimits(bin)...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{cmd: cmd, PID: cmd.Process.Pid, dataDir: dataDir, LogPath: logPath, done: make(chan error, 1)}
	addr := make(chan string, 1)
	var pprofURL atomic.Value // the profiling line comes before the listening line
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "parley profiling on "); ok {
				pprofURL.Store(strings.TrimSuffix(strings.TrimSpace(rest), "/debug/pprof/"))
			}
			if rest, ok := strings.CutPrefix(line, "parley listening on "); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					select {
					case addr <- f[0]:
					default:
					}
				}
			}
			fmt.Fprintln(logf, line)
		}
		io.Copy(io.Discard, out)
	}()
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	select {
	case a := <-addr:
		s.URL = a
		s.PprofURL, _ = pprofURL.Load().(string)
	case err := <-s.done:
		return nil, fmt.Errorf("server exited before listening (%v); see %s", err, logPath)
	case <-time.After(30 * time.Second):
		s.Kill()
		return nil, fmt.Errorf("server did not print its address within 30s; see %s", logPath)
	}
	// taskset execs the server, so the pid is the server's own.
	return s, nil
}

// Stop sends SIGTERM and waits up to 20 s, then kills.
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(20 * time.Second):
		s.Kill()
		return errors.New("server did not stop within 20s after SIGTERM; killed")
	}
}

// StopOrLog stops the server and reports a failure on standard error (for
// defer).
func (s *Server) StopOrLog() {
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop server:", err)
	}
}

// Kill sends SIGKILL and waits up to 5 s for the process to end.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// Metrics scrapes the server's /metrics (Prometheus text format) into a map
// from "name" or "name{labels}" to value.
func (s *Server) Metrics(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
		if j := strings.IndexByte(line[:i], '{'); j > 0 && !strings.HasSuffix(line[:j], "_bucket") {
			// A labeled series also adds to its bare name: the total over
			// the labels (parley_connections over the protocols).
			m[line[:j]] += v
		}
	}
	return m, sc.Err()
}

// gomaxprocs asks the server's Go collector for GOMAXPROCS (0 if absent).
func GomaxprocsOf(m map[string]float64) int {
	for _, k := range []string{"go_sched_gomaxprocs_threads", "go_gomaxprocs"} {
		if v, ok := m[k]; ok {
			return int(v)
		}
	}
	return 0
}

// Machine describes where the measurement ran.
type Machine struct {
	Cores     int    `json:"cores"`
	CPUModel  string `json:"cpu_model"`
	MemTotal  string `json:"mem_total"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
}

// DescribeMachine reads the machine's cores, CPU model, memory and kernel.
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if n, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		m.Cores = countCPUs(strings.TrimSpace(string(n)))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		m.MemTotal = strings.Join(strings.Fields(strings.TrimPrefix(line, "MemTotal:")), " ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// countCPUs counts a CPU list such as "0-1" or "0,2-3".
func countCPUs(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if ok {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		n += b - a + 1
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// CheckNoFile raises RLIMIT_NOFILE and checks it covers need descriptors.
func CheckNoFile(need int) (uint64, error) {
	limit, err := RaiseNoFile()
	if err != nil {
		return 0, fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if limit < uint64(need)+256 {
		return limit, fmt.Errorf("RLIMIT_NOFILE hard limit %d is too low for %d connections", limit, need)
	}
	return limit, nil
}

package rabbittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testinfra/child"
)

// DefaultBinDir holds the scripts of Debian's rabbitmq-server package that
// run as the calling user (/usr/sbin/rabbitmq-server is a wrapper that
// switches to the rabbitmq user with su).
const DefaultBinDir = "/usr/lib/rabbitmq/bin"

// AdminUser is the administrator the harness creates on every broker.
const AdminUser = "parley-admin"

// Bounds of the waits that take no context from the caller.
const (
	mainStartTimeout = 2 * time.Minute
	ctlTimeout       = 30 * time.Second
	exitTimeout      = 20 * time.Second
	killTimeout      = 5 * time.Second
)

// Options configure a broker.
type Options struct {
	// Conf lines are appended to the harness's rabbitmq.conf (sysctl
	// format, "key = value").
	Conf []string
	// AuthHTTP, when set, is the base URL of a rabbitmq_auth_backend_http
	// service: the broker authenticates the administrator internally and
	// every other user by POSTing to AuthHTTP+"/user", "/vhost",
	// "/resource" and "/topic" (see AuthHTTPConf).
	AuthHTTP string
}

// AuthHTTPConf returns the rabbitmq.conf lines that make the broker try its
// internal user database first and then the HTTP auth backend at base
// (POST to base/user, base/vhost, base/resource, base/topic). Parley serves
// the backend at http://INTERNAL_ADDR/internal/rabbitmq.
func AuthHTTPConf(base string) []string {
	base = strings.TrimRight(base, "/")
	return []string{
		"auth_backends.1 = internal",
		"auth_backends.2 = http",
		"auth_http.http_method = post",
		"auth_http.user_path = " + base + "/user",
		"auth_http.vhost_path = " + base + "/vhost",
		"auth_http.resource_path = " + base + "/resource",
		"auth_http.topic_path = " + base + "/topic",
	}
}

// Server is a RabbitMQ node in a temporary directory.
type Server struct {
	node     string // name@localhost
	dir      string // temporary directory: HOME, rabbitmq.conf, mnesia/, log/...
	bindir   string
	port     int // AMQP
	distPort int // Erlang distribution
	password string
	cred     *syscall.Credential // the rabbitmq user's, when run as root; else nil
	env      []string

	mu        sync.Mutex      // serializes the lifecycle methods
	cmd       *exec.Cmd       // the start script while the broker runs; nil when stopped
	done      <-chan struct{} // closed when cmd has exited
	paused    bool
	startTime atomic.Int64 // duration of the last successful (re)start, ns
	stopped   atomic.Bool
	stopOnce  sync.Once
}

var nodeSeq atomic.Int64

// Main starts a broker for a test package with opts, stores it in *srv,
// runs the tests and stops the broker, returning the exit code for
// os.Exit. A broker that fails to start fails the package (exit code 1,
// the reason on stderr); it never skips.
func Main(m *testing.M, srv **Server, opts Options) int {
	return child.Main(m, srv, mainStartTimeout, "rabbittest could not start RabbitMQ",
		func(ctx context.Context) (*Server, error) { return Start(ctx, opts) })
}

// Start writes the configuration of a new node into a new temporary
// directory and starts it on free loopback ports, returning once it accepts
// AMQP connections and rabbitmqctl await_startup has succeeded. The context
// bounds the whole start (two minutes if it has no deadline). On failure
// nothing is left running and the directory is removed.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, mainStartTimeout)
		defer cancel()
	}
	bindir := os.Getenv("RABBITTEST_BINDIR")
	if bindir == "" {
		bindir = DefaultBinDir
	}
	for _, b := range []string{"rabbitmq-server", "rabbitmqctl"} {
		if err := child.CheckExecutable(filepath.Join(bindir, b)); err != nil {
			return nil, fmt.Errorf("rabbittest: RabbitMQ not found (%v): install it with "+
				"`apt-get install rabbitmq-server` (or set RABBITTEST_BINDIR to the directory of its rabbitmq-server and rabbitmqctl scripts)", err)
		}
	}
	if _, err := exec.LookPath("erl"); err != nil {
		return nil, fmt.Errorf("rabbittest: Erlang (erl) not found in PATH: install RabbitMQ with `apt-get install rabbitmq-server`")
	}
	cleanStale()

	s := &Server{
		bindir:   bindir,
		node:     fmt.Sprintf("rabbittest-%d-%d-%s@localhost", os.Getpid(), nodeSeq.Add(1), randomHex(3)),
		password: randomHex(16),
	}
	dir, err := os.MkdirTemp("", "rabbittest-")
	if err != nil {
		return nil, fmt.Errorf("rabbittest: %w", err)
	}
	s.dir = dir
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	if err := s.writeFiles(opts); err != nil {
		return nil, fmt.Errorf("rabbittest: %w", err)
	}
	if os.Geteuid() == 0 {
		// rabbitmq-server started as root drops to the rabbitmq user
		// (through su); run it as that user directly, on a directory it
		// owns.
		cred, uid, gid, err := child.Credential("rabbitmq")
		if err != nil {
			return nil, fmt.Errorf("rabbittest: running as root needs the rabbitmq user (from `apt-get install rabbitmq-server`): %w", err)
		}
		s.cred = cred
		if err := chownTree(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("rabbittest: %w", err)
		}
	}
	// The ports are free when picked, but another process may take one
	// before the node binds it: then try others.
	for attempt := 1; ; attempt++ {
		ports, err := child.FreePorts(2)
		if err != nil {
			return nil, fmt.Errorf("rabbittest: %w", err)
		}
		s.port, s.distPort = ports[0], ports[1]
		s.env = s.environ()
		err = s.start(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return nil, err
		}
		// A node that failed to start leaves a half-made Mnesia directory.
		_ = os.RemoveAll(filepath.Join(dir, "mnesia"))
		_ = os.Mkdir(filepath.Join(dir, "mnesia"), 0o755)
		if s.cred != nil {
			_ = os.Chown(filepath.Join(dir, "mnesia"), int(s.cred.Uid), int(s.cred.Gid))
		}
	}
	ok = true
	return s, nil
}

var errPortTaken = errors.New("port taken")

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeFiles writes the node's configuration, plugin list, cookie and
// directories into s.dir.
func (s *Server) writeFiles(opts Options) error {
	for _, d := range []string{"mnesia", "log", "plugins-expand", "quorum", "stream"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	conf := []string{
		"# written by internal/testinfra/rabbittest",
		"default_vhost = /",
		"default_user = " + AdminUser,
		"default_pass = " + s.password,
		"default_user_tags.administrator = true",
		"default_permissions.configure = .*",
		"default_permissions.read = .*",
		"default_permissions.write = .*",
		// A test machine's /tmp may be small: do not block publishers
		// at the default 50 MB of free disk.
		"disk_free_limit.absolute = 8MB",
		"log.file.level = info",
		"log.console = false",
	}
	if opts.AuthHTTP != "" {
		conf = append(conf, AuthHTTPConf(opts.AuthHTTP)...)
	}
	conf = append(conf, opts.Conf...)
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"rabbitmq.conf", strings.Join(conf, "\n") + "\n", 0o644},
		{"enabled_plugins", "[rabbitmq_auth_backend_http].\n", 0o644},
		// Nothing from /etc/rabbitmq/rabbitmq-env.conf.
		{"rabbitmq-env.conf", "", 0o644},
		// The node's and rabbitmqctl's cookie (HOME is s.dir), made here
		// so that neither races to create it.
		{".erlang.cookie", strings.ToUpper(randomHex(16)), 0o400},
		// Lets cleanStale recognize a directory whose test binary died.
		{"owner", strconv.Itoa(os.Getpid()), 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(s.dir, f.name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// environ is the environment of the start script and rabbitmqctl: the
// RABBITMQ_* variables put everything the node writes into s.dir.
func (s *Server) environ() []string {
	d := s.dir
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + d,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"RABBITMQ_NODENAME=" + s.node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(s.port),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(s.distPort),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(d, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(d, "rabbitmq"), // without .conf
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(d, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(d, "enabled_plugins"),
		"RABBITMQ_FEATURE_FLAGS_FILE=" + filepath.Join(d, "feature_flags"),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(d, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(d, "log"),
		"RABBITMQ_PID_FILE=" + filepath.Join(d, "pid"),
		"RABBITMQ_PLUGINS_EXPAND_DIR=" + filepath.Join(d, "plugins-expand"),
		"RABBITMQ_QUORUM_DIR=" + filepath.Join(d, "quorum"),
		"RABBITMQ_STREAM_DIR=" + filepath.Join(d, "stream"),
	}
}

// command returns a command of bindir run as the broker's user in s.dir,
// sent SIGTERM when this process dies.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, filepath.Join(s.bindir, name), args...)
		cmd.WaitDelay = 5 * time.Second
	} else {
		cmd = exec.Command(filepath.Join(s.bindir, name), args...)
	}
	cmd.Dir = s.dir
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		Setpgid:    true,
		// SIGTERM, not SIGKILL: the start script traps it and stops the
		// VM, which a SIGKILL of the script would leave running.
		Pdeathsig: syscall.SIGTERM,
	}
	return cmd
}

// Ctl runs rabbitmqctl -n NODE args (for example "list_queues" or
// "close_all_connections", "test") as the broker's user, bounded by ctx and
// 30 seconds, and returns its combined output.
func (s *Server) Ctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	cmd := s.command(ctx, "rabbitmqctl", append([]string{"-n", s.node}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl %s: %v%s\n%s", strings.Join(args, " "), err, child.CtxNote(ctx), out)
	}
	return string(out), nil
}

// start starts the node and waits until it has booted. s.mu is held or s
// is not yet shared.
func (s *Server) start(ctx context.Context) error {
	t0 := time.Now()
	_ = os.Remove(filepath.Join(s.dir, "pid"))
	out, err := os.OpenFile(s.outPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	defer out.Close()
	// Not a CommandContext: the broker outlives Start's context.
	cmd := s.command(nil, "rabbitmq-server")
	cmd.Stdout = out
	cmd.Stderr = out
	done, err := child.Start(cmd)
	if err != nil {
		return fmt.Errorf("rabbittest: start rabbitmq-server: %w", err)
	}
	s.cmd, s.done, s.paused = cmd, done, false

	fail := func(err error) error {
		s.kill()
		if strings.Contains(s.Log(), "eaddrinuse") {
			return fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return err
	}
	// Wait for the AMQP listener, which opens at the end of the boot,
	// polling with cheap TCP connects rather than rabbitmqctl (a second
	// of CPU per call); then confirm with rabbitmqctl await_startup.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return fail(fmt.Errorf("rabbittest: rabbitmq-server exited during start (%v); log:\n%s", cmd.ProcessState, s.Log()))
		case <-ctx.Done():
			return fail(fmt.Errorf("rabbittest: RabbitMQ did not accept connections on port %d: %w; log:\n%s", s.port, ctx.Err(), s.Log()))
		case <-tick.C:
		}
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			break
		}
	}
	if _, err := s.Ctl(ctx, "await_startup", "--timeout", "60"); err != nil {
		return fail(fmt.Errorf("rabbittest: %w; log:\n%s", err, s.Log()))
	}
	s.startTime.Store(int64(time.Since(t0)))
	return nil
}

// stop stops a running node with rabbitmqctl stop, then with signals to
// its process group. s.mu is held.
func (s *Server) stop() error {
	if s.cmd == nil {
		return nil
	}
	if s.paused {
		s.signalVM(syscall.SIGCONT)
		s.paused = false
	}
	if _, err := s.Ctl(context.Background(), "stop"); err != nil {
		s.kill()
		return fmt.Errorf("rabbittest: stop %s: %w; killed", s.node, err)
	}
	select {
	case <-s.done:
		s.cmd, s.done = nil, nil
		return nil
	case <-time.After(exitTimeout):
	}
	s.kill()
	return fmt.Errorf("rabbittest: %s did not exit within %v of rabbitmqctl stop; killed", s.node, exitTimeout)
}

// kill ends the start script and the VM: SIGTERM to the process group (the
// script stops the VM), then SIGKILL. epmd, daemonized into a session of
// its own, is not in the group. s.mu is held.
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	pgid := s.cmd.Process.Pid // Setpgid: the script leads its group
	s.signalVM(syscall.SIGCONT)
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(exitTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-s.done:
		case <-time.After(killTimeout):
			fmt.Fprintf(os.Stderr, "rabbittest: rabbitmq-server (pid %d) did not exit after SIGKILL\n", pgid)
		}
	}
	// The VM may outlive the script when the script was killed first.
	if pid := s.vmPid(); pid > 0 && isVM(pid, s.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, killTimeout)
	}
	s.cmd, s.done, s.paused = nil, nil, false
}

// vmPid is the Erlang VM's OS pid from the node's pid file, or 0.
func (s *Server) vmPid() int {
	b, err := os.ReadFile(filepath.Join(s.dir, "pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

func (s *Server) signalVM(sig syscall.Signal) error {
	pid := s.vmPid()
	if pid <= 0 || !isVM(pid, s.dir) {
		return fmt.Errorf("rabbittest: no running VM for %s", s.node)
	}
	return syscall.Kill(pid, sig)
}

// isVM tells whether pid is a beam process of the node in dir.
func isVM(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmdline, []byte("beam")) && bytes.Contains(cmdline, []byte(dir))
}

func (s *Server) outPath() string { return filepath.Join(s.dir, "server.out") }

// Log returns the tail of the start script's output and of the node's log
// (for a test that wants to show it).
func (s *Server) Log() string {
	var b strings.Builder
	for _, p := range []string{s.outPath(), filepath.Join(s.dir, "log", s.node+".log")} {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(&b, "(no %s: %v)\n", filepath.Base(p), err)
			continue
		}
		const max = 8 << 10
		if len(data) > max {
			data = append([]byte("...\n"), data[len(data)-max:]...)
		}
		fmt.Fprintf(&b, "== %s ==\n%s\n", filepath.Base(p), data)
	}
	return b.String()
}

// Node is the node's name, name@localhost (for rabbitmqctl -n).
func (s *Server) Node() string { return s.node }

// Port is the AMQP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Addr is the AMQP listener's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Password is AdminUser's password.
func (s *Server) Password() string { return s.password }

// URL is an amqp:// URL of the vhost "/" as AdminUser.
func (s *Server) URL() string {
	return s.UserURL(AdminUser, s.password)
}

// UserURL is an amqp:// URL of the vhost "/" as user with password (for
// users the HTTP auth backend admits).
func (s *Server) UserURL(user, password string) string {
	u := url.URL{Scheme: "amqp", User: url.UserPassword(user, password), Host: s.Addr(), Path: "/"}
	return u.String()
}

// StartupTime is how long the last Start or StartBroker took, until
// await_startup succeeded.
func (s *Server) StartupTime() time.Duration { return time.Duration(s.startTime.Load()) }

// StopBroker stops the node (rabbitmqctl stop; SIGTERM, then SIGKILL after
// 20 seconds) and keeps its directory, for StartBroker. A paused broker is
// resumed first. Stopping a stopped broker does nothing.
func (s *Server) StopBroker() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return errors.New("rabbittest: StopBroker after Stop")
	}
	return s.stop()
}

// StartBroker starts a broker that StopBroker stopped (or that died), with
// the same node name, ports and data directory, and returns once it has
// booted (bounded by ctx). If another process took one of the ports
// meanwhile, it fails. Starting a running broker does nothing.
func (s *Server) StartBroker(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return errors.New("rabbittest: StartBroker after Stop")
	}
	if s.cmd != nil {
		select {
		case <-s.done: // it died by itself: start it again
			s.cmd, s.done = nil, nil
		default:
			return nil
		}
	}
	return s.start(ctx)
}

// Pause freezes the broker's Erlang VM with SIGSTOP: its sockets stay
// open, the kernel still accepts TCP connections, and nothing is answered
// until Resume. Stop and StopBroker resume it first.
func (s *Server) Pause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("rabbittest: Pause of a stopped broker")
	}
	if err := s.signalVM(syscall.SIGSTOP); err != nil {
		return err
	}
	s.paused = true
	return nil
}

// Resume continues a broker that Pause froze.
func (s *Server) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("rabbittest: Resume of a stopped broker")
	}
	if err := s.signalVM(syscall.SIGCONT); err != nil {
		return err
	}
	s.paused = false
	return nil
}

// Stop stops the broker and removes its directory. Safe to call more than
// once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stopped.Store(true)
		if err := s.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		if s.dir != "" {
			if err := os.RemoveAll(s.dir); err != nil {
				fmt.Fprintf(os.Stderr, "rabbittest: remove %s: %v\n", s.dir, err)
			}
		}
	})
}

// cleanStale removes the directories of brokers whose test binary died
// without stopping them (killed by go test -timeout or a signal): their
// owner process is gone. A VM still running there (its script's
// parent-death signal lost or ignored) is killed.
func cleanStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "rabbittest-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			// Being created now, or not ours: only an old one is stale.
			fi, err := os.Stat(dir)
			if err != nil || time.Since(fi.ModTime()) < 10*time.Minute {
				continue
			}
		} else if pid, err := strconv.Atoi(string(b)); err != nil || alive(pid) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) && isVM(pid, dir) {
				_ = syscall.Kill(pid, syscall.SIGCONT)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				waitGone(pid, killTimeout)
			}
		}
		_ = os.RemoveAll(dir)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func waitGone(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

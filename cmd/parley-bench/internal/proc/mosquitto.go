package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Broker is a Mosquitto process started by the bench as the MQTT peer: on
// a loopback port, anonymous, with persistence off (Mosquitto's default:
// it stores nothing before PUBACK, while Parley commits every message), and
// without limits on queued or in-flight messages so that it drops nothing
// a Parley run would deliver.
type Broker struct {
	cmd     *exec.Cmd
	PID     int
	Addr    string // 127.0.0.1:PORT
	logPath string
	done    chan error
}

// mosquittoConf is the broker's configuration; %d is the port.
const mosquittoConf = `# written by parley-bench
listener %d 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
`

// FindMosquitto returns the broker's path: bin if set, else mosquitto on
// PATH or in /usr/sbin (Debian's package puts it there).
func FindMosquitto(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", errors.New("mosquitto not found (Debian package mosquitto); -mosquitto PATH, or -peers none")
}

// StartMosquitto runs the broker bin with its configuration in dir, under
// "taskset -c cpu" unless cpu < 0, and waits until it accepts connections.
func StartMosquitto(bin, dir string, cpu int) (*Broker, error) {
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		b, err := tryMosquitto(bin, dir, cpu, port)
		if err == nil {
			return b, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryMosquitto(bin, dir string, cpu, port int) (*Broker, error) {
	conf := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.conf", port))
	if err := os.WriteFile(conf, fmt.Appendf(nil, mosquittoConf, port), 0o644); err != nil {
		return nil, err
	}
	args := []string{bin, "-c", conf}
	if cpu >= 0 {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, errors.New("taskset not found (util-linux); use -cpu-server -1")
		}
		args = append([]string{ts, "-c", strconv.Itoa(cpu)}, args...)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.log", port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	b := &Broker{cmd: cmd, PID: cmd.Process.Pid, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), logPath: logPath, done: make(chan error, 1)}
	go func() { b.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case werr := <-b.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("mosquitto exited (%v): %s", werr, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("mosquitto did not accept connections on %s within 10s; see %s", b.Addr, logPath)
		}
	}
}

// Stop ends the broker (SIGTERM, then SIGKILL after 10 s).
func (b *Broker) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

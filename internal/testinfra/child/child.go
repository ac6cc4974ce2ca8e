package child

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Start starts cmd, whose SysProcAttr sets a parent-death signal, and
// returns a channel closed when it has exited. The parent-death signal is
// sent when the thread that forked the child exits, not the process
// (go.dev/issue/27505), so the fork happens on a goroutine that keeps its
// thread until the child has exited.
func Start(cmd *exec.Cmd) (done <-chan struct{}, err error) {
	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// CheckExecutable reports why p is not an executable file, if it is not.
func CheckExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable", p)
	}
	return nil
}

// CtxNote is " (the context's error)" once ctx has ended, else "": for
// the message of a command that failed, which may have failed because of it.
func CtxNote(ctx context.Context) string {
	if ctx.Err() != nil {
		return " (" + ctx.Err().Error() + ")"
	}
	return ""
}

// FreePorts returns n distinct TCP ports free on 127.0.0.1 at the time of
// the call (another process may take one before the caller listens on it:
// callers retry a start that finds its port taken).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Credential returns the credential that runs a child as the system user
// name (whose uid and gid it also returns), for servers that refuse to
// run as root.
func Credential(name string) (cred *syscall.Credential, uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, 0, 0, err
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	group, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(id), Gid: uint32(group), NoSetGroups: true}, int(id), int(group), nil
}

// Main is a test package's TestMain body around one server: it starts the
// server with start, bounded by timeout, stores it in *srv, runs the tests
// and stops the server, returning the exit code for os.Exit. A server
// that fails to start fails the package (exit code 1, the reason and
// failure on stderr); it never skips.
func Main[S interface{ Stop() }](m *testing.M, srv *S, timeout time.Duration, failure string, start func(context.Context) (S, error)) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	s, err := start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "FAIL: "+failure)
		return 1
	}
	defer s.Stop()
	*srv = s
	return m.Run()
}

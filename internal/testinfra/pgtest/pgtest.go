package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"github.com/jackc/pgx/v5"

	"github.com/parley-im/parley/internal/testinfra/child"
)

// DefaultBinDir holds Debian's PostgreSQL 15 server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// User is the superuser of the server, reached without a password.
const User = "parley"

// Bounds of the waits that take no context from the caller.
const (
	mainStartTimeout = 2 * time.Minute
	dbTimeout        = 60 * time.Second
	stopTimeout      = 15 * time.Second
	killTimeout      = 5 * time.Second
)

// Server is a running PostgreSQL server in a temporary directory.
type Server struct {
	dir    string // temporary directory: data/, log, owner
	bindir string
	port   int
	cred   *syscall.Credential // the postgres user's, when run as root; else nil
	icu    bool                // databases get an ICU en-US default collation

	cmd  *exec.Cmd
	done <-chan struct{} // closed when postgres has exited

	seq      atomic.Int64
	stopped  atomic.Bool
	stopOnce sync.Once
}

// Main starts a server for a test package, stores it in *srv, runs the
// tests and stops the server, returning the exit code for os.Exit. A
// server that fails to start fails the package (exit code 1, the reason on
// stderr); it never skips.
func Main(m *testing.M, srv **Server) int {
	return child.Main(m, srv, mainStartTimeout, "pgtest could not start PostgreSQL", Start)
}

// Start runs initdb in a new temporary directory and starts postgres on a
// free loopback port, returning once it accepts connections. The context
// bounds the whole start (a minute if it has no deadline). On failure
// nothing is left running and the directory is removed.
func Start(ctx context.Context) (*Server, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	bindir := os.Getenv("PGTEST_BINDIR")
	if bindir == "" {
		bindir = DefaultBinDir
	}
	for _, b := range []string{"initdb", "postgres"} {
		if err := child.CheckExecutable(filepath.Join(bindir, b)); err != nil {
			return nil, fmt.Errorf("pgtest: PostgreSQL 15 server binaries not found (%v): "+
				"install them with `apt-get install postgresql` (or set PGTEST_BINDIR to a directory holding initdb and postgres)", err)
		}
	}
	cleanStale()

	s := &Server{bindir: bindir}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s.dir = dir
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse root: they run as postgres, on a
		// directory it owns.
		cred, uid, gid, err := child.Credential("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs the postgres user (from `apt-get install postgresql`): %w", err)
		}
		s.cred = cred
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	// The port is free when picked, but another process may take it before
	// postgres binds it: then try another.
	for attempt := 1; ; attempt++ {
		err := s.start(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			return nil, err
		}
	}
	if err := s.probeICU(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

var errPortTaken = errors.New("port taken")

// command returns a command of bindir run as the server's user, killed when
// this process dies.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bindir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TZ=UTC", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	cmd := s.command(ctx, "initdb", "-D", s.dataDir(), "-A", "trust", "-U", User,
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %v%s\n%s", err, child.CtxNote(ctx), out)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "log") }

// start starts postgres on a free port and waits until it accepts
// connections.
func (s *Server) start(ctx context.Context) error {
	ports, err := child.FreePorts(1)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	port := ports[0]
	logf, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	// The server outlives Start's context.
	cmd := s.command(context.Background(), "postgres", "-D", s.dataDir(), "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "log_min_messages=warning",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	done, err := child.Start(cmd)
	if err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd, s.done, s.port = cmd, done, port

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			log := s.Log()
			s.cmd, s.done = nil, nil
			if strings.Contains(log, "could not bind") || strings.Contains(log, "already in use") {
				return errPortTaken
			}
			return fmt.Errorf("pgtest: postgres exited during start (%v); log:\n%s", cmd.ProcessState, log)
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres did not accept connections on port %d: %w; log:\n%s", port, ctx.Err(), s.Log())
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pctx, s.DSN("postgres"))
		if err == nil {
			conn.Close(pctx)
			cancel()
			return nil
		}
		cancel()
	}
}

// probeICU finds out whether the server can make databases with an ICU
// collation (Debian's is built with ICU).
func (s *Server) probeICU(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_collation WHERE collprovider = 'i' AND collname = 'en-x-icu'").Scan(&n); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	s.icu = n > 0
	if !s.icu {
		fmt.Fprintln(os.Stderr, "pgtest: this PostgreSQL has no ICU; databases sort text in byte order (C), unlike a production server")
	}
	return nil
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DSN is the connection string of database db as the superuser User.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.port, db)
}

// Log returns the server's log so far (for a test that wants to show it).
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 16 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(b)
}

// Stop shuts the server down (fast mode, then SIGKILL if it has not exited
// within 15 seconds) and removes its directory. Safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.stopped.Store(true)
		if s.cmd != nil {
			_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
			select {
			case <-s.done:
			case <-time.After(stopTimeout):
				_ = s.cmd.Process.Kill()
				select {
				case <-s.done:
				case <-time.After(killTimeout):
					fmt.Fprintf(os.Stderr, "pgtest: postgres (pid %d) did not exit after SIGKILL\n", s.cmd.Process.Pid)
				}
			}
		}
		if s.dir != "" {
			if err := os.RemoveAll(s.dir); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: remove %s: %v\n", s.dir, err)
			}
		}
	})
}

// NewDatabase creates a fresh, empty database (from template0, with an ICU
// en-US default collation) and returns its DSN. The database is dropped
// when t ends, with any connections still open to it.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.newDatabase(t, "")
}

// NewDatabaseFrom is NewDatabase cloning a template that CreateTemplate
// made.
func (s *Server) NewDatabaseFrom(t testing.TB, template string) string {
	t.Helper()
	return s.newDatabase(t, template)
}

func (s *Server) newDatabase(t testing.TB, template string) string {
	t.Helper()
	if s.stopped.Load() {
		t.Fatal("pgtest: NewDatabase after Stop")
	}
	name := s.dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	if err := s.create(ctx, name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if s.stopped.Load() {
			return // gone with the server
		}
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		if err := s.admin(ctx, "DROP DATABASE IF EXISTS "+quote(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

// dbName makes a unique database name that shows the test's.
func (s *Server) dbName(test string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", s.seq.Add(1))
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 60 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (s *Server) create(ctx context.Context, name, template string) error {
	q := "CREATE DATABASE " + quote(name)
	if template != "" {
		q += " TEMPLATE " + quote(template)
	} else {
		q += " TEMPLATE template0 ENCODING 'UTF8'"
		if s.icu {
			q += " LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
		}
	}
	// FILE_COPY (two checkpoints, cheap without fsync) measured faster here
	// than PostgreSQL 15's default WAL_LOG, which writes the whole template
	// to the WAL: about 140 ms against 220 ms from template0.
	q += " STRATEGY FILE_COPY"
	if err := s.admin(ctx, q); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// CreateTemplate creates database name as NewDatabase would, runs init on
// it (a schema to migrate, say), then makes it a template that
// NewDatabaseFrom clones. init's connections must be closed when it
// returns (any left are terminated). Call it once per name, in TestMain or
// under a sync.Once; the template goes with the server.
func (s *Server) CreateTemplate(ctx context.Context, name string, init func(ctx context.Context, dsn string) error) error {
	if err := s.create(ctx, name, ""); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := init(ctx, s.DSN(name)); err != nil {
		return fmt.Errorf("pgtest: template %s: %w", name, err)
	}
	// Cloning needs the template without connections.
	if err := s.admin(ctx, "ALTER DATABASE "+quote(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("pgtest: template %s: %w", name, err)
	}
	if err := s.admin(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		return fmt.Errorf("pgtest: template %s: %w", name, err)
	}
	return nil
}

// admin runs one statement on the postgres database, on a connection of
// its own (so that parallel tests wait for nothing but the server).
func (s *Server) admin(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// cleanStale removes the directories of servers whose test binary died
// without stopping them (killed by go test -timeout or a signal): their
// owner process is gone. A postmaster still running there (its
// parent-death signal lost) is killed, and the shared memory segment a
// killed postmaster leaves is removed.
func cleanStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*"))
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
		data := filepath.Join(dir, "data")
		if pm, err := os.ReadFile(filepath.Join(data, "postmaster.pid")); err == nil {
			lines := strings.Split(string(pm), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(lines[0])); err == nil && alive(pid) {
				if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil &&
					bytes.Contains(cmdline, []byte(data)) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					waitGone(pid, 5*time.Second)
				}
			}
			if len(lines) > 6 {
				removeShm(strings.Fields(lines[6]))
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

// removeShm removes the System V segment (key, id) of a postmaster.pid if
// it still exists with that key and nothing attached.
func removeShm(f []string) {
	if len(f) != 2 {
		return
	}
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// key shmid perms size cpid lpid nattch ...
		g := strings.Fields(line)
		if len(g) < 7 || g[0] != f[0] || g[1] != f[1] || g[6] != "0" {
			continue
		}
		if id, err := strconv.Atoi(g[1]); err == nil {
			const ipcRMID = 0
			_, _, _ = syscall.Syscall(syscall.SYS_SHMCTL, uintptr(id), ipcRMID, 0)
		}
	}
}

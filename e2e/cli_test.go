package e2e

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	parley "github.com/parley-im/parley/sdk/go"
)

// parley runs the binary at bin with args (no --data-dir added) and
// returns its standard output, failing the test on an error.
func parleyCmd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("parley %v: %v: %s", args, err, ee.Stderr)
		}
		t.Fatalf("parley %v: %v", args, err)
	}
	return string(out)
}

// `parley version` names the version set at build time with -ldflags and
// the commit the binary was built from, as Go stamps it in a checkout
// (-buildvcs; the readBuild unit test covers the other combinations).
func TestVersionIsStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: skipped with -short")
	}
	t.Parallel()
	if err := exec.Command("git", "rev-parse", "HEAD").Run(); err != nil {
		t.Skipf("no git checkout that git can read (%v): Go stamps no commit", err)
	}
	bin := filepath.Join(t.TempDir(), "parley")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin,
		"-ldflags", "-X github.com/parley-im/parley/internal/app.Version=v9.8.7-test", "../cmd/parley")
	build.Env = os.Environ()
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	out := parleyCmd(t, bin, "version")
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	rev := regexp.MustCompile(`vcs\.revision=([0-9a-f]{12})`).FindSubmatch(info)
	if rev == nil {
		// Go stamps nothing in some checkouts (a linked git worktree).
		if !strings.HasPrefix(out, "parley v9.8.7-test") {
			t.Errorf("parley version printed %q, want v9.8.7-test", out)
		}
		t.Skipf("go build stamped no commit here:\n%s", info)
	}
	if !regexp.MustCompile(`^parley v9\.8\.7-test \(commit ` + string(rev[1]) + `(\+modified)?, `).MatchString(out) {
		t.Errorf("parley version printed %q, want v9.8.7-test and commit %s", out, rev[1])
	}
}

// banner runs `parley serve` on p's data directory, stops it (SIGTERM)
// once it has printed its banner and returns its standard output.
func banner(t *testing.T, p *proc) string {
	t.Helper()
	cmd := exec.Command(p.bin, "serve", "--data-dir", p.dataDir, "--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), p.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "data directory:") {
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		out <- b.String()
	}()
	select {
	case s := <-out:
		_ = cmd.Wait()
		return s
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no banner within 30s: %s", <-out)
		return ""
	}
}

// The banner tells how to create the first user only while there is none,
// and says where MQTT listens.
func TestBannerFirstUserHint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	p := newProc(t, "PARLEY_LOG_LEVEL=warn", "PARLEY_TIMEOUTS_LAME_DUCK=10ms")
	b := banner(t, p)
	if !strings.Contains(b, "create the first user") || !strings.Contains(b, "mqtt://127.0.0.1:") {
		t.Errorf("banner of a server without users:\n%s", b)
	}
	p.run("user", "add", "alice", "--password", "password-alice")
	if b := banner(t, p); strings.Contains(b, "first user") || !strings.Contains(b, "listening on") {
		t.Errorf("banner of a server with a user:\n%s", b)
	}
}

// MQTT on a port that is taken (a local Mosquitto, say): serve exits 1
// with an error naming the setting and how to turn MQTT over TCP off.
func TestMQTTPortTakenNamesTheSetting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := newProc(t)
	cmd := exec.Command(p.bin, "serve", "--data-dir", p.dataDir, "--http-addr", "127.0.0.1:0", "--mqtt-addr", taken.Addr().String())
	var stderr strings.Builder
	cmd.Stderr = &syncWriter{w: &stderr}
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("serve with MQTT on a taken port kept running")
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, w := range []string{taken.Addr().String(), "mqtt.addr", "--mqtt-addr", "Mosquitto"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("the error does not mention %q:\n%s", w, stderr.String())
		}
	}
}

// parley user disable, enable, passwd, delete and list beside a running
// server: disable and delete go through the server, which closes the
// user's connections (3502) and forgets its members; after a kill -9 they
// work on the data directory alone, and the server starts again.
func TestUserCommandsBesideTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	p := newProc(t, "PARLEY_LOG_LEVEL=warn")
	for _, u := range []string{"alice", "bob", "carol"} {
		p.run("user", "add", u, "--password", "password-"+u)
	}
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	login := func(user, password string) (*parley.API, error) {
		api := &parley.API{BaseURL: p.url()}
		tok, err := api.Login(ctx, user, password, "phone")
		api.Token = tok.AccessToken
		return api, err
	}
	dial := func(user string) *parley.Client {
		api, err := login(user, "password-"+user)
		if err != nil {
			t.Fatal(err)
		}
		c, err := parley.Dial(ctx, parley.Options{URL: p.url(), Token: api.Token})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice, err := login("alice", "password-alice")
	if err != nil {
		t.Fatal(err)
	}
	group, err := alice.CreateGroup(ctx, "team", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	bob, carol := dial("bob"), dial("carol")
	revoked := func(c *parley.Client) func() bool {
		return func() bool { return websocket.CloseStatus(c.Err()) == 3502 }
	}

	if out := p.run("user", "disable", "carol"); !strings.Contains(out, "through the running server") {
		t.Errorf("user disable printed %q", out)
	}
	waitFor(t, "carol's connection to be closed with 3502", 10*time.Second, revoked(carol))
	if _, err := login("carol", "password-carol"); err == nil {
		t.Error("a disabled user logged in")
	}
	p.run("user", "enable", "carol")
	if _, err := login("carol", "password-carol"); err != nil {
		t.Errorf("login after enable: %v", err)
	}

	p.run("user", "passwd", "alice", "--password", "a new password")
	if _, err := login("alice", "a new password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, err := login("alice", "password-alice"); err == nil {
		t.Error("the old password still works")
	}

	if out := p.run("user", "delete", "bob", "--yes"); !strings.Contains(out, "through the running server") {
		t.Errorf("user delete printed %q", out)
	}
	waitFor(t, "bob's connection to be closed with 3502", 10*time.Second, revoked(bob))
	ms, err := alice.Members(ctx, group.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.User == "bob" {
			t.Errorf("the server still lists deleted bob as a member: %+v", ms)
		}
	}
	list := p.run("user", "list")
	if !regexp.MustCompile(`(?m)^bob\s.*\bdeleted\b`).MatchString(list) || !regexp.MustCompile(`(?m)^carol\s.*\bactive\b`).MatchString(list) {
		t.Errorf("user list:\n%s", list)
	}
	if _, err := p.runErr("user", "disable", "nobody"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("disable nobody through the server: %v", err)
	}

	// Killed: the socket file stays, but the command works alone.
	p.kill()
	if out := p.run("user", "disable", "carol"); out != "disabled carol" {
		t.Errorf("user disable without a server printed %q", out)
	}
	p.start()
	if _, err := login("carol", "password-carol"); err == nil {
		t.Error("carol, disabled while the server was down, logged in")
	}
	if out := p.run("user", "enable", "carol"); !strings.Contains(out, "through the running server") {
		t.Errorf("user enable after the restart printed %q", out)
	}
}

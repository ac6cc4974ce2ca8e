package cli_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/config"
)

// run executes the root command in-process with args and returns its
// standard output and error streams and its error.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := cli.New(&out, &errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, args...)
	if err != nil {
		t.Fatalf("parley %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigDefaultPassesCheck(t *testing.T) {
	t.Parallel()
	out := mustRun(t, "config", "default")
	if !strings.Contains(out, "data_dir") || !strings.Contains(out, "#") {
		t.Fatalf("config default printed no commented configuration:\n%s", out)
	}
	path := writeFile(t, "parley.yaml", out)
	got := mustRun(t, "config", "check", path)
	if want := path + ": ok\n"; got != want {
		t.Errorf("config check printed %q, want %q", got, want)
	}
	// And it is exactly the defaults.
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	if cfg.DataDir != def.DataDir || cfg.HTTP.Addr != def.HTTP.Addr || cfg.Limits != def.Limits || cfg.Timeouts != def.Timeouts {
		t.Errorf("config default does not load as the defaults:\n got %+v\nwant %+v", cfg, def)
	}
}

func TestConfigCheckRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // pieces of the error
	}{
		{"unknown top-level key", "data_dir: ./data\nbogus_key: 1\n", []string{"bogus_key", ":2:"}},
		{"unknown nested key", "http:\n  adress: 127.0.0.1:8080\n", []string{"http.adress", ":2:"}},
		{"two unknown keys", "foo: 1\nbar: 2\n", []string{"foo", "bar"}},
		{"wrong type", "limits:\n  max_message_bytes: lots\n", []string{"limits.max_message_bytes"}},
		{"bad duration", "timeouts:\n  auth_deadline: soon\n", []string{"timeouts.auth_deadline"}},
		{"invalid value", "limits:\n  max_message_bytes: -1\n", []string{"invalid configuration", "max_message_bytes"}},
		{"not YAML", "http: [\n", []string{"parley.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "parley.yaml", tt.yaml)
			out, _, err := run(t, "config", "check", path)
			if err == nil {
				t.Fatalf("config check accepted:\n%s\nand printed %q", tt.yaml, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(out, "ok") {
				t.Errorf("config check printed %q on failure", out)
			}
		})
	}
}

func TestConfigCheckArgs(t *testing.T) {
	t.Parallel()
	if _, _, err := run(t, "config", "check"); err == nil {
		t.Error("config check without a file succeeded")
	}
	if _, _, err := run(t, "config", "check", filepath.Join(t.TempDir(), "absent.yaml")); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("config check of a missing file: %v, want an error naming it", err)
	}
}

// TestUserAddAndToken: the admin CLI creates a user and prints a token that
// the server's signer (key from the data directory) accepts.
func TestUserAddAndToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := mustRun(t, "user", "add", "alice", "--password", "pw", "--data-dir", dir)
	if !strings.Contains(out, "alice") {
		t.Errorf("user add printed %q", out)
	}
	tok := strings.TrimSpace(mustRun(t, "token", "alice", "--data-dir", dir))
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
		t.Fatalf("token printed %q, want one JWT", tok)
	}

	key, err := os.ReadFile(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatalf("read signing key: %v", err)
	}
	signer, err := auth.NewSigner([]byte(strings.TrimSpace(string(key))))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := signer.Verify(tok)
	if err != nil {
		t.Fatalf("the signer with the data directory's key refuses the token: %v", err)
	}
	if claims.User != "alice" || claims.Device != "cli" || claims.Session == "" {
		t.Errorf("claims = %+v, want user alice, device cli, a session", claims)
	}
	// As long as a login's token: auth.access_ttl.
	if d, want := time.Until(claims.ExpiresAt), config.Default().Auth.AccessTTL; d < want-time.Minute || d > want+time.Second {
		t.Errorf("token expires in %v, want auth.access_ttl (%v), as a login's", d, want)
	}

	// A core on the same directory authenticates it: the session is stored.
	cfg := config.Default()
	cfg.DataDir = dir
	log := slog.New(slog.DiscardHandler)
	st, err := app.OpenStore(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := app.NewCore(cfg, st, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Authenticate(context.Background(), tok, "")
	if err != nil {
		t.Fatalf("core refuses the CLI's token: %v", err)
	}
	if id.User != "alice" || id.Device != "cli" {
		t.Errorf("identity = %+v", id)
	}
}

func TestTokenOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, "user", "add", "bob", "--password", "pw", "--data-dir", dir)
	tok := strings.TrimSpace(mustRun(t, "token", "bob", "--device", "laptop", "--ttl", "5m", "--data-dir", dir))
	key, err := os.ReadFile(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner([]byte(strings.TrimSpace(string(key))))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := signer.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Device != "laptop" {
		t.Errorf("device = %q, want laptop", claims.Device)
	}
	if d := time.Until(claims.ExpiresAt); d > 5*time.Minute+time.Second || d < 4*time.Minute {
		t.Errorf("token expires in %v, want 5m", d)
	}
}

func TestUserAddRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, "user", "add", "alice", "--password", "pw", "--data-dir", dir)
	tests := []struct {
		name string
		args []string
		want []string // pieces of the error
	}{
		{"slash", []string{"user", "add", "a/b"}, []string{"user", "'/'"}},
		{"space", []string{"user", "add", "a b"}, []string{"user", "' '"}},
		{"reserved", []string{"user", "add", "system"}, []string{"user", "reserved"}},
		{"group prefix", []string{"user", "add", "g_team"}, []string{"user", "g_"}},
		{"too long", []string{"user", "add", strings.Repeat("x", 65)}, []string{"user", "64"}},
		{"exists", []string{"user", "add", "alice", "--password", "other"}, []string{"alice", "exists"}},
		{"no name", []string{"user", "add"}, []string{"arg"}},
		{"token for nobody", []string{"token", "nobody"}, []string{"nobody", "not found"}},
		{"token for a bad device", []string{"token", "alice", "--device", "a/b"}, []string{"device"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string(nil), tt.args...), "--data-dir", dir)
			out, _, err := run(t, args...)
			if err == nil {
				t.Fatalf("parley %s succeeded: %q", strings.Join(tt.args, " "), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.HasPrefix(tt.args[0], "token") && strings.Count(out, ".") == 2 {
				t.Errorf("a token was printed despite the error: %q", out)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	if out := mustRun(t, "version"); out != "parley "+app.BuildInfo().String()+"\n" {
		t.Errorf("version printed %q", out)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	if _, _, err := run(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v, want an error naming it", err)
	}
}

// TestTokenFollowsAccessTTL: without --ttl, parley token's access token
// lives auth.access_ttl, as a login's does.
func TestTokenFollowsAccessTTL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := writeFile(t, "parley.yaml", "data_dir: "+dir+"\nauth:\n  access_ttl: 7m\n")
	mustRun(t, "user", "add", "dora", "--config", conf)
	tok := strings.TrimSpace(mustRun(t, "token", "dora", "--config", conf))
	key, err := os.ReadFile(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner([]byte(strings.TrimSpace(string(key))))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := signer.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(claims.ExpiresAt); d > 7*time.Minute+time.Second || d < 6*time.Minute {
		t.Errorf("token expires in %v, want auth.access_ttl, 7m", d)
	}
}

// TestUserCommands: list, passwd, disable, enable and delete on a data
// directory without a server (the e2e tests run them beside one).
func TestUserCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, "user", "add", "alice", "--password", "old-password", "--display-name", "Alice A.", "--data-dir", dir)
	mustRun(t, "user", "add", "bob", "--password", "password-bob", "--data-dir", dir)
	status := func() map[string]string {
		t.Helper()
		out := mustRun(t, "user", "list", "--data-dir", dir)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "USER") {
			t.Fatalf("user list printed no header:\n%s", out)
		}
		m := map[string]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			for _, st := range []string{"active", "disabled", "deleted"} {
				if slices.Contains(f, st) {
					m[f[0]] = st
				}
			}
		}
		return m
	}
	if got := status(); got["alice"] != "active" || got["bob"] != "active" || len(got) != 2 {
		t.Fatalf("user list: %v", got)
	}
	if out := mustRun(t, "user", "list", "--data-dir", dir); !strings.Contains(out, "Alice A.") {
		t.Errorf("user list does not show the display name:\n%s", out)
	}

	if out := mustRun(t, "user", "disable", "alice", "--data-dir", dir); out != "disabled alice\n" {
		t.Errorf("user disable printed %q", out)
	}
	if got := status(); got["alice"] != "disabled" {
		t.Errorf("after disable: %v", got)
	}
	mustRun(t, "user", "enable", "alice", "--data-dir", dir)
	if got := status(); got["alice"] != "active" {
		t.Errorf("after enable: %v", got)
	}

	var out, errOut bytes.Buffer
	root := cli.New(&out, &errOut)
	root.SetIn(strings.NewReader("new password\n"))
	root.SetArgs([]string{"user", "passwd", "alice", "--password-stdin", "--data-dir", dir})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "alice") {
		t.Fatalf("user passwd: %v, %q", err, out.String())
	}
	login := func(password string) error {
		cfg := config.Default()
		cfg.DataDir = dir
		log := slog.New(slog.DiscardHandler)
		st, err := app.OpenStore(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		c, err := app.NewCore(cfg, st, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Login(context.Background(), "alice", password, "laptop")
		return err
	}
	if err := login("new password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if err := login("old-password"); err == nil {
		t.Error("the old password still works")
	}

	if _, _, err := run(t, "user", "delete", "bob", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("delete without --yes: %v, want a refusal asking for --yes", err)
	}
	mustRun(t, "user", "delete", "bob", "--yes", "--data-dir", dir)
	if got := status(); got["bob"] != "deleted" {
		t.Errorf("after delete: %v", got)
	}
	for _, args := range [][]string{
		{"user", "disable", "nobody"}, {"user", "enable", "nobody"}, {"user", "delete", "nobody", "--yes"},
		{"user", "passwd", "nobody", "--password", "x"},
	} {
		if _, _, err := run(t, append(args, "--data-dir", dir)...); err == nil || !strings.Contains(err.Error(), "nobody") {
			t.Errorf("parley %s: %v, want an error naming the user", strings.Join(args, " "), err)
		}
	}
	if _, _, err := run(t, "user", "passwd", "alice", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "--password") {
		t.Errorf("passwd without a password: %v", err)
	}
}

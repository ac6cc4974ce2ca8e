package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
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
	if !regexp.MustCompile(`^parley v9\.8\.7-test \(commit [0-9a-f]{12}(\+modified)?, `).MatchString(out) {
		t.Errorf("parley version printed %q, want v9.8.7-test and the commit of the build", out)
	}
}

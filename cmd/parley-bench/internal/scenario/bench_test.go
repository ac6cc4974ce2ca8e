package scenario

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// TestMain removes the server binary the tests built.
func TestMain(m *testing.M) {
	// b3 starts agents as copies of its own executable, which is this test
	// binary here: it serves them as parley-bench would.
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		if err := runAgent(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if serverBin != "" {
		os.RemoveAll(filepath.Dir(serverBin))
	}
	os.Exit(code)
}

var (
	serverBinOnce sync.Once
	serverBin     string
	serverBinErr  error
	serverBinOut  []byte
)

// benchServerBinary builds the server once per test process and returns its
// path.
func benchServerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	serverBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bench-test-")
		if err != nil {
			serverBinErr = err
			return
		}
		serverBin = filepath.Join(dir, "parley")
		serverBinOut, serverBinErr = exec.Command("go", "build", "-o", serverBin, "github.com/parley-im/parley/cmd/parley").CombinedOutput()
	})
	if serverBinErr != nil {
		t.Fatalf("build the server: %v\n%s", serverBinErr, serverBinOut)
	}
	return serverBin
}

// captureResults runs fn with the result lines captured and returns them.
// Tests that use it must not run in parallel with each other.
func captureResults(t *testing.T, fn func() error) []report.Result {
	t.Helper()
	var lines []report.Result
	report.EmitMu.Lock()
	report.Captured = func(r report.Result) { lines = append(lines, r) }
	report.EmitMu.Unlock()
	defer func() {
		report.EmitMu.Lock()
		report.Captured = nil
		report.EmitMu.Unlock()
	}()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	report.EmitMu.Lock()
	defer report.EmitMu.Unlock()
	return append([]report.Result(nil), lines...)
}

// peersFlag is "mosquitto" if the broker is installed, else "none".
func peersFlag(t *testing.T) string {
	if _, err := proc.FindMosquitto(""); err != nil {
		t.Logf("no Mosquitto peer: %v", err)
		return "none"
	}
	return "mosquitto"
}

// num is a result line's number at key k (0 if absent).
func numOf(r report.Result, k string) float64 {
	v, _ := r[k].(float64)
	return v
}

// lineOf finds the line of system/protocol at step.
func lineOf(lines []report.Result, system, protocol, step string) report.Result {
	for _, l := range lines {
		if l[report.KSystem] == system && l[report.KProtocol] == protocol && l[report.KStep] == step {
			return l
		}
	}
	return nil
}

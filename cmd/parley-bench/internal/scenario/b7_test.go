package scenario

import (
	"testing"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// TestB7Smoke runs b7 with 50 followed authors of 3 moments each among 10
// others, and checks the three steps' figures.
func TestB7Smoke(t *testing.T) {
	bin := benchServerBinary(t)
	lines := captureResults(t, func() error {
		return runB7([]string{"-server", bin, "-cpu-server", "-1", "-cpu-client", "-1",
			"-authors", "50", "-posts", "3", "-others", "10", "-requests", "10", "-page", "20"})
	})
	if len(lines) != 3 {
		t.Fatalf("lines %v, want http and ws first-page, http second-page", lines)
	}
	for _, l := range []report.Result{lineOf(lines, "parley", "http", "first-page"), lineOf(lines, "parley", "ws", "first-page"),
		lineOf(lines, "parley", "http", "second-page")} {
		if l == nil || l[report.KScenario] != "b7" || !lineHasNum(l, report.KP50) || !lineHasNum(l, report.KP99) || numOf(l, "moments_total") != 180 {
			t.Errorf("line %v", l)
		}
		if n := numOf(l, "moments_in_page"); n < 1 || n > 20 {
			t.Errorf("moments in page %v: %v", n, l)
		}
	}
}

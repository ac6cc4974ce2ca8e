package scenario

import (
	"testing"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// TestB6Smoke runs b6 with 300 tagged users, 20 of them live, and a small
// chat, and checks that the notice was stored for all and reached every
// live device, with the timings and the chat's latency reported.
func TestB6Smoke(t *testing.T) {
	bin := benchServerBinary(t)
	lines := captureResults(t, func() error {
		return runB6([]string{"-server", bin, "-cpu-server", "-1", "-cpu-client", "-1",
			"-users", "300", "-live", "20", "-pairs", "5", "-rate", "100", "-window", "1s", "-warmup", "500ms", "-timeout", "30s"})
	})
	base, n := lineOf(lines, "parley", "ws", "baseline"), lineOf(lines, "parley", "ws", "notice")
	if len(lines) != 2 || base == nil || n == nil {
		t.Fatalf("lines %v, want baseline and notice", lines)
	}
	if base[report.KScenario] != "b6" || !lineHasNum(base, report.KP99) || numOf(base, report.KLost) != 0 {
		t.Errorf("baseline %v", base)
	}
	for _, k := range []string{"time_to_stored_ms", "time_to_live_delivered_ms", "stored_ms", "import_ms", "chat_p99_ms", "p99_ratio_to_baseline", "chunk_mean_ms"} {
		if !lineHasNum(n, k) {
			t.Errorf("notice line has no %s: %v", k, n)
		}
	}
	if numOf(n, "matched") != 300 || numOf(n, "stored") != 300 || numOf(n, "live_received") != 20 || numOf(n, "delivered") != 20 {
		t.Errorf("notice %v: want 300 matched and stored, 20 delivered live", n)
	}
}

package scenario

import (
	"fmt"
	"testing"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// lineHasNum reports whether line l has a number at key k.
func lineHasNum(l report.Result, k string) bool {
	_, ok := l[k].(float64)
	return ok
}

// TestB4Smoke runs b4 with 1 and 2 senders for 1 s over WebSocket and
// MQTT, then the sigkill step with 2 senders killed after 1 s, and checks
// the figures and that nothing acknowledged was lost.
func TestB4Smoke(t *testing.T) {
	bin := benchServerBinary(t)
	lines := captureResults(t, func() error {
		return runB4([]string{"-server", bin, "-cpu-server", "-1", "-cpu-client", "-1",
			"-senders", "1,2", "-duration", "1s", "-warmup", "200ms", "-drain", "1s", "-fsync-probe", "0",
			"-kill-senders", "2", "-kill-after", "1s", "-after-restart", "500ms", "-catch-up", "20s"})
	})
	if len(lines) != 6 {
		t.Errorf("%d lines, want 6: %v", len(lines), lines)
	}
	for _, proto := range []string{"ws", "mqtt"} {
		for _, n := range []int{1, 2} {
			step := fmt.Sprintf("senders=%d", n)
			l := lineOf(lines, "parley", proto, step)
			if l == nil {
				t.Errorf("%s: no line for %s", proto, step)
				continue
			}
			if l[report.KScenario] != "b4" || numOf(l, report.KAcked) <= 0 || numOf(l, "acked") <= 0 || numOf(l, "senders") != float64(n) {
				t.Errorf("%s %s: nothing acknowledged: %v", proto, step, l)
			}
			if p50, p99, p999 := numOf(l, report.KP50), numOf(l, report.KP99), numOf(l, report.KP999); p50 <= 0 || p99 < p50 || p999 < p99 {
				t.Errorf("%s %s: ack latency p50 %v p99 %v p999 %v", proto, step, p50, p99, p999)
			}
			if numOf(l, "fsyncs_per_s") <= 0 || numOf(l, "commit_batch_mean") < 1 || numOf(l, "server_gomaxprocs") < 1 || !lineHasNum(l, report.KCPUPerMsg) {
				t.Errorf("%s %s: %v", proto, step, l)
			}
		}
		l := lineOf(lines, "parley", proto, "sigkill")
		if l == nil {
			t.Errorf("%s: no sigkill line", proto)
			continue
		}
		if !lineHasNum(l, report.KLost) || numOf(l, report.KLost) != 0 || !lineHasNum(l, "lost_in_history") || numOf(l, "lost_in_history") != 0 {
			t.Errorf("%s sigkill: lost %v, lost in history %v", proto, l[report.KLost], l["lost_in_history"])
		}
		if numOf(l, "acked_before_kill") <= 0 || numOf(l, "acked_after_restart") <= 0 || numOf(l, "acked") <= 0 {
			t.Errorf("%s sigkill: acked %v before the kill, %v after the restart", proto, l["acked_before_kill"], l["acked_after_restart"])
		}
		if !lineHasNum(l, report.KDuplicated) || !lineHasNum(l, "redelivered") || numOf(l, "restart_ms") <= 0 || numOf(l, "deliveries") <= 0 {
			t.Errorf("%s sigkill: %v", proto, l)
		}
		if proto == "mqtt" && numOf(l, "sessions_resumed") != 2 {
			t.Errorf("mqtt sigkill: %v of 2 persistent sessions resumed", l["sessions_resumed"])
		}
	}
}

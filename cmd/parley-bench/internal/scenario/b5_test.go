package scenario

import (
	"testing"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// TestB5Smoke runs b5 with 200 messages in 5 conversations over WebSocket
// and MQTT and checks that all were resumed, none lost or duplicated.
func TestB5Smoke(t *testing.T) {
	bin := benchServerBinary(t)
	lines := captureResults(t, func() error {
		return runB5([]string{"-server", bin, "-cpu-server", "-1", "-cpu-client", "-1",
			"-messages", "200", "-convs", "5", "-timeout", "20s"})
	})
	if len(lines) != 2 {
		t.Errorf("%d lines, want 2 (ws, mqtt): %v", len(lines), lines)
	}
	for _, proto := range []string{"ws", "mqtt"} {
		l := lineOf(lines, "parley", proto, "catch-up")
		if l == nil {
			t.Errorf("%s: no catch-up line", proto)
			continue
		}
		if l[report.KScenario] != "b5" || numOf(l, "messages") != 200 || numOf(l, "convs") != 5 {
			t.Errorf("%s: %v", proto, l)
		}
		if numOf(l, "resume_ms") <= 0 || numOf(l, report.KDelivered) <= 0 || !lineHasNum(l, report.KCPUPerMsg) {
			t.Errorf("%s: resume_ms %v, delivered_per_s %v, cpu %v", proto, l["resume_ms"], l[report.KDelivered], l[report.KCPUPerMsg])
		}
		if !lineHasNum(l, report.KLost) || numOf(l, report.KLost) != 0 || numOf(l, "missing") != 0 || !lineHasNum(l, report.KDuplicated) || numOf(l, report.KDuplicated) != 0 {
			t.Errorf("%s: lost %v, missing %v, duplicated %v", proto, l[report.KLost], l["missing"], l[report.KDuplicated])
		}
		switch proto {
		case "ws":
			// At-least-once: every message is resumed, and one whose ack
			// was in flight when the device went away may come again.
			if numOf(l, "resumed_messages") < 200 {
				t.Errorf("ws: the server resumed %v messages, want at least 200", l["resumed_messages"])
			}
		case "mqtt":
			if l["session_present"] != true {
				t.Errorf("mqtt: the persistent session was not present on reconnect: %v", l)
			}
		}
	}
}

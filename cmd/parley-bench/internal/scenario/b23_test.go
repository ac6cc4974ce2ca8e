package scenario

import (
	"fmt"
	"testing"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// TestB2Smoke runs b2 with a group of 20 at 5 and 10 messages/s over
// WebSocket and MQTT (QoS 1) and, if installed, Mosquitto, and checks that
// every delivery arrived once and the lines carry the figures.
func TestB2Smoke(t *testing.T) {
	bin := benchServerBinary(t)
	peers := peersFlag(t)
	lines := captureResults(t, func() error {
		return runB2([]string{"-server", bin, "-members", "20", "-rates", "5,10", "-step", "1s", "-qos", "1",
			"-timeout", "10s", "-cpu-server", "-1", "-cpu-client", "-1", "-peers", peers})
	})
	systems := [][2]string{{"parley", "ws"}, {"parley", "mqtt"}}
	if peers == "mosquitto" {
		systems = append(systems, [2]string{"mosquitto", "mqtt"})
	}
	for _, sys := range systems {
		for _, rate := range []int{5, 10} {
			step := fmt.Sprintf("members=20,rate=%d/s", rate)
			l := lineOf(lines, sys[0], sys[1], step)
			if l == nil {
				t.Errorf("%s/%s: no line for %s in %v", sys[0], sys[1], step, lines)
				continue
			}
			if numOf(l, report.KDelivered) <= 0 || numOf(l, report.KLost) != 0 || numOf(l, report.KDuplicated) != 0 || numOf(l, report.KP50) <= 0 ||
				numOf(l, report.KTimeToLast) <= 0 || numOf(l, "time_to_last_p99_ms") < numOf(l, report.KTimeToLast) || numOf(l, report.KCPUPerMsg) <= 0 ||
				numOf(l, "members") != 20 || numOf(l, "rate_per_s") != float64(rate) || l["scenario"] != "b2" {
				t.Errorf("%s/%s %s: %v", sys[0], sys[1], step, l)
			}
		}
	}
}

// TestB3Smoke runs b3 with 40 idle connections per system and checks the
// memory and connect figures.
func TestB3Smoke(t *testing.T) {
	testB3Smoke(t, 1)
}

// TestB3AgentsSmoke is TestB3Smoke with at most 15 connections per
// process: three agent processes hold them.
func TestB3AgentsSmoke(t *testing.T) {
	testB3Smoke(t, 3, "-conns-per-proc", "15")
}

func testB3Smoke(t *testing.T, procs int, extra ...string) {
	bin := benchServerBinary(t)
	peers := peersFlag(t)
	lines := captureResults(t, func() error {
		return runB3(append([]string{"-server", bin, "-conns", "40", "-settle", "200ms", "-idle", "500ms",
			"-cpu-server", "-1", "-cpu-client", "-1", "-peers", peers}, extra...))
	})
	systems := [][2]string{{"parley", "ws"}, {"parley", "mqtt"}}
	if peers == "mosquitto" {
		systems = append(systems, [2]string{"mosquitto", "mqtt"})
	}
	for _, sys := range systems {
		l := lineOf(lines, sys[0], sys[1], "conns=40")
		if l == nil {
			t.Errorf("%s/%s: no line in %v", sys[0], sys[1], lines)
			continue
		}
		// RSS may even shrink for 40 connections; the key must be there.
		if _, ok := l[report.KKBPerConn].(float64); !ok || numOf(l, "connect_per_s") <= 0 || numOf(l, "conns") != 40 ||
			numOf(l, "generator_procs") != float64(procs) {
			t.Errorf("%s/%s: %v", sys[0], sys[1], l)
		}
		if sys[0] == "parley" && (numOf(l, "goroutines_per_conn") <= 0 || numOf(l, "server_connections") != 40) {
			t.Errorf("%s/%s: %v", sys[0], sys[1], l)
		}
		if sys[0] == "parley" && peers == "mosquitto" {
			if _, ok := l["kb_ratio_to_mosquitto"]; !ok {
				t.Errorf("%s/%s: no kb_ratio_to_mosquitto: %v", sys[0], sys[1], l)
			}
		}
	}
}

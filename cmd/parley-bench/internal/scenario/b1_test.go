package scenario

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

func TestB1Payload(t *testing.T) {
	t.Parallel()
	st := &b1Step{id: 3, bodyBytes: 100}
	p := st.payload(123456)
	if len(p) != 100 || !strings.HasPrefix(string(p), "b1 3 123456 x") {
		t.Fatalf("payload %q (%d bytes)", p, len(p))
	}
	if id, k, ok := b1Parse(string(p)); !ok || id != 3 || k != 123456 {
		t.Fatalf("b1Parse = %d %d %v", id, k, ok)
	}
	// A Parley MQTT delivery carries the body inside the message's JSON.
	msg := []byte(`{"conv":"d_ab1","seq":9,"id":"x","from":"s1","client_msg_id":"q1:b1","body":"` + string(p) + `"}`)
	if id, k, ok := b1Find(msg); !ok || id != 3 || k != 123456 {
		t.Fatalf("b1Find = %d %d %v", id, k, ok)
	}
	if id, k, ok := b1Parse((&b1Step{id: 0, bodyBytes: 16}).payload(7)); !ok || id != 0 || k != 7 {
		t.Fatalf("short body: %d %d %v", id, k, ok)
	}
	for _, bad := range []string{"", "b1", "b1 ", "b1 3", "b1 3 ", "b1 x 1 ", "b2 1 2 ", "b1 1 2x", "b1 12345678901 1 "} {
		if _, _, ok := b1Parse(bad); ok {
			t.Errorf("b1Parse(%q) ok", bad)
		}
	}
	if _, _, ok := b1Find([]byte(`{"conv":"x","body":"hello"}`)); ok {
		t.Error("b1Find found a marker in a foreign message")
	}
}

func TestB1Flags(t *testing.T) {
	t.Parallel()
	f, err := parseB1Flags([]string{"-server", "x", "-pairs", "3", "-rates", "10, 20", "-protocols", "mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.pairs != 3 || fmt.Sprint(f.rates) != "[10 20]" || fmt.Sprint(f.protocols) != "[mqtt]" || f.step != 5*time.Second || f.peers != "mosquitto" {
		t.Fatalf("parsed %+v", f)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-server is required"},
		{[]string{"-server", "x", "-pairs", "0"}, "-pairs"},
		{[]string{"-server", "x", "-rates", "100,50"}, "ascend"},
		{[]string{"-server", "x", "-rates", "100,x"}, `"x" is not a rate`},
		{[]string{"-server", "x", "-rates", "1", "-step", "500ms"}, "sends nothing"},
		{[]string{"-server", "x", "-protocols", "ws,ws"}, "ws twice"},
		{[]string{"-server", "x", "-protocols", "http"}, "not ws or mqtt"},
		{[]string{"-server", "x", "-step", "1ms"}, "-step"},
		{[]string{"-server", "x", "-warmup", "-1s"}, "-warmup"},
		{[]string{"-server", "x", "-body-bytes", "8"}, "-body-bytes"},
		{[]string{"-server", "x", "-max-inflight", "0"}, "-max-inflight"},
		{[]string{"-server", "x", "-loss-limit", "101"}, "-loss-limit"},
		{[]string{"-server", "x", "extra"}, "unexpected"},
	} {
		if _, err := parseB1Flags(tc.args, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
}

type b1TestLog struct{ t *testing.T }

func (w b1TestLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestB1Smoke runs b1 in-process with two pairs at 50 and 100 messages/s
// against a freshly built server (WebSocket and MQTT) and, if it is
// installed, Mosquitto, and checks the result lines.
func TestB1Smoke(t *testing.T) {
	bin := benchServerBinary(t)
	peers := peersFlag(t)
	var mu sync.Mutex
	var lines []map[string]any
	out := b1Out{log: b1TestLog{t}, emit: func(r report.Result) {
		b, err := json.Marshal(map[string]any(r))
		if err != nil {
			t.Error(err)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		lines = append(lines, m)
		mu.Unlock()
	}}
	// The latency limit is far off: this checks the plumbing, not the
	// machine (the test may share it with others).
	err := b1Main([]string{"-server", bin, "-pairs", "2", "-rates", "50,100", "-step", "1s", "-warmup", "0", "-grace", "5s",
		"-cpu-server", "-1", "-cpu-client", "-1", "-p99-limit", "10s", "-peers", peers}, out)
	if err != nil {
		t.Fatal(err)
	}
	systems := []string{"parley/ws", "parley/mqtt"}
	if peers == "mosquitto" {
		systems = append(systems, "mosquitto/mqtt")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, sys := range systems {
		steps := map[string]map[string]any{}
		for _, l := range lines {
			if l[report.KScenario] == "b1" && fmt.Sprint(l[report.KSystem], "/", l[report.KProtocol]) == sys {
				steps[l[report.KStep].(string)] = l
			}
		}
		for _, step := range []string{"rate=50/s", "rate=100/s"} {
			l := steps[step]
			if l == nil {
				t.Errorf("%s: no %s line", sys, step)
				continue
			}
			num := func(k string) float64 { v, _ := l[k].(float64); return v }
			if num(report.KDelivered) <= 0 || num(report.KAcked) <= 0 || num(report.KLost) != 0 || num(report.KDuplicated) != 0 || num(report.KP50) <= 0 ||
				num("ack_p50_ms") <= 0 || num(report.KCPUPerMsg) <= 0 || num("server_gomaxprocs") < 1 || num("pairs") != 2 || l["passed"] != true {
				t.Errorf("%s %s: %v", sys, step, l)
			}
		}
		if l := steps["max"]; l == nil {
			t.Errorf("%s: no max line", sys)
		} else if l["max_sustainable_rate_per_s"] != 100.0 || l["limited_by"] != "rates" {
			t.Errorf("%s max: %v", sys, l)
		} else if sys == "parley/mqtt" && peers == "mosquitto" && l["ratio_to_mosquitto"] != 1.0 {
			t.Errorf("%s max: no ratio_to_mosquitto: %v", sys, l)
		}
	}
}

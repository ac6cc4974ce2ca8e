package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// A result line is one JSON object per scenario × system × step
// (docs/performance.md, "Output"). Every line has scenario, system,
// protocol and step; the figures that apply to the scenario follow, with
// the names below, so that "parley-bench report" can read any scenario's
// lines.
const (
	kScenario   = "scenario" // b1 … b5
	kSystem     = "system"   // parley, parley@REF, mosquitto
	kProtocol   = "protocol" // ws, mqtt
	kStep       = "step"     // the step's label, e.g. "rate=2000/s"
	kDelivered  = "delivered_per_s"
	kAcked      = "acked_per_s"
	kP50        = "p50_ms"
	kP99        = "p99_ms"
	kP999       = "p999_ms"
	kTimeToLast = "time_to_last_ms" // fan-out: p50 of the time to the last member
	kKBPerConn  = "kb_per_conn"
	kCPUPerMsg  = "server_cpu_us_per_msg"
	kLost       = "lost"
	kDuplicated = "duplicated"
)

// result is one result line under construction.
type result map[string]any

// newResult starts a line with the keys every line has, and where it ran:
// the server's GOMAXPROCS (set by the scenario once known) and the cores of
// server and generator.
func newResult(scenario, system, protocol, step string, p placement) result {
	return result{
		kScenario: scenario, kSystem: system, kProtocol: protocol, kStep: step,
		"server_cores":         p.serverCores(),
		"generator_cores":      p.clientCores(),
		"generator_gomaxprocs": runtime.GOMAXPROCS(0),
		"date":                 time.Now().UTC().Format(time.RFC3339),
	}
}

// placement is where server and generator run (taskset CPU lists; -1 is
// not pinned).
type placement struct {
	cpuServer, cpuClient int
}

func (p placement) serverCores() string { return cpuLabel(p.cpuServer) }
func (p placement) clientCores() string { return cpuLabel(p.cpuClient) }

func cpuLabel(cpu int) string {
	if cpu < 0 {
		return "all"
	}
	return strconv.Itoa(cpu)
}

var (
	emitMu sync.Mutex
	// captured, if set, receives the result lines instead of standard
	// output (the smoke tests).
	captured func(result)
)

// emitResult prints r as one JSON line. A line without its scenario,
// system, protocol and step is a bug of the scenario: it panics.
func emitResult(r result) {
	for _, k := range []string{kScenario, kSystem, kProtocol, kStep} {
		if s, _ := r[k].(string); s == "" {
			panic(fmt.Sprintf("result line without %s: %v", k, r))
		}
	}
	b, err := json.Marshal(map[string]any(r))
	if err != nil {
		fmt.Fprintln(os.Stderr, "encode result:", err)
		return
	}
	emitMu.Lock()
	defer emitMu.Unlock()
	if captured != nil {
		var copied result
		if err := json.Unmarshal(b, &copied); err == nil {
			captured(copied) // as a reader of the output sees it
			return
		}
	}
	fmt.Println(string(b))
}

package report

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
	KScenario   = "scenario" // b1 … b5
	KSystem     = "system"   // parley, parley@REF, mosquitto
	KProtocol   = "protocol" // ws, mqtt
	KStep       = "step"     // the step's label, e.g. "rate=2000/s"
	KDelivered  = "delivered_per_s"
	KAcked      = "acked_per_s"
	KP50        = "p50_ms"
	KP99        = "p99_ms"
	KP999       = "p999_ms"
	KTimeToLast = "time_to_last_ms" // fan-out: p50 of the time to the last member
	KKBPerConn  = "kb_per_conn"
	KCPUPerMsg  = "server_cpu_us_per_msg"
	KLost       = "lost"
	KDuplicated = "duplicated"
)

// Result is one result line under construction.
type Result map[string]any

// NewResult starts a line with the keys every line has, and where it ran:
// the server's GOMAXPROCS (set by the scenario once known) and the cores of
// server and generator.
func NewResult(scenario, system, protocol, step string, p Placement) Result {
	return Result{
		KScenario: scenario, KSystem: system, KProtocol: protocol, KStep: step,
		"server_cores":         p.serverCores(),
		"generator_cores":      p.clientCores(),
		"generator_gomaxprocs": runtime.GOMAXPROCS(0),
		"date":                 time.Now().UTC().Format(time.RFC3339),
	}
}

// Placement is where server and generator run (taskset CPU lists; -1 is
// not pinned).
type Placement struct {
	CPUServer, CPUClient int
}

func (p Placement) serverCores() string { return cpuLabel(p.CPUServer) }
func (p Placement) clientCores() string { return cpuLabel(p.CPUClient) }

func cpuLabel(cpu int) string {
	if cpu < 0 {
		return "all"
	}
	return strconv.Itoa(cpu)
}

var (
	EmitMu sync.Mutex
	// Captured, if set, receives the result lines instead of standard
	// output (the smoke tests).
	Captured func(Result)
)

// EmitResult prints r as one JSON line. A line without its scenario,
// system, protocol and step is a bug of the scenario: it panics.
func EmitResult(r Result) {
	for _, k := range []string{KScenario, KSystem, KProtocol, KStep} {
		if s, _ := r[k].(string); s == "" {
			panic(fmt.Sprintf("result line without %s: %v", k, r))
		}
	}
	b, err := json.Marshal(map[string]any(r))
	if err != nil {
		fmt.Fprintln(os.Stderr, "encode result:", err)
		return
	}
	EmitMu.Lock()
	defer EmitMu.Unlock()
	if Captured != nil {
		var copied Result
		if err := json.Unmarshal(b, &copied); err == nil {
			Captured(copied) // as a reader of the output sees it
			return
		}
	}
	fmt.Println(string(b))
}

// Command parley-bench is a small load harness for a Parley server binary.
// It measures, on the machine it runs on, what docs/performance.md reports:
//
//	parley-bench durable -server /tmp/parley -senders 1,16,256 -duration 10s
//	parley-bench idle    -server /tmp/parley -conns 10000
//
// durable: for each sender count N it starts a fresh server (from a copy of
// one prepared data directory), connects N receivers and N senders with the
// Go SDK (sender s<i> sends to receiver r<i>, so N direct conversations),
// and runs a closed loop: each sender sends a message, waits for the
// acknowledgement (which the server gives after the durable commit), and
// sends the next. Every client drains its messages (the sender gets its own
// message back too: sent-sync). After a warm-up it measures for -duration:
// acknowledged sends per second, acknowledgement latency p50/p99, the
// server's CPU time per acknowledged message (utime+stime of the server
// process from /proc/PID/stat), the mean commit batch size from the
// server's /metrics, and for comparison the harness's own CPU per message
// and the fsync rate of the data directory's file system measured in the
// same run (the ceiling of one fsync per message).
//
// idle: starts a server, opens -conns authenticated WebSocket connections
// (hello + resume, then idle; the harness answers pings), and reports the
// server's resident memory (VmRSS) delta divided by the connections, the
// Go heap and stack deltas per connection from /metrics, goroutines per
// connection, and the server CPU spent while they sit idle. Tokens are
// application-signed JWTs (the server is started with an HMAC secret the
// harness chose), so 10,000 devices need no password hashing.
//
// mqtt-durable, mqtt-fanout and mqtt-idle do the same over the MQTT gateway
// (MQTT 3.1.1 on the port the server prints in its banner), with a minimal
// client of the harness's own (internal/mqttclient): closed-loop QoS 1 publishes to
// IMS/p2p/<peer>; one group's fan-out at QoS 1 and 0; idle connections
// subscribed to their inbox, next to as many idle WebSocket connections
// measured on a fresh server in the same run.
//
// By default the server runs under "taskset -c 0" and the harness re-executes
// itself under "taskset -c 1" (-cpu-server, -cpu-client; -1 disables), so the
// two do not share a core. Everything is on loopback, every loop is bounded
// by a count and by time, and the server is stopped at the end.
//
// Output: human-readable lines, and one JSON object per result on a line of
// its own (grep '^{'), with the keys scenario, senders or conns, acked_per_s,
// p50_ms, p99_ms, server_cpu_us_per_msg, kb_per_conn, goroutines_per_conn,
// gomaxprocs, cores and date, among others.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/parley-im/parley/cmd/parley-bench/internal/scenario"
)

func usage() string {
	var b strings.Builder
	b.WriteString(`parley-bench measures a Parley server binary on this machine, beside
Mosquitto where a scenario has an MQTT variant (docs/performance.md).

Usage:
  parley-bench SCENARIO -server BIN [flags]
  parley-bench SCENARIO -help     flags of a scenario

Scenarios and tools:
`)
	for _, n := range scenario.Names() {
		fmt.Fprintf(&b, "  %-13s %s\n", n, scenario.Scenarios[n].Summary)
	}
	b.WriteString("\nResults: one JSON object per line (grep '^{'), with scenario, system,\nprotocol and step; human-readable lines around them.\n")
	return b.String()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage())
		os.Exit(2)
	}
	name := os.Args[1]
	switch name {
	case "-h", "-help", "--help", "help":
		fmt.Print(usage())
		return
	}
	sc, ok := scenario.Scenarios[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "parley-bench: unknown scenario %q\n\n%s", name, usage())
		os.Exit(2)
	}
	err := sc.Run(os.Args[2:])
	if err == flag.ErrHelp {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

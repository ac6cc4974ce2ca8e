// Command parley-loadtest is a small load harness for a Parley server binary.
// It measures, on the machine it runs on, what docs/performance.md reports:
//
//	parley-loadtest durable -server /tmp/parley -senders 1,16,256 -duration 10s
//	parley-loadtest idle    -server /tmp/parley -conns 10000
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
// client of the harness's own (mqttwire.go): closed-loop QoS 1 publishes to
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
)

const usage = `parley-loadtest measures a Parley server binary on this machine.

Usage:
  parley-loadtest durable -server BIN [-senders 1,16,256] [-duration 10s] [flags]
  parley-loadtest idle    -server BIN [-conns 10000] [flags]
  parley-loadtest mqtt-durable -server BIN [-senders 1,16,256] [-duration 10s] [-peer ws] [flags]
  parley-loadtest mqtt-fanout  -server BIN [-members 1000] [-messages 50] [-qos 1,0] [flags]
  parley-loadtest mqtt-idle    -server BIN [-conns 10000] [-peer ws] [flags]
  parley-loadtest SCENARIO -help     flags of a scenario

durable  closed-loop durable one-to-one sends: acked/s, ack latency p50/p99,
         server CPU µs per message, commit batch size, fsync/s of the disk.
idle     N idle authenticated WebSocket connections: server RSS per
         connection, heap/stack per connection, goroutines per connection.
mqtt-durable  closed-loop QoS 1 publishes over MQTT 3.1.1 to IMS/p2p/<peer>, peers
         subscribed at QoS 1: acks/s, PUBACK latency p50/p99, server CPU µs
         per message, deliveries received; and the same sender count over
         WebSocket on a fresh server in the same run (-peer ws), for ratios.
mqtt-fanout   one group of M members subscribed over MQTT (QoS 1 and QoS 0), one
         sender publishing K messages at a fixed rate: server CPU µs per
         delivery, time to the last member p50/p99.
mqtt-idle     N idle authenticated MQTT connections subscribed to their inbox, and
         the same number of idle WebSocket connections on a fresh server in
         the same run: RSS, heap and goroutines per connection.

Results are printed as text and as one JSON object per line (grep '^{').
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "durable":
		err = runDurable(os.Args[2:])
	case "idle":
		err = runIdle(os.Args[2:])
	case "mqtt-durable":
		err = runMQTTDurable(os.Args[2:])
	case "mqtt-fanout":
		err = runMQTTFanout(os.Args[2:])
	case "mqtt-idle":
		err = runMQTTIdle(os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "parley-loadtest: unknown scenario %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err == flag.ErrHelp {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-loadtest:", err)
		os.Exit(1)
	}
}

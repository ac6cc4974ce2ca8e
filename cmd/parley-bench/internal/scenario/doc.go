// Package scenario holds the commands of parley-bench: the scenarios b1 …
// b7, compare (a scenario at another git ref and now, alternating), agent
// (a helper process of b3) and report, each registered by an init function
// of its file (Scenarios, Names), and what they share: the common flags
// (-server, -cpu-server, -peers, -profile-dir ...), the setup of a run and
// the closed-loop durable runs of b4 over WebSocket and MQTT.
//
// Concurrency: Scenarios is filled by init functions and only read after.
// One scenario runs at a time per process; it starts its own goroutines
// (clients, senders, receivers) and waits for them before it returns.
package scenario

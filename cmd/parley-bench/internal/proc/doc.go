// Package proc starts, watches and stops the processes a benchmark measures:
// the Parley server ("parley serve" on loopback ports, Server) and the
// Mosquitto peer (Broker). It pins them and the generator to CPUs with
// taskset (PinSelf re-executes the generator), reads their CPU time and
// memory from /proc, scrapes the server's /metrics, finds its MQTT address
// in its output, prepares data directories (CopyDir) and raises
// RLIMIT_NOFILE. DescribeMachine says where a run took place.
//
// Concurrency: a Server or Broker belongs to the goroutine that started it;
// Stop, StopOrLog and Kill are called once, from that goroutine, while
// Metrics and the /proc readers may be called from any goroutine. PinSelf
// and the RLIMIT functions change the whole process: call them before
// starting goroutines.
package proc

// Package rabbittest starts a real RabbitMQ 3.10 broker for tests, with the
// rabbitmq_auth_backend_http plugin enabled, and can stop, restart and
// pause it for fault tests.
//
// The broker comes from Debian's package (`apt-get install rabbitmq-server`;
// the scripts in /usr/lib/rabbitmq/bin, or RABBITTEST_BINDIR). Each Start
// runs a new node with a unique name (rabbittest-PID-N-RANDOM@localhost) on
// two free loopback ports (AMQP and Erlang distribution) in a new temporary
// directory that holds everything the node writes: rabbitmq.conf, the
// enabled-plugins and feature-flags files, the Mnesia, quorum, stream and
// log directories, the pid file and the node's own Erlang cookie (HOME is
// the directory, so nothing under /var/lib/rabbitmq is used or changed).
// As root the broker and rabbitmqctl run as the `rabbitmq` user on a
// directory it owns (under os.TempDir, which that user must be able to
// enter); as any other user they run as that user. Start
// returns once the AMQP port accepts connections and `rabbitmqctl
// await_startup` has succeeded. Missing binaries are an error naming
// `apt-get install rabbitmq-server`, never a skip: CI installs them.
//
// The harness configures an administrator (default_user, with every
// permission on the vhost "/" and the administrator tag): URL is an
// amqp:// URL for it. Options.Conf appends rabbitmq.conf lines;
// Options.AuthHTTP points the HTTP auth backend at a URL the test serves
// (auth_backends.1 = internal, auth_backends.2 = http, POST requests to
// AUTHHTTP/user, /vhost, /resource and /topic), so the administrator still
// logs in through the internal database and every other user through the
// test's handler. AuthServer is such a handler on loopback, replaceable at
// any time, so that TestMain can start the broker before the tests build
// what answers.
//
// One broker per test package, started in TestMain (a start takes several
// seconds of CPU):
//
//	var rmq *rabbittest.Server
//
//	func TestMain(m *testing.M) {
//		os.Exit(rabbittest.Main(m, &rmq, rabbittest.Options{}))
//	}
//
// Fault helpers: StopBroker stops the node (rabbitmqctl stop) and
// StartBroker starts it again with the same name, ports and data
// directory, so durable queues and messages survive; Pause and Resume
// freeze and thaw the Erlang VM with SIGSTOP and SIGCONT, so that clients
// see a broker that accepts TCP connections and answers nothing.
//
// Concurrency: every method of Server is safe for concurrent use; the
// lifecycle methods (StopBroker, StartBroker, Pause, Resume, Stop) are
// serialized with each other. Tests that stop or pause the shared broker
// must not run in parallel with tests that use it. Stop may be called more
// than once and from any goroutine.
//
// No process outlives the test binary: the broker's start script is a
// direct child with a parent-death signal (SIGTERM, on which the script
// stops the VM), started from a goroutine locked to its OS thread while
// the broker runs; Stop stops the node with rabbitmqctl, then signals the
// process group (TERM, then KILL) after a deadline, and removes the
// directory. Directories left by a binary that was killed (go test
// -timeout, SIGKILL) are removed by the next Start, with any VM still
// running there. The Erlang port mapper (epmd, port 4369) that the first
// node starts is shared by every node on the machine and stays.
//
// Every wait is bounded: Start and StartBroker by their context (Main
// gives Start two minutes), rabbitmqctl calls by 30 seconds, Stop and
// StopBroker by about a minute in all.
package rabbittest

// Package child holds what the test servers of internal/testinfra
// (pgtest, rabbittest) share to run a server as a child process: starting
// it so that it dies with the test binary, free loopback ports, and the
// checks and error notes around them.
//
// Its functions are safe for concurrent use.
package child

// Package sdkwait holds the waits that end-to-end tests of a running
// server share: for a condition, and for messages on a Go SDK client.
// Every wait polls or selects with a deadline and fails the test when it
// passes; none sleeps and hopes.
//
// Concurrency: the functions may be called from any test goroutine; a
// client's messages should be read by one of them at a time.
package sdkwait

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// pollEvery is how often Until looks at its condition.
const pollEvery = 10 * time.Millisecond

// Until polls cond until it is true, failing t if timeout passes first.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollEvery)
	}
}

// Messages reads n messages from c, failing t if timeout passes first or
// the client's messages end.
func Messages(t testing.TB, c *parley.Client, n int, timeout time.Duration) []protocol.Message {
	t.Helper()
	out := make([]protocol.Message, 0, n)
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("messages channel closed after %d of %d", len(out), n)
			}
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages within %v", len(out), n, timeout)
		}
	}
	return out
}

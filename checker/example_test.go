package checker_test

import (
	"fmt"

	"github.com/parley-im/parley/checker"
)

// A crash test records every send, delivery, acknowledgement and crash,
// lets each device catch up, then checks the report.
func Example() {
	c := checker.New()
	c.Expect("alice/phone", "g_team")
	c.Expect("bob/laptop", "g_team")

	// bob's first message is acknowledged; both devices get and ack it.
	c.Send("bob", "cm-1", checker.Acked, "g_team", 1, "m1")
	for _, d := range []string{"alice/phone", "bob/laptop"} {
		c.Deliver(d, "g_team", 1, "m1", "cm-1", "bob")
		c.Ack(d, "g_team", 1)
	}

	// The server is killed while bob's second send is in flight: no answer.
	c.Send("bob", "cm-2", checker.Unknown, "", 0, "")
	c.Crash()
	// The retry returns the original acknowledgement: it had been stored.
	c.Send("bob", "cm-2", checker.Acked, "g_team", 2, "m2")

	// The final catch-up. The crash lost alice's unflushed acknowledgement,
	// so she is sent m1 again; her SDK drops it by message id.
	c.Deliver("alice/phone", "g_team", 1, "m1", "cm-1", "bob")
	c.Deliver("alice/phone", "g_team", 2, "m2", "cm-2", "bob")
	c.Deliver("bob/laptop", "g_team", 2, "m2", "cm-2", "bob")

	r := c.Report()
	fmt.Println(r.OK())
	fmt.Println(r)

	// A server that forgets a message fails the check.
	c.Send("carol", "cm-3", checker.Acked, "g_team", 3, "m3")
	c.Deliver("bob/laptop", "g_team", 3, "m3", "cm-3", "carol")
	r = c.Report()
	fmt.Println(r.OK(), r.Lost, r.Gaps)
	for _, d := range r.Details {
		fmt.Println(d)
	}
	// Output:
	// true
	// sent 2 (acked 2, failed 0, unknown 0) in 3 attempts; delivered 4 in 5 deliveries (redelivered 1, recovered 0); lost 0, duplicated 0, unexpected 0, reordered 0, gaps 0, conflicts 0: OK
	// false 1 1
	// lost: alice/phone never got g_team seq 3 (acked carol/cm-3: m3 at g_team seq 3)
	// gaps: alice/phone is missing 1 of g_team seq 1-3: 3
}

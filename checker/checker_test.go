package checker_test

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/checker"
)

// msg is one stored message of the scripts below.
type msg struct {
	sender, cmid string
	seq          uint64
	id           string
}

var (
	m1 = msg{"bob", "b1", 1, "m1"}
	m2 = msg{"alice", "a1", 2, "m2"}
	m3 = msg{"bob", "b2", 3, "m3"}
	m4 = msg{"alice", "a2", 4, "m4"}
)

const (
	alice = "alice/phone"
	bob   = "bob/laptop"
)

// acked records a send of m to conv c1 that was acknowledged.
func acked(c *checker.Checker, ms ...msg) {
	for _, m := range ms {
		c.Send(m.sender, m.cmid, checker.Acked, "c1", m.seq, m.id)
	}
}

// get records that device got ms in c1, without acknowledging.
func get(c *checker.Checker, device string, ms ...msg) {
	for _, m := range ms {
		c.Deliver(device, "c1", m.seq, m.id, m.cmid, m.sender)
	}
}

// getAck records that device got ms in c1 and acknowledged each.
func getAck(c *checker.Checker, device string, ms ...msg) {
	for _, m := range ms {
		get(c, device, m)
		c.Ack(device, "c1", m.seq)
	}
}

// both expects alice's and bob's devices to get c1.
func both(c *checker.Checker) {
	c.Expect(alice, "c1")
	c.Expect(bob, "c1")
}

func TestReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(c *checker.Checker)
		want checker.Report
	}{
		{
			name: "clean run",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m2, m3)
				getAck(c, alice, m1, m2, m3)
				getAck(c, bob, m1, m2, m3)
			},
			want: checker.Report{Sent: 3, Acked: 3, Attempts: 3, Deliveries: 6, Delivered: 6},
		},
		{
			name: "lost in the middle",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m2, m3)
				getAck(c, alice, m1, m3)
				getAck(c, bob, m1, m2, m3)
			},
			want: checker.Report{Sent: 3, Acked: 3, Attempts: 3, Deliveries: 5, Delivered: 5, Lost: 1, Gaps: 1},
		},
		{
			name: "lost at the end, by every device",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m2)
				getAck(c, alice, m1)
				getAck(c, bob, m1)
			},
			want: checker.Report{Sent: 2, Acked: 2, Attempts: 2, Deliveries: 2, Delivered: 2, Lost: 2, Gaps: 2},
		},
		{
			name: "duplicated: a retry acknowledged with a new seq and id",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1)
				c.Send("bob", "b1", checker.Acked, "c1", 2, "m1bis")
				again := msg{"bob", "b1", 2, "m1bis"}
				getAck(c, alice, m1, again)
				getAck(c, bob, m1, again)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 2, Deliveries: 4, Delivered: 4, Duplicated: 1},
		},
		{
			name: "duplicated: an unanswered attempt stored, then its retry stored again",
			run: func(c *checker.Checker) {
				both(c)
				c.Send("bob", "b1", checker.Unknown, "", 0, "")
				c.Send("bob", "b1", checker.Acked, "c1", 2, "m1bis")
				again := msg{"bob", "b1", 2, "m1bis"}
				getAck(c, alice, m1, again)
				getAck(c, bob, m1, again)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 2, Deliveries: 4, Delivered: 4, Duplicated: 1},
		},
		{
			name: "duplicated: redelivery of an acknowledged message without a crash",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m2)
				getAck(c, alice, m1, m2)
				get(c, alice, m1)
				getAck(c, bob, m1, m2)
			},
			want: checker.Report{Sent: 2, Acked: 2, Attempts: 2, Deliveries: 5, Delivered: 4, Duplicated: 1},
		},
		{
			name: "repeat of a message not yet acknowledged is retransmission",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m2)
				get(c, alice, m1, m2)
				get(c, alice, m1, m2) // reconnect before the device acknowledged
				c.Ack(alice, "c1", 2)
				getAck(c, bob, m1, m2)
			},
			want: checker.Report{Sent: 2, Acked: 2, Attempts: 2, Deliveries: 6, Delivered: 4},
		},
		{
			name: "redelivered after a crash",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m2)
				getAck(c, alice, m1, m2)
				getAck(c, bob, m1)
				c.Crash()
				get(c, alice, m1, m2)
				getAck(c, bob, m1, m2)
			},
			want: checker.Report{Sent: 2, Acked: 2, Attempts: 2, Deliveries: 7, Delivered: 4, Redelivered: 3},
		},
		{
			name: "redelivered once after a crash, then duplicated after the new ack",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1)
				getAck(c, alice, m1)
				getAck(c, bob, m1)
				c.Crash()
				get(c, alice, m1)
				c.Ack(alice, "c1", 1) // the restarted server knows it now
				get(c, alice, m1)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 4, Delivered: 2, Redelivered: 1, Duplicated: 1},
		},
		{
			name: "duplicated: a crash before the acknowledgement excuses nothing",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1)
				c.Crash()
				getAck(c, alice, m1)
				getAck(c, bob, m1)
				get(c, alice, m1)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 3, Delivered: 2, Duplicated: 1},
		},
		{
			name: "unexpected: a message nobody sent",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1)
				invented := msg{"", "", 2, "m9"}
				getAck(c, alice, m1, invented)
				getAck(c, bob, m1, invented)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 4, Delivered: 4, Unexpected: 2},
		},
		{
			name: "unexpected: a client message id that was never sent",
			run: func(c *checker.Checker) {
				c.Expect(alice, "c1")
				acked(c, m1)
				getAck(c, alice, m1, msg{"mallory", "x", 2, "m9"})
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 2, Delivered: 2, Unexpected: 1},
		},
		{
			name: "reordered",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m2, m3)
				get(c, alice, m2, m1, m3)
				c.Ack(alice, "c1", 3)
				getAck(c, bob, m1, m2, m3)
			},
			want: checker.Report{Sent: 3, Acked: 3, Attempts: 3, Deliveries: 6, Delivered: 6, Reordered: 1},
		},
		{
			name: "gap: a stored message of unknown outcome one device missed",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m3)
				c.Send("alice", "a1", checker.Unknown, "", 0, "")
				getAck(c, alice, m1, m3)
				getAck(c, bob, m1, m2, m3)
			},
			want: checker.Report{Sent: 3, Acked: 2, Unknown: 1, Attempts: 3, Deliveries: 5, Delivered: 5, Recovered: 1, Gaps: 1},
		},
		{
			name: "gaps: a seq the server never assigned",
			run: func(c *checker.Checker) {
				both(c)
				acked(c, m1, m3)
				getAck(c, alice, m1, m3)
				getAck(c, bob, m1, m3)
			},
			want: checker.Report{Sent: 2, Acked: 2, Attempts: 2, Deliveries: 4, Delivered: 4, Gaps: 2},
		},
		{
			name: "gaps: a device nobody declared counts from its first seq",
			run: func(c *checker.Checker) {
				acked(c, m1, m2, m3, m4)
				getAck(c, "dave/pc", m2, m4)
			},
			want: checker.Report{Sent: 4, Acked: 4, Attempts: 4, Deliveries: 2, Delivered: 2, Gaps: 1},
		},
		{
			name: "recovered: unknown outcome, but delivered",
			run: func(c *checker.Checker) {
				both(c)
				c.Send("bob", "b1", checker.Unknown, "", 0, "")
				getAck(c, alice, m1)
				getAck(c, bob, m1)
			},
			want: checker.Report{Sent: 1, Unknown: 1, Attempts: 1, Deliveries: 2, Delivered: 2, Recovered: 1},
		},
		{
			name: "unknown outcome never delivered is not lost",
			run: func(c *checker.Checker) {
				both(c)
				c.Send("bob", "b1", checker.Unknown, "c1", 0, "")
				c.Send("bob", "b1", checker.Failed, "c1", 0, "")
			},
			want: checker.Report{Sent: 1, Unknown: 1, Attempts: 2},
		},
		{
			name: "failed, then acknowledged retry; a later failed retry changes nothing",
			run: func(c *checker.Checker) {
				both(c)
				c.Send("bob", "b1", checker.Failed, "c1", 0, "")
				acked(c, m1)
				c.Send("bob", "b1", checker.Failed, "c1", 0, "")
				acked(c, m1) // the retry returns the original acknowledgement
				getAck(c, alice, m1)
				getAck(c, bob, m1)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 4, Deliveries: 2, Delivered: 2},
		},
		{
			name: "late joiner declared with ExpectFrom",
			run: func(c *checker.Checker) {
				c.ExpectFrom("carol/tab", "c1", 3)
				acked(c, m1, m2, m3, m4)
				getAck(c, "carol/tab", m3, m4)
			},
			want: checker.Report{Sent: 4, Acked: 4, Attempts: 4, Deliveries: 2, Delivered: 2},
		},
		{
			name: "late joiner declared with Expect misses the start",
			run: func(c *checker.Checker) {
				c.Expect("carol/tab", "c1")
				acked(c, m1, m2, m3, m4)
				getAck(c, "carol/tab", m3, m4)
			},
			want: checker.Report{Sent: 4, Acked: 4, Attempts: 4, Deliveries: 2, Delivered: 2, Lost: 2, Gaps: 2},
		},
		{
			name: "conflict: two messages at one seq",
			run: func(c *checker.Checker) {
				c.Send("bob", "b1", checker.Acked, "c1", 1, "m1")
				c.Send("alice", "a1", checker.Acked, "c1", 1, "m2")
			},
			want: checker.Report{Sent: 2, Acked: 2, Attempts: 2, Conflicts: 1},
		},
		{
			name: "conflict: one message at two seqs",
			run: func(c *checker.Checker) {
				acked(c, m1)
				get(c, alice, msg{"bob", "b1", 2, "m1"})
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 1, Delivered: 1, Conflicts: 1},
		},
		{
			name: "stored system event is expected, not unexpected",
			run: func(c *checker.Checker) {
				both(c)
				c.Stored("c1", 1, "sys1")
				acked(c, m2)
				sys := msg{"", "", 1, "sys1"}
				getAck(c, alice, sys, m2)
				getAck(c, bob, sys, m2)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 4, Delivered: 4},
		},
		{
			name: "stored system event missed",
			run: func(c *checker.Checker) {
				both(c)
				c.Stored("c1", 1, "sys1")
				acked(c, m2)
				getAck(c, alice, msg{"", "", 1, "sys1"}, m2)
				getAck(c, bob, m2)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 3, Delivered: 3, Lost: 1, Gaps: 1},
		},
		{
			name: "acknowledgement without id or seq matched by client message id",
			run: func(c *checker.Checker) {
				both(c)
				c.Send("bob", "b1", checker.Acked, "c1", 0, "")
				getAck(c, alice, m1)
				getAck(c, bob, m1)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 2, Delivered: 2},
		},
		{
			name: "acknowledgement without id or seq, delivered to one device only",
			run: func(c *checker.Checker) {
				both(c)
				c.Send("bob", "b1", checker.Acked, "c1", 0, "")
				getAck(c, bob, m1)
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 1, Delivered: 1, Lost: 1, Gaps: 1},
		},
		{
			name: "acknowledgement without id or seq, delivered nowhere",
			run: func(c *checker.Checker) {
				both(c)
				c.Send("bob", "b1", checker.Acked, "c1", 0, "")
			},
			want: checker.Report{Sent: 1, Acked: 1, Attempts: 1, Lost: 2},
		},
		{
			name: "conversations and devices are independent",
			run: func(c *checker.Checker) {
				c.Expect(alice, "c1", "c2")
				c.Send("bob", "x", checker.Acked, "c2", 1, "n1")
				c.Send("bob", "y", checker.Acked, "c2", 2, "n2")
				acked(c, m1)
				c.Deliver(alice, "c2", 1, "n1", "x", "bob")
				getAck(c, alice, m1)
				c.Deliver(alice, "c2", 2, "n2", "y", "bob")
				c.Ack(alice, "c2", 2)
				get(c, bob, m1) // not expected, complete anyway
			},
			want: checker.Report{Sent: 3, Acked: 3, Attempts: 3, Deliveries: 4, Delivered: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := checker.New()
			tt.run(c)
			checkReport(t, c.Report(), tt.want)
		})
	}
}

// checkReport compares the counts of got with want, and checks that the
// details name exactly the kinds of violation that were counted.
func checkReport(t *testing.T, got, want checker.Report) {
	t.Helper()
	details := got.Details
	got.Details = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counts:\n got %v\nwant %v", got, want)
	}
	kinds := []struct {
		name string
		n    int
	}{
		{"lost", got.Lost}, {"duplicated", got.Duplicated}, {"unexpected", got.Unexpected},
		{"reordered", got.Reordered}, {"gaps", got.Gaps}, {"conflicts", got.Conflicts},
	}
	for _, k := range kinds {
		found := false
		for _, d := range details {
			if strings.HasPrefix(d, k.name+": ") {
				found = true
			}
		}
		if found != (k.n > 0) {
			t.Errorf("%s = %d, but details mention it: %v\n%s", k.name, k.n, found, strings.Join(details, "\n"))
		}
	}
	wantOK := want.Lost+want.Duplicated+want.Unexpected+want.Reordered+want.Gaps+want.Conflicts == 0
	if got.OK() != wantOK {
		t.Errorf("OK() = %v, want %v", got.OK(), wantOK)
	}
}

func TestAckWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		ackAt   time.Duration // after t0
		crashAt time.Duration
		want    checker.Report
	}{
		{
			name:    "ack inside the window may be lost",
			ackAt:   0,
			crashAt: 500 * time.Millisecond,
			want:    checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 2, Delivered: 1, Redelivered: 1},
		},
		{
			name:    "ack older than the window must have been flushed",
			ackAt:   0,
			crashAt: 5 * time.Second,
			want:    checker.Report{Sent: 1, Acked: 1, Attempts: 1, Deliveries: 2, Delivered: 1, Duplicated: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := t0
			c := checker.New(checker.WithAckWindow(time.Second), checker.WithClock(func() time.Time { return now }))
			c.Expect(alice, "c1")
			acked(c, m1)
			get(c, alice, m1)
			now = t0.Add(tt.ackAt)
			c.Ack(alice, "c1", 1)
			now = t0.Add(tt.crashAt)
			c.Crash()
			get(c, alice, m1)
			checkReport(t, c.Report(), tt.want)
		})
	}
}

func TestAckWindowSeveralCrashes(t *testing.T) {
	t.Parallel()
	// An acknowledgement that outlived the window before the first crash
	// is durable; one made just before the second crash may be lost.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	c := checker.New(checker.WithAckWindow(time.Second), checker.WithClock(func() time.Time { return now }))
	acked(c, m1, m2)
	getAck(c, alice, m1)
	now = now.Add(10 * time.Second)
	c.Crash()
	now = now.Add(10 * time.Second)
	getAck(c, alice, m2)
	now = now.Add(100 * time.Millisecond)
	c.Crash()
	get(c, alice, m2) // acknowledged 100 ms before the crash: excused
	get(c, alice, m1) // durable since before the first crash: not excused
	r := c.Report()
	if r.Redelivered != 1 || r.Duplicated != 1 {
		t.Errorf("Redelivered = %d, Duplicated = %d, want 1 and 1\n%v", r.Redelivered, r.Duplicated, r)
	}
}

func TestDetailsAndString(t *testing.T) {
	t.Parallel()
	c := checker.New(checker.WithMaxDetails(2))
	c.Expect(alice, "c1")
	for i := range 5 {
		c.Send("bob", fmt.Sprint("b", i), checker.Acked, "c1", uint64(i+1), fmt.Sprint("m", i))
	}
	r := c.Report()
	if r.Lost != 5 || r.OK() {
		t.Fatalf("Lost = %d, OK = %v, want 5 and false", r.Lost, r.OK())
	}
	lost := 0
	for _, d := range r.Details {
		if strings.HasPrefix(d, "lost: ") {
			lost++
		}
	}
	if lost != 2 {
		t.Errorf("%d lost details, want 2: %q", lost, r.Details)
	}
	s := r.String()
	for _, want := range []string{"lost 5", ": FAIL", "\n\tlost: alice/phone never got c1 seq 1", "\n\tgaps: alice/phone is missing 5 of c1 seq 1-5: 1-5"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, want it to contain %q", s, want)
		}
	}

	none := checker.New(checker.WithMaxDetails(0))
	none.Expect(alice, "c1")
	acked(none, m1)
	if r := none.Report(); r.Lost != 1 || len(r.Details) != 0 {
		t.Errorf("WithMaxDetails(0): Lost = %d, Details = %q", r.Lost, r.Details)
	}

	ok := checker.New()
	if s := ok.Report().String(); !strings.HasSuffix(s, ": OK") {
		t.Errorf("empty run: String() = %q, want it to end in \": OK\"", s)
	}
}

func TestHugeSeqDoesNotWrap(t *testing.T) {
	t.Parallel()
	c := checker.New()
	c.Expect(alice, "c1")
	acked(c, m1)
	getAck(c, alice, m1)
	get(c, bob, msg{"", "", ^uint64(0), "bogus"})
	r := c.Report()
	if r.Gaps <= 0 || r.Unexpected != 1 || r.OK() {
		t.Errorf("Gaps = %d, Unexpected = %d, OK = %v", r.Gaps, r.Unexpected, r.OK())
	}
}

func TestMisusePanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(c *checker.Checker)
	}{
		{"send without client message id", func(c *checker.Checker) { c.Send("bob", "", checker.Acked, "c1", 1, "m1") }},
		{"acked send without conversation", func(c *checker.Checker) { c.Send("bob", "b1", checker.Acked, "", 1, "m1") }},
		{"invalid outcome", func(c *checker.Checker) { c.Send("bob", "b1", checker.Outcome(7), "c1", 1, "m1") }},
		{"delivery with seq 0", func(c *checker.Checker) { c.Deliver(alice, "c1", 0, "m1", "b1", "bob") }},
		{"delivery without message id", func(c *checker.Checker) { c.Deliver(alice, "c1", 1, "", "b1", "bob") }},
		{"ack without device", func(c *checker.Checker) { c.Ack("", "c1", 1) }},
		{"expect without conversation", func(c *checker.Checker) { c.Expect(alice, "") }},
		{"stored without seq", func(c *checker.Checker) { c.Stored("c1", 0, "m1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.call(checker.New())
		})
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	for o, want := range map[checker.Outcome]string{
		checker.Acked: "acked", checker.Failed: "failed", checker.Unknown: "unknown", checker.Outcome(9): "Outcome(9)",
	} {
		if got := o.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(o), got, want)
		}
	}
}

// server simulates a correct server under crashes: it stores each logical
// message once, assigns gap-free seqs, keeps acknowledged positions in
// memory and flushes them now and then; a crash forgets what was not
// flushed, so devices are sent again what they had acknowledged.
type server struct {
	mu       sync.Mutex
	log      map[string][]msg          // conversation → messages by seq-1
	byCmid   map[string]msg            // sender/cmid → stored message
	mem      map[string]map[string]int // device → conversation → acknowledged seq
	durable  map[string]map[string]int
	c        *checker.Checker
	nextID   int
	crashes  int
	unknowns int
}

// send stores (sender, cmid) in conv once and returns it; answered is
// false for every 7th new message, whose answer is lost.
func (s *server) send(sender, cmid, conv string) (m msg, answered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sender + "/" + cmid
	if m, ok := s.byCmid[key]; ok {
		return m, true
	}
	s.nextID++
	m = msg{sender, cmid, uint64(len(s.log[conv]) + 1), fmt.Sprint("id", s.nextID)}
	s.log[conv] = append(s.log[conv], m)
	s.byCmid[key] = m
	if s.nextID%7 == 0 {
		s.unknowns++
		return m, false
	}
	return m, true
}

// fetch returns what device has not acknowledged in conv.
func (s *server) fetch(device, conv string) []msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]msg(nil), s.log[conv][s.mem[device][conv]:]...)
}

// ack records and applies a cumulative acknowledgement.
func (s *server) ack(device, conv string, seq int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.Ack(device, conv, uint64(seq))
	s.mem[device][conv] = max(s.mem[device][conv], seq)
}

// caughtUp reports whether every device acknowledged everything.
func (s *server) caughtUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, convs := range s.mem {
		for cv, ms := range s.log {
			if convs[cv] != len(ms) {
				return false
			}
		}
	}
	return true
}

func (s *server) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, convs := range s.mem {
		for cv, seq := range convs {
			s.durable[d][cv] = seq
		}
	}
}

func (s *server) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.Crash()
	s.crashes++
	for d, convs := range s.durable {
		for cv, seq := range convs {
			s.mem[d][cv] = seq
		}
	}
}

func TestConcurrentCorrectServerUnderCrashes(t *testing.T) {
	t.Parallel()
	// Senders and devices run concurrently in rounds. After each round the
	// devices catch up; then the server flushes its acknowledged positions
	// (even rounds) or crashes before flushing them (odd rounds), so every
	// device is sent that round's messages again.
	const (
		rounds   = 6
		senders  = 8
		perRound = 25
	)
	convs := []string{"g_a", "g_b", "g_c"}
	devices := []string{"u0/phone", "u0/laptop", "u1/phone", "u2/phone", "u3/tab", "u4/phone"}
	c := checker.New()
	s := &server{
		log: map[string][]msg{}, byCmid: map[string]msg{},
		mem: map[string]map[string]int{}, durable: map[string]map[string]int{}, c: c,
	}
	for _, d := range devices {
		s.mem[d], s.durable[d] = map[string]int{}, map[string]int{}
		c.Expect(d, convs...)
	}

	var reading sync.WaitGroup
	var done atomic.Bool
	for _, d := range devices {
		reading.Go(func() {
			for {
				final := done.Load()
				idle := true
				for _, cv := range convs {
					ms := s.fetch(d, cv)
					for k, m := range ms {
						c.Deliver(d, cv, m.seq, m.id, m.cmid, m.sender)
						if k%5 == 4 || k == len(ms)-1 {
							s.ack(d, cv, int(m.seq))
						}
						idle = false
					}
				}
				if final && idle {
					return
				}
				if idle {
					runtime.Gosched()
				}
			}
		})
	}

	var gaveUp atomic.Int64 // messages whose sender never learned the outcome
	for round := range rounds {
		var sending sync.WaitGroup
		for i := range senders {
			sending.Go(func() {
				sender := fmt.Sprint("u", i)
				for j := range perRound {
					cmid := fmt.Sprint("c", round, "-", j)
					conv := convs[(i+j)%len(convs)]
					for {
						m, ok := s.send(sender, cmid, conv)
						if ok {
							c.Send(sender, cmid, checker.Acked, conv, m.seq, m.id)
							break
						}
						c.Send(sender, cmid, checker.Unknown, "", 0, "")
						if j%2 == 0 {
							gaveUp.Add(1)
							break
						}
					}
				}
			})
		}
		sending.Wait()
		for !s.caughtUp() {
			runtime.Gosched()
		}
		if round%2 == 0 {
			s.flush()
		} else {
			s.crash()
		}
	}
	done.Store(true) // one more full pass per device: the final catch-up
	reading.Wait()

	r := c.Report()
	if !r.OK() {
		t.Fatalf("a correct server failed the check:\n%v", r)
	}
	total, lost := senders*rounds*perRound, int(gaveUp.Load())
	want := checker.Report{
		Sent: total, Acked: total - lost, Unknown: lost, Attempts: total + s.unknowns - lost,
		Delivered:   total * len(devices),
		Redelivered: rounds / 2 * senders * perRound * len(devices),
		Recovered:   lost,
	}
	want.Deliveries = want.Delivered + want.Redelivered
	checkReport(t, r, want)
	t.Logf("%d crashes: %v", s.crashes, r)
}

func TestConcurrentFaultyServerIsCaught(t *testing.T) {
	t.Parallel()
	// Many goroutines record a run in which every 10th message is lost to
	// one device; the counts must not depend on interleaving.
	c := checker.New()
	const devices, msgs = 8, 500
	for d := range devices {
		c.Expect(fmt.Sprint("d", d), "c1")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= msgs; i++ {
			c.Send("bob", fmt.Sprint("b", i), checker.Acked, "c1", uint64(i), fmt.Sprint("m", i))
		}
	})
	for d := range devices {
		wg.Go(func() {
			dev := fmt.Sprint("d", d)
			for i := 1; i <= msgs; i++ {
				if d == 0 && i%10 == 0 {
					continue
				}
				c.Deliver(dev, "c1", uint64(i), fmt.Sprint("m", i), fmt.Sprint("b", i), "bob")
				c.Ack(dev, "c1", uint64(i))
				if i%100 == 0 {
					_ = c.Report() // Report while recording is allowed
				}
			}
		})
	}
	wg.Wait()
	r := c.Report()
	if r.Lost != msgs/10 || r.Gaps != msgs/10 || r.Delivered != devices*msgs-msgs/10 || r.OK() {
		t.Errorf("got %v\nwant lost = gaps = %d", r, msgs/10)
	}
}

func BenchmarkRecord(b *testing.B) {
	// One op is a send, a delivery to each of 4 devices and their acks.
	c := checker.New()
	devs := []string{"a/1", "b/1", "c/1", "d/1"}
	for _, d := range devs {
		c.Expect(d, "c0", "c1", "c2", "c3")
	}
	seqs := make([]uint64, 4)
	b.ReportAllocs()
	for i := range b.N {
		conv := i % 4
		seqs[conv]++
		cv, id, cmid := fmt.Sprint("c", conv), fmt.Sprint("m", i), fmt.Sprint("x", i)
		c.Send("bob", cmid, checker.Acked, cv, seqs[conv], id)
		for _, d := range devs {
			c.Deliver(d, cv, seqs[conv], id, cmid, "bob")
			c.Ack(d, cv, seqs[conv])
		}
	}
	if r := c.Report(); !r.OK() {
		b.Fatal(r)
	}
}

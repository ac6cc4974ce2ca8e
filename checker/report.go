package checker

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Report is what a recorded run adds up to. The package documentation
// defines each count exactly.
type Report struct {
	// Sent counts logical messages (distinct sender and client message id)
	// recorded by Send; Acked, Failed and Unknown split them by their best
	// outcome. Attempts counts Send calls.
	Sent, Acked, Failed, Unknown int
	Attempts                     int

	// Deliveries counts Deliver calls; Delivered counts distinct (device,
	// message id) pairs, what the apps show.
	Deliveries int
	Delivered  int

	// Redelivered counts repeats of acknowledged messages that a crash
	// excuses. Reported, not a failure.
	Redelivered int
	// Recovered counts logical messages whose outcome was Unknown or
	// Failed but which some device got: they were stored. Not a failure.
	Recovered int

	// Lost counts (device, message) pairs: an acknowledged or Stored
	// message an expecting device never got.
	Lost int
	// Duplicated counts repeats of acknowledged messages that no crash
	// excuses, plus extra stored copies of one logical message.
	Duplicated int
	// Unexpected counts (device, message) pairs whose message was never
	// sent.
	Unexpected int
	// Reordered counts first-time deliveries with a lower seq than an
	// earlier one on the same device and conversation.
	Reordered int
	// Gaps counts missing seqs per device and conversation.
	Gaps int
	// Conflicts counts message ids seen at two positions or for two logical
	// messages, or sharing a (conversation, seq) with another message id.
	Conflicts int

	// Details holds up to the configured number of examples of each
	// violation, grouped by kind, each line starting with the kind.
	Details []string
}

// OK reports whether the run kept the delivery contract: Lost, Duplicated,
// Unexpected, Reordered, Gaps and Conflicts are all zero.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Unexpected == 0 &&
		r.Reordered == 0 && r.Gaps == 0 && r.Conflicts == 0
}

// String is a one-line summary followed by the details, one per line,
// suitable for a test failure message.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d (acked %d, failed %d, unknown %d) in %d attempts; "+
		"delivered %d in %d deliveries (redelivered %d, recovered %d); "+
		"lost %d, duplicated %d, unexpected %d, reordered %d, gaps %d, conflicts %d",
		r.Sent, r.Acked, r.Failed, r.Unknown, r.Attempts,
		r.Delivered, r.Deliveries, r.Redelivered, r.Recovered,
		r.Lost, r.Duplicated, r.Unexpected, r.Reordered, r.Gaps, r.Conflicts)
	if r.OK() {
		b.WriteString(": OK")
	} else {
		b.WriteString(": FAIL")
	}
	for _, d := range r.Details {
		b.WriteString("\n\t")
		b.WriteString(d)
	}
	return b.String()
}

// Report analyzes everything recorded so far. Call it after every device's
// final catch-up read; before that, gaps and losses are expected.
func (c *Checker) Report() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Report{
		Attempts:    c.attempts,
		Deliveries:  c.deliveries,
		Delivered:   len(c.delivered),
		Redelivered: c.redelivered,
		Duplicated:  c.repeated,
		Reordered:   c.reordered,
	}
	var notes [numKinds][]string
	for k := range notes {
		notes[k] = slices.Clone(c.notes[k])
	}
	note := func(k kind, format string, args ...any) {
		if len(notes[k]) < c.maxDetails {
			notes[k] = append(notes[k], kindNames[k]+": "+fmt.Sprintf(format, args...))
		}
	}

	// Logical messages: outcomes, recoveries, stored copies.
	for l := range c.logicals {
		lg := &c.logicals[l]
		if lg.sent {
			r.Sent++
			switch lg.outcome {
			case Acked:
				r.Acked++
			case Failed:
				r.Failed++
			default:
				r.Unknown++
			}
			if lg.outcome != Acked && slices.ContainsFunc(lg.msgs, func(m int32) bool { return c.msgs[m].devices > 0 }) {
				r.Recovered++
			}
		}
		var pos []slotKey
		for _, m := range lg.msgs {
			if mi := &c.msgs[m]; mi.placed {
				pos = appendNew(pos, slotKey{mi.conv, mi.seq})
			}
		}
		for _, a := range lg.anon {
			pos = appendNew(pos, a)
		}
		if n := max(len(lg.msgs), len(pos)); n > 1 {
			r.Duplicated += n - 1
			note(kindDuplicated, "%s stored %d times: %s", c.logicalName(int32(l)), n, c.describe(lg))
		}
	}

	// Server messages: unexpected ones, conflicts.
	for m := range c.msgs {
		mi := &c.msgs[m]
		if mi.conflict {
			r.Conflicts++
		}
		if mi.devices == 0 || mi.stored || (mi.logical >= 0 && c.logicals[mi.logical].sent) {
			continue
		}
		r.Unexpected += int(mi.devices)
		from := "no client message id"
		if mi.logical >= 0 {
			from = "client message id " + c.logicalName(mi.logical) + " never sent"
		}
		note(kindUnexpected, "message %s at %s seq %d (%s) delivered to %d devices, first %s",
			c.msgIDs.list[m], c.convs.list[mi.conv], mi.seq, from, mi.devices, c.devices.list[mi.firstDev])
	}

	r.Lost = c.lost(note)
	r.Gaps = c.gaps(note)

	for _, n := range notes {
		r.Details = append(r.Details, n...)
	}
	return r
}

// required is a message expecting devices must get: an acknowledged
// logical message (logical >= 0) or a Stored message id (msg >= 0). seq 0
// means unknown.
type required struct {
	seq          uint64
	logical, msg int32
}

// lost counts (device, message) pairs of required messages that expecting
// devices never got.
func (c *Checker) lost(note func(kind, string, ...any)) int {
	byConv := make(map[int32][]required)
	for l := range c.logicals {
		lg := &c.logicals[l]
		if !lg.sent || lg.outcome != Acked {
			continue
		}
		var seq uint64
		for _, m := range lg.msgs {
			if mi := &c.msgs[m]; mi.placed && mi.conv == lg.conv {
				seq = lowest(seq, mi.seq)
			}
		}
		for _, a := range lg.anon {
			if a.conv == lg.conv {
				seq = lowest(seq, a.seq)
			}
		}
		byConv[lg.conv] = append(byConv[lg.conv], required{seq, int32(l), -1})
	}
	for m := range c.msgs {
		mi := &c.msgs[m]
		if !mi.stored {
			continue
		}
		if mi.logical >= 0 {
			if lg := &c.logicals[mi.logical]; lg.sent && lg.outcome == Acked {
				continue // required through its logical message
			}
		}
		byConv[mi.conv] = append(byConv[mi.conv], required{mi.seq, -1, int32(m)})
	}
	for _, rs := range byConv {
		slices.SortFunc(rs, func(a, b required) int {
			return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.logical, b.logical), cmp.Compare(a.msg, b.msg))
		})
	}

	n := 0
	for _, k := range c.sortedPairs(c.expectedPairs()) {
		from := c.expects[k]
		for _, rq := range byConv[k.conv] {
			if rq.seq != 0 && rq.seq < from {
				continue
			}
			if rq.msg >= 0 {
				if _, ok := c.delivered[devMsg{k.dev, rq.msg}]; ok {
					continue
				}
				n++
				note(kindLost, "%s never got %s seq %d (stored message %s)",
					c.devices.list[k.dev], c.convs.list[k.conv], rq.seq, c.msgIDs.list[rq.msg])
				continue
			}
			lg := &c.logicals[rq.logical]
			if slices.ContainsFunc(lg.msgs, func(m int32) bool {
				_, ok := c.delivered[devMsg{k.dev, m}]
				return ok
			}) {
				continue
			}
			n++
			note(kindLost, "%s never got %s seq %s (acked %s: %s)", c.devices.list[k.dev], c.convs.list[k.conv],
				seqText(rq.seq), c.logicalName(rq.logical), c.describe(lg))
		}
	}
	return n
}

// gaps counts, per device and conversation, the seqs from its start to the
// highest known seq of the conversation that the device never got.
func (c *Checker) gaps(note func(kind, string, ...any)) int {
	pairs := c.expectedPairs()
	for k, st := range c.streams {
		if _, ok := c.expects[k]; !ok && len(st.seqs) > 0 {
			pairs = append(pairs, k)
		}
	}
	total := 0
	for _, k := range c.sortedPairs(pairs) {
		var seqs []uint64
		if st := c.streams[k]; st != nil {
			slices.Sort(st.seqs)
			seqs = st.seqs
		}
		start, ok := c.expects[k]
		if !ok {
			start = seqs[0]
		}
		end := c.convMax[k.conv]
		if end < start {
			continue
		}
		var missing uint64
		var ranges []string
		gap := func(a, b uint64) {
			missing += b - a + 1
			switch {
			case len(ranges) < 5 && a == b:
				ranges = append(ranges, fmt.Sprint(a))
			case len(ranges) < 5:
				ranges = append(ranges, fmt.Sprintf("%d-%d", a, b))
			case len(ranges) == 5:
				ranges = append(ranges, "...")
			}
		}
		next, done := start, false
		for _, s := range seqs {
			if s < next {
				continue
			}
			if s > end {
				break
			}
			if s > next {
				gap(next, s-1)
			}
			if s == end {
				done = true
				break
			}
			next = s + 1
		}
		if !done {
			gap(next, end)
		}
		if missing == 0 {
			continue
		}
		total = addSat(total, missing)
		note(kindGaps, "%s is missing %d of %s seq %d-%d: %s", c.devices.list[k.dev], missing,
			c.convs.list[k.conv], start, end, strings.Join(ranges, ", "))
	}
	return total
}

func (c *Checker) expectedPairs() []pairKey {
	ks := make([]pairKey, 0, len(c.expects))
	for k := range c.expects {
		ks = append(ks, k)
	}
	return ks
}

// sortedPairs sorts ks by device and conversation name, so that Details are
// the same for the same recording.
func (c *Checker) sortedPairs(ks []pairKey) []pairKey {
	slices.SortFunc(ks, func(a, b pairKey) int {
		return cmp.Or(strings.Compare(c.devices.list[a.dev], c.devices.list[b.dev]),
			strings.Compare(c.convs.list[a.conv], c.convs.list[b.conv]))
	})
	return ks
}

// describe lists the server copies of a logical message.
func (c *Checker) describe(lg *logical) string {
	var parts []string
	for _, m := range lg.msgs {
		mi := &c.msgs[m]
		if mi.placed {
			parts = append(parts, fmt.Sprintf("%s at %s seq %d", c.msgIDs.list[m], c.convs.list[mi.conv], mi.seq))
		} else {
			parts = append(parts, c.msgIDs.list[m]+" at an unknown seq")
		}
	}
	for _, a := range lg.anon {
		parts = append(parts, fmt.Sprintf("acked at %s seq %d", c.convs.list[a.conv], a.seq))
	}
	if len(parts) == 0 {
		return "no message id or seq known"
	}
	return strings.Join(parts, ", ")
}

func appendNew(s []slotKey, k slotKey) []slotKey {
	if slices.Contains(s, k) {
		return s
	}
	return append(s, k)
}

// lowest returns the lower of two seqs where 0 means unknown.
func lowest(a, b uint64) uint64 {
	if a == 0 {
		return b
	}
	return min(a, b)
}

func seqText(seq uint64) string {
	if seq == 0 {
		return "unknown"
	}
	return fmt.Sprint(seq)
}

// addSat adds n to total, saturating at math.MaxInt (a bogus seq near
// 2^64 must not wrap the count).
func addSat(total int, n uint64) int {
	if n > uint64(math.MaxInt-total) {
		return math.MaxInt
	}
	return total + int(n)
}

package core

import "time"

// gatherer decides how long a batch keeps collecting requests before its
// commit. Every request that joins a batch saves a whole commit: on the
// embedded store that is an fsync (about 45 µs of kernel CPU on the
// reference machine) and the transaction's fixed cost, together well above
// 100 µs, against about 12 µs per row. Waiting pays when sends arrive
// faster than commits could take them one by one but not all at once (an
// open-loop load, many users). It does not pay for a few closed-loop
// senders that send again only after their ack: there a wait gains nothing
// and only adds latency. So the gatherer
//   - waits only while requests keep arriving: each step at most twice the
//     recent time between two requests, and the batch as a whole at most
//     max after its first request was queued (DESIGN.md §2.2: one
//     transaction per flush of at most 1–2 ms);
//   - stops waiting when its waits stop gaining requests, and tries again
//     every gatherProbeEvery batches.
//
// A step's timer may fire up to a millisecond late when the process is
// otherwise idle (the runtime's poller sleeps in whole milliseconds), so a
// batch can wait a little past max; under load timers are checked at every
// scheduling point and fire on time.
//
// It is owned by the commit loop (not safe for concurrent use).
type gatherer struct {
	max      time.Duration // 0: never wait
	lastAt   time.Time     // when the last request taken was queued
	interval time.Duration // moving average of the time between two queued requests
	gain     float64       // moving average of the requests a wait added
	skipped  int           // batches committed without trying since gain fell low
}

// gatherProbeEvery is how often a gatherer whose waits stopped gaining
// tries again (a lone closed-loop sender pays one wasted wait in that many
// commits).
const gatherProbeEvery = 256

// gatherMinGain is the average number of requests a wait must add to be
// kept up.
const gatherMinGain = 0.5

func newGatherer(max time.Duration) *gatherer {
	return &gatherer{max: max, gain: 1}
}

// observe notes a request taken from the queue, queued at at.
func (g *gatherer) observe(at time.Time) {
	if !g.lastAt.IsZero() {
		d := max(at.Sub(g.lastAt), 0)
		g.interval += (d - g.interval) / 8
	}
	g.lastAt = at
}

// try reports whether this batch should wait for more requests at all.
func (g *gatherer) try() bool {
	if g.max <= 0 {
		return false
	}
	if g.gain >= gatherMinGain {
		return true
	}
	if g.skipped++; g.skipped >= gatherProbeEvery {
		g.skipped = 0
		return true
	}
	return false
}

// step returns how long to wait for the next request of a batch whose
// first request was queued at first; 0 means commit now.
func (g *gatherer) step(first, now time.Time) time.Duration {
	left := g.max - now.Sub(first)
	gap := 2 * g.interval
	if left <= 0 || gap <= 0 || gap > g.max {
		// The batch has waited long enough, or requests come all at once
		// (nothing is on its way) or too rarely to gain within max.
		return 0
	}
	return min(gap, left)
}

// record notes how many requests a batch's wait added.
func (g *gatherer) record(added int) {
	g.gain += (float64(added) - g.gain) / 4
}

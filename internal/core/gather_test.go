package core

import (
	"context"
	"fmt"
	"testing"
	"time"
)

var gatherT0 = time.Unix(1_767_225_600, 0)

// arrive makes g observe requests queued every gap, n of them, and returns
// the time of the last.
func arrive(g *gatherer, from time.Time, gap time.Duration, n int) time.Time {
	at := from
	for i := range n {
		at = from.Add(time.Duration(i) * gap)
		g.observe(at)
	}
	return at
}

func TestGathererOff(t *testing.T) {
	t.Parallel()
	g := newGatherer(0)
	arrive(g, gatherT0, 100*time.Microsecond, 50)
	if g.try() {
		t.Fatal("a gatherer with max 0 wants to wait")
	}
}

// TestGathererStep: a steady stream waits about two arrival intervals per
// step, never past max after the batch's first request; a burst (requests
// all at once) and a trickle (slower than max) do not wait.
func TestGathererStep(t *testing.T) {
	t.Parallel()
	const max = time.Millisecond
	tests := []struct {
		name  string
		gap   time.Duration // between queued requests
		since time.Duration // now minus the batch's first request
		want  time.Duration
	}{
		{"steady stream", 250 * time.Microsecond, 0, 500 * time.Microsecond},
		{"steady stream, late in the batch", 250 * time.Microsecond, 800 * time.Microsecond, 200 * time.Microsecond},
		{"batch already waited max", 250 * time.Microsecond, max, 0},
		{"first request older than max", 100 * time.Microsecond, 3 * max, 0},
		{"burst: all at once", 0, 0, 0},
		{"trickle: slower than max", 2 * max, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGatherer(max)
			last := arrive(g, gatherT0, tt.gap, 200)
			got := g.step(last, last.Add(tt.since))
			// The moving average converges on the gap; allow 1 %.
			if d := got - tt.want; d > tt.want/100 || -d > tt.want/100 {
				t.Errorf("step = %v, want %v (interval %v)", got, tt.want, g.interval)
			}
		})
	}
}

// TestGathererStopsWhenWaitsGainNothing: a lone closed-loop sender's waits
// add nothing; the gatherer then stops waiting, except for one probe in
// every gatherProbeEvery batches, and resumes as soon as a probe gains.
func TestGathererStopsWhenWaitsGainNothing(t *testing.T) {
	t.Parallel()
	g := newGatherer(time.Millisecond)
	tries := 0
	for range 10 {
		if g.try() {
			tries++
			g.record(0)
		}
	}
	if g.try() {
		t.Fatalf("still waiting after %d waits that gained nothing (gain %.2f)", tries, g.gain)
	}
	probes := 0
	for range 4 * gatherProbeEvery {
		if g.try() {
			probes++
			g.record(0)
		}
	}
	if probes != 4 {
		t.Errorf("%d probes in %d batches, want 4", probes, 4*gatherProbeEvery)
	}
	for i := 0; i < gatherProbeEvery && !g.try(); i++ {
	}
	g.record(5) // a probe that gained: the load changed
	if !g.try() {
		t.Errorf("not waiting after a probe gained 5 requests (gain %.2f)", g.gain)
	}
}

// TestCommitterLoneSenderStopsWaiting: through the committer, a sender that
// waits for each ack makes the commit loop stop waiting for company.
func TestCommitterLoneSenderStopsWaiting(t *testing.T) {
	t.Parallel()
	env := newCommitterEnvWait(t, false, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		res, err := env.cm.append(ctx, msg(env.conv, "alice", fmt.Sprint("l-", i)))
		if err != nil || res.Err != nil || res.Message.Seq != uint64(i+1) {
			t.Fatalf("send %d: %v / %v, seq %d", i, err, res.Err, res.Message.Seq)
		}
	}
	env.stop() // run has returned: its gatherer can be read
	if g := env.cm.gather; g.gain >= gatherMinGain {
		t.Errorf("after 20 sends of a lone closed-loop sender the gatherer's gain is %.2f, want < %.2f", g.gain, gatherMinGain)
	}
}

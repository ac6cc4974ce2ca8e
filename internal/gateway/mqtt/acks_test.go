package mqtt

import (
	"fmt"
	"testing"
)

// TestSettleAdvancesOverTheAcknowledgedPrefix: deliveries of seqs 1–6 of
// one conversation, settled (PUBACK, or too large to send) in various
// orders; the position advances only over the settled prefix.
func TestSettleAdvancesOverTheAcknowledgedPrefix(t *testing.T) {
	for _, tc := range []struct {
		order []uint64
		want  []uint64 // the position after each settle; 0: unchanged
	}{
		{[]uint64{1, 2, 3, 4, 5, 6}, []uint64{1, 2, 3, 4, 5, 6}},
		{[]uint64{3, 1, 2, 6, 5, 4}, []uint64{0, 1, 3, 0, 0, 6}},
		{[]uint64{6, 5, 4, 3, 2, 1}, []uint64{0, 0, 0, 0, 0, 6}},
		{[]uint64{2, 4, 6, 1, 3, 5}, []uint64{0, 0, 0, 2, 4, 6}},
		{[]uint64{2, 3, 5, 4, 1, 6}, []uint64{0, 0, 0, 0, 5, 6}},
		{[]uint64{1, 3, 3, 9}, []uint64{1, 0, 0, 0}}, // a repeat, and an unknown seq
	} {
		t.Run(fmt.Sprint(tc.order), func(t *testing.T) {
			c := &conn{runs: map[string][]ackRun{}}
			for seq := uint64(1); seq <= 6; seq++ {
				c.runs["d_x"] = append(c.runs["d_x"], ackRun{seq: seq})
			}
			for i, seq := range tc.order {
				to, ok := c.settle(position{conv: "d_x", seq: seq})
				if !ok {
					to = 0
				}
				if to != tc.want[i] {
					t.Fatalf("settling %d (step %d): position %d (advance %v), want %d; runs %v", seq, i, to, ok, tc.want[i], c.runs["d_x"])
				}
				// Bounded: no settled run first, none next to another.
				runs := c.runs["d_x"]
				for j, r := range runs {
					if r.done && (j == 0 || runs[j-1].done) {
						t.Fatalf("settling %d: runs %v", seq, runs)
					}
				}
			}
			if len(tc.order) == 6 && len(c.runs) != 0 {
				t.Fatalf("runs left after everything was settled: %v", c.runs)
			}
		})
	}
}

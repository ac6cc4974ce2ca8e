package measure

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestB1Schedule(t *testing.T) {
	t.Parallel()
	s := OpenSchedule{Rate: 3, Total: 7}
	for k, want := range []time.Duration{0, 333333333, 666666666, time.Second, 1333333333} {
		if got := s.at(k); got != want {
			t.Errorf("at(%d) = %v, want %v", k, got, want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{-1, 0}, {0, 1}, {333333332, 1}, {333333334, 2}, {time.Second, 4}, {time.Hour, 7}} {
		if got := s.Due(tc.d); got != tc.want {
			t.Errorf("due(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}

	// Every item once, in order, never before its time.
	s = OpenSchedule{Start: time.Now(), Rate: 2000, Total: 100}
	var ks []int
	n := s.Run(context.Background(), func(k int, lag time.Duration) {
		if lag < 0 || time.Since(s.Start) < s.at(k) {
			t.Errorf("item %d issued early (lag %v)", k, lag)
		}
		ks = append(ks, k)
	})
	if n != 100 || len(ks) != 100 {
		t.Fatalf("issued %d (%d calls), want 100", n, len(ks))
	}
	for i, k := range ks {
		if k != i {
			t.Fatalf("item %d issued as %d-th", k, i)
		}
	}
	if time.Since(s.Start) < s.at(99) {
		t.Fatal("run returned before the last item's time")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := (OpenSchedule{Start: time.Now(), Rate: 1, Total: 10}).Run(ctx, func(int, time.Duration) {}); n != 1 {
		t.Fatalf("cancelled run issued %d, want 1", n)
	}
}

func TestB1ItemTimes(t *testing.T) {
	t.Parallel()
	s := OpenSchedule{Rate: 1000, Total: 5} // item k at k ms
	it := NewItemTimes(5)
	if !it.Mark(1, 3*time.Millisecond) || it.Mark(1, 4*time.Millisecond) || it.Mark(5, 0) || it.Mark(-1, 0) {
		t.Fatal("mark: a repeat or an out-of-range item was recorded")
	}
	it.Mark(0, 0)
	it.Mark(4, 10*time.Millisecond)
	if it.Count.Load() != 3 || it.Marked(0, 5) != 3 || it.Marked(1, 4) != 1 {
		t.Fatalf("count %d, marked %d, %d", it.Count.Load(), it.Marked(0, 5), it.Marked(1, 4))
	}
	if got := it.Latencies(s, 0, 5); fmt.Sprint(got) != "[0 2000000 6000000]" {
		t.Fatalf("latencies = %v", got)
	}
	if n := it.MarkedBetween(time.Millisecond, 10*time.Millisecond); n != 1 {
		t.Fatalf("markedBetween = %d", n)
	}
}

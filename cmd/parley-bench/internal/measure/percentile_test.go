package measure

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i+1) * time.Millisecond
	}
	if got := percentile(s, 0.50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := percentile(s, 0.99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := percentile(s[:1], 0.99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
}

package scenario

import (
	"testing"

	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/mqttclient"
)

func TestFanBody(t *testing.T) {
	t.Parallel()
	for _, k := range []int{0, 7, 49, 123456} {
		b := fanBodyOf(3, k, 100)
		if s, got, ok := parseFanBody(b); len(b) != 100 || !ok || s != 3 || got != k {
			t.Errorf("fanBodyOf(3, %d) = %q (len %d), parsed %d %d %v", k, b, len(b), s, got, ok)
		}
	}
	for _, b := range []string{"", "b2 ", "b2 1", "b2 x 1", "hello", "b2 -1 2", "lt 1 2"} {
		if s, k, ok := parseFanBody(b); ok {
			t.Errorf("parseFanBody(%q) = %d %d", b, s, k)
		}
	}
	d, err := mqttclient.ParseDelivery([]byte(`{"conv":"g_x","seq":3,"id":"m1","from":"fs","body":"b2 0 2 xx","kind":"text"}`))
	if _, k, ok := parseFanBody(d.Body); err != nil || d.Conv != "g_x" || d.Seq != 3 || !ok || k != 2 {
		t.Fatalf("parseDelivery: %+v, %v", d, err)
	}
}

func TestFanoutLatencies(t *testing.T) {
	t.Parallel()
	sent := []int64{100, 200, 300}
	recv := [][]int64{
		{110, 230, 0},   // member 0 missed message 2
		{150, 210, 320}, //
	}
	last, all := fanLatencies(sent, recv)
	if want := []int64{30, 50}; !slicesEqual(last, want) {
		t.Errorf("last = %v, want %v", last, want)
	}
	if want := []int64{10, 10, 20, 30, 50}; !slicesEqual(all, want) {
		t.Errorf("all = %v, want %v", all, want)
	}
	if p := measure.PercentileNs(all, 0.5); p != 20 {
		t.Errorf("p50 = %d", p)
	}
	if p := measure.PercentileNs(nil, 0.5); p != 0 {
		t.Errorf("p50 of none = %d", p)
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

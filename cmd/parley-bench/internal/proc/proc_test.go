package proc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

func TestCountCPUs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"0", 1}, {"0-1", 2}, {"0,2-3", 3}, {"0-3,8-11", 8},
	} {
		if got := countCPUs(tc.in); got != tc.want {
			t.Errorf("countCPUs(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestProcReaders(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := CPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := Status(os.Getpid(), "VmRSS")
	if err != nil || rss <= 0 {
		t.Fatalf("VmRSS = %d, %v", rss, err)
	}
}

func TestMetricsParse(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# HELP x\n# TYPE x counter\nparley_commit_batch_size_sum 42\n" +
			"parley_commit_batch_size_count 6\nparley_disconnects_total{reason=\"client\"} 3\ngo_sched_gomaxprocs_threads 1\n"))
	}))
	defer ts.Close()
	s := &Server{URL: ts.URL}
	m, err := s.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m["parley_commit_batch_size_sum"] != 42 || m["parley_commit_batch_size_count"] != 6 ||
		m[`parley_disconnects_total{reason="client"}`] != 3 || GomaxprocsOf(m) != 1 {
		t.Fatalf("parsed %v", m)
	}
}

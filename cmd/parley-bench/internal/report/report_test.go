package report

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reportTestLines is a small run: b1 with two systems and three rates and
// a "max" step, b2 with two group sizes, b3 with ws, mqtt and Mosquitto, a
// compare pair on b4, a scenario the report has no plot for, and lines to
// skip.
func reportTestLines() string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	place := `"server_cores":"0","generator_cores":"1","server_gomaxprocs":1,"generator_gomaxprocs":1`
	line("machine: 2 cores (a human line)")
	for i, rate := range []int{1000, 2000, 4000} {
		line(`{"scenario":"b1","system":"parley","protocol":"mqtt","step":"rate=%d/s","rate_per_s":%d,"delivered_per_s":%d,"p50_ms":%g,"p99_ms":%g,"server_cpu_us_per_msg":10,"lost":0,%s,"date":"2026-03-0%dT10:00:00Z"}`,
			rate, rate, rate, 0.5*float64(i+1), 2*float64(i+1), place, i+1)
		line(`{"scenario":"b1","system":"mosquitto","protocol":"mqtt","step":"rate=%d/s","rate_per_s":%d,"delivered_per_s":%d,"p50_ms":%g,"p99_ms":%g,"server_cpu_us_per_msg":8,%s,"date":"2026-03-01T11:00:00Z"}`,
			rate, rate, rate, 0.4*float64(i+1), 1.5*float64(i+1), place)
	}
	line(`{"scenario":"b1","system":"parley","protocol":"mqtt","step":"max","max_sustainable_rate_per_s":40000,"server_cpu_us_per_msg":12,"limited_by":"latency",%s}`, place)
	line(`{"scenario":"b1","system":"mosquitto","protocol":"mqtt","step":"max","max_sustainable_rate_per_s":50000,"server_cpu_us_per_msg":9,%s}`, place)
	line(`{"scenario":"b1", "system": "parley", broken`) // line 10
	for _, m := range []int{100, 1000} {
		line(`{"scenario":"b2","system":"parley","protocol":"ws","step":"members=%d","members":%d,"delivered_per_s":%d,"time_to_last_ms":3.25,%s}`, m, m, 200*m, place)
	}
	line(`{"scenario":"b3","system":"parley","protocol":"ws","step":"conns=1000","conns":1000,"kb_per_conn":21.5,%s}`, place)
	for _, q := range []int{0, 1} {
		line(`{"scenario":"b5","system":"parley","protocol":"mqtt","qos":%d,"step":"members=10","server_cpu_us_per_msg":%d}`, q, 4+q)
	}
	line(`{"scenario":"b5","system":"mosquitto","protocol":"mqtt","qos":1,"step":"members=10","server_cpu_us_per_msg":2}`)
	line(`{"scenario":"b3","system":"parley","protocol":"mqtt","step":"conns=1000","conns":1000,"kb_per_conn":12.25,%s}`, place)
	line(`{"scenario":"b3","system":"mosquitto","protocol":"mqtt","step":"conns=1000","conns":1000,"kb_per_conn":4.9,"server_gomaxprocs":1}`)
	for round := 1; round <= 2; round++ {
		line(`{"scenario":"b4","system":"parley@v1","protocol":"ws","step":"senders=16","senders":16,"acked_per_s":%d,"p99_ms":4,"server_cpu_us_per_msg":10,"round":%d,"commit":"abc"}`, 9000+round, round)
		line(`{"scenario":"b4","system":"parley@HEAD","protocol":"ws","step":"senders=16","senders":16,"acked_per_s":%d,"p99_ms":5,"server_cpu_us_per_msg":12,"round":%d,"commit":"def"}`, 8000+round, round)
	}
	line(`{"scenario":"zz9","weird":1234567.891,"text":"x"}`)
	line(`{"no_scenario":1}`)
	line(`   `)
	return b.String()
}

func writeReportTestFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.jsonl")
	if err := os.WriteFile(path, []byte(reportTestLines()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportWrites(t *testing.T) {
	t.Parallel()
	file := writeReportTestFile(t)
	dir := filepath.Join(t.TempDir(), "out")
	var md, warn bytes.Buffer
	written, err := Write(file, dir, &md, &warn)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 4 {
		t.Errorf("written %v, want report.md and three plots", written)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if got != md.String() {
		t.Error("the Markdown copy differs from report.md")
	}
	t.Log("\n" + got)
	for _, want := range []string{
		"21 result lines, 2 skipped (line 10: malformed JSON",
		"line 24: no scenario",
		"- Dates: 2026-03-01 10:00 UTC to 2026-03-03 10:00 UTC",
		"- Server cores: 0", "- Generator cores: 1", "- Server GOMAXPROCS: 1",
		"- Commits: abc, def",
		// b1: columns present in b1 only, in their order; "max" after the rates.
		"## b1\n\n| system | protocol | step | rate_per_s | max_sustainable_rate_per_s | delivered_per_s | p50_ms | p99_ms | server_cpu_us_per_msg | lost |",
		"| parley | mqtt | rate=1000/s | 1,000 |  | 1,000 | 0.5 | 2 | 10 | 0 |",
		"| parley | mqtt | rate=4000/s | 4,000 |  | 4,000 | 1.5 | 6 | 10 | 0 |\n| parley | mqtt | max |  | 40,000 |",
		"| mosquitto | mqtt | rate=2000/s | 2,000 |  | 2,000 | 0.8 | 3 | 8 |  |",
		"![b1: send-to-deliver latency against offered rate](b1-latency.png)",
		"### parley / mosquitto",
		"| rate=1000/s | mqtt | server_cpu_us_per_msg | 10 | 8 | 1.25 |",
		"| max | mqtt | max_sustainable_rate_per_s | 40,000 | 50,000 | 0.80 |",
		"| max | mqtt | server_cpu_us_per_msg | 12 | 9 | 1.33 |",
		// b2
		"| parley | ws | members=1000 | 1,000 | 200,000 | 3.25 |",
		"![b2: deliveries per second against group size](b2-deliveries.png)",
		// b3: Mosquitto set against each of Parley's protocols.
		"| conns=1000 | ws / mqtt | kb_per_conn | 21.5 | 4.9 | 4.39 |",
		"| conns=1000 | mqtt | kb_per_conn | 12.25 | 4.9 | 2.50 |",
		"![b3: memory per idle connection](b3-memory.png)",
		// b4: compare rounds as rows, medians in the ratio.
		"| system | protocol | step | round | senders | acked_per_s | p99_ms | server_cpu_us_per_msg |",
		"| parley@v1 | ws | senders=16 | 2 | 16 | 9,002 | 4 | 10 |",
		"### parley@HEAD / parley@v1",
		"| ws | senders=16 | server_cpu_us_per_msg | 10 | 12 | 1.20 |",
		"| ws | senders=16 | p99_ms | 4 | 5 | 1.25 |",
		"| ws | senders=16 | acked_per_s | 9,002 | 8,002 | 0.89 |",
		// Figures other than the well-known ones in a table of their own.
		"<details><summary>More figures</summary>\n\n| system | protocol | step | limited_by |",
		"| parley | mqtt | max | latency |",
		// MQTT variants that differ by QoS stay apart.
		"| parley | mqtt qos0 | members=10 | 0 | 4 |",
		"| members=10 | mqtt qos1 | server_cpu_us_per_msg | 5 | 2 | 2.50 |",
		// A scenario without a plot: a table.
		"## zz9\n\n| system | protocol | step | text | weird |\n| --- | --- | --- | --- | --: |\n| - | - | - | x | 1,234,568 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, unwanted := range []string{"generator_gomaxprocs |", "| date", "b4-", "### parley@v1 / mosquitto"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("report.md has %q", unwanted)
		}
	}
	if !strings.Contains(warn.String(), "line 10: malformed JSON") {
		t.Errorf("warnings: %q", warn.String())
	}
	// Order of the scenario sections.
	if i, j := strings.Index(got, "## b4"), strings.Index(got, "## zz9"); i < 0 || j < i {
		t.Error("b4 does not come before zz9")
	}
	for _, name := range []string{"b1-latency.png", "b2-deliveries.png", "b3-memory.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 250 || st.Size() < 5000 {
			t.Errorf("%s: %v, %d bytes", name, r, st.Size())
		}
	}
}

func TestReportOnlyPresentPlots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "b2.out")
	os.WriteFile(file, []byte(`{"scenario":"b2","system":"parley","protocol":"ws","step":"members=10","delivered_per_s":5}`+"\n"+
		`{"scenario":"b1","system":"parley","protocol":"ws","step":"rate=10/s"}`+"\n"), 0o644)
	written, err := Write(file, filepath.Join(dir, "r"), nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || filepath.Base(written[1]) != "b2-deliveries.png" {
		t.Errorf("written %v", written)
	}
	md, _ := os.ReadFile(written[0])
	if !strings.Contains(string(md), "(b2-deliveries.png)") || strings.Contains(string(md), "b1-latency.png") {
		t.Errorf("links:\n%s", md)
	}
}

func TestReportNothingValid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(file, []byte("hello\n{bad\n"), 0o644)
	var warn bytes.Buffer
	if _, err := Write(file, filepath.Join(dir, "r"), nil, &warn); err == nil || !strings.Contains(err.Error(), "no valid result line") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(warn.String(), "line 2: malformed JSON") {
		t.Errorf("warnings: %q", warn.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "r")); err == nil {
		t.Error("output directory made for nothing")
	}
}

func TestReportFlagsAfterFile(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "", "")
	pos, err := reportParseArgs(fs, []string{"a.jsonl", "-out", "d"})
	if err != nil || len(pos) != 1 || pos[0] != "a.jsonl" || *out != "d" {
		t.Errorf("pos %v out %q err %v", pos, *out, err)
	}
}

func TestReportNum(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {7, "7"}, {1234, "1,234"}, {-1234567, "-1,234,567"}, {1234.6, "1,235"},
		{123.45, "123.5"}, {12.5, "12.5"}, {2.0001, "2"}, {1.25, "1.25"}, {0.0123, "0.0123"}, {0.5, "0.5"},
	} {
		if got := Num(tc.in); got != tc.want {
			t.Errorf("reportNum(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReportStepOrder(t *testing.T) {
	t.Parallel()
	ls := []Line{
		{System: "parley", Step: "max"}, {System: "parley", Step: "rate=10000/s"},
		{System: "mosquitto", Step: "rate=500/s"}, {System: "parley", Step: "rate=2000/s"},
	}
	SortLines(ls)
	var got []string
	for _, l := range ls {
		got = append(got, l.System+" "+l.Step)
	}
	want := "parley rate=2000/s,parley rate=10000/s,parley max,mosquitto rate=500/s"
	if strings.Join(got, ",") != want {
		t.Errorf("order %v", got)
	}
}

func TestReportSeriesSplit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, rate := range []int{1000, 2000} {
		for _, m := range []int{100, 10} {
			fmt.Fprintf(&b, `{"scenario":"b2","system":"parley","protocol":"ws","step":"members=%d,rate=%d/s","members":%d,"rate_per_s":%d,"delivered_per_s":%d}`+"\n", m, rate, m, rate, m*rate)
		}
	}
	fmt.Fprintf(&b, `{"scenario":"b2","system":"mosquitto","protocol":"mqtt","step":"members=10,rate=1000/s","delivered_per_s":7}`+"\n")
	d, err := readReportLines(strings.NewReader(b.String()), "x")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range reportXY(d, "b2", "members", KDelivered, "rate_per_s") {
		got = append(got, fmt.Sprintf("%s %v", s.name, s.xys))
	}
	want := "parley/ws rate=1000 [{10 10000} {100 100000}],parley/ws rate=2000 [{10 20000} {100 200000}],mosquitto/mqtt [{10 7}]"
	if strings.Join(got, ",") != want {
		t.Errorf("series %v", got)
	}
}

func TestReportOddData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "odd.jsonl")
	os.WriteFile(file, []byte(`{"scenario":"b1","system":"parley","protocol":"ws","step":"rate=100/s","p99_ms":0,"p50_ms":0}
{"scenario":"b1","system":"parley","protocol":"ws","step":"rate=1e6/s","p99_ms":1e9}
{"scenario":"b1","step":"rate=5/s","p50_ms":-1}
{"scenario":"b2","system":"mosquitto","protocol":"mqtt","step":"members=1","members":1,"delivered_per_s":0}
{"scenario":"b3","system":"parley","protocol":"ws","step":"conns=1","kb_per_conn":0}
{"scenario":"b3","system":"mosquitto","kb_per_conn":-3}
{"scenario":"b1","system":"parley","protocol":"ws","step":"rate=1/s","p99_ms":"fast","nested":{"a":1},"list":[1,2]}
`), 0o644)
	var warn bytes.Buffer
	written, err := Write(file, filepath.Join(dir, "r"), nil, &warn)
	if err != nil || warn.Len() > 0 {
		t.Fatalf("%v %v: %s", written, err, warn.String())
	}
	if len(written) != 4 {
		t.Errorf("written %v", written)
	}
}

func TestReportSystemOrder(t *testing.T) {
	t.Parallel()
	ls := []Line{{System: "mosquitto"}, {System: "parley@v1"}, {System: "other"}, {System: "parley@HEAD"}, {System: "parley"}}
	SortLines(ls)
	var got []string
	for _, l := range ls {
		got = append(got, l.System)
	}
	if strings.Join(got, ",") != "parley,parley@v1,parley@HEAD,mosquitto,other" {
		t.Errorf("order %v", got)
	}
}

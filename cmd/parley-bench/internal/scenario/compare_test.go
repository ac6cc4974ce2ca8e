package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

func TestCompareRewrite(t *testing.T) {
	t.Parallel()
	ref := compareTarget{label: "parley@v1", commit: "abc123"}
	for _, tc := range []struct {
		name, in string
		want     map[string]any // nil: the line passes unchanged
	}{
		{"parley", `{"scenario":"b1","system":"parley","protocol":"ws","step":"rate=1000/s","p99_ms":1.25,"delivered_per_s":12345678901}`,
			map[string]any{"scenario": "b1", "system": "parley@v1", "protocol": "ws", "step": "rate=1000/s", "p99_ms": "1.25",
				"delivered_per_s": "12345678901", "commit": "abc123", "round": "2"}},
		{"first harness, no system", `{"scenario":"durable","senders":16}`,
			map[string]any{"scenario": "durable", "senders": "16", "system": "parley@v1", "commit": "abc123", "round": "2"}},
		{"mosquitto", `{"scenario":"b1","system":"mosquitto","protocol":"mqtt","step":"max"}`,
			map[string]any{"scenario": "b1", "system": "mosquitto", "protocol": "mqtt", "step": "max", "beside": "parley@v1", "round": "2"}},
		{"human", "b1 parley/ws rate=1000/s: p99 1.2 ms", nil},
		{"not JSON", "{oops", nil},
		{"empty", "", nil},
	} {
		out, l := compareRewrite(tc.in, ref, 2)
		if tc.want == nil {
			if out != tc.in || l != nil {
				t.Errorf("%s: %q -> %q, %v", tc.name, tc.in, out, l)
			}
			continue
		}
		dec := json.NewDecoder(strings.NewReader(out))
		dec.UseNumber()
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: %q: %v", tc.name, out, err)
		}
		if g, w := fmt.Sprint(got), fmt.Sprint(tc.want); g != w {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, g, w)
		}
		if l == nil || l.System != tc.want["system"] || l.Round != 2 {
			t.Errorf("%s: parsed %+v", tc.name, l)
		}
	}
}

func TestCompareTakeServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, rest, server string
	}{
		{"-rate 1000 -server /a/p -peers none", "-rate 1000 -peers none", "/a/p"},
		{"--server=/b -x", "-x", "/b"},
		{"-servers 3 -x", "-servers 3 -x", ""},
		{"-x -- -server y", "-x -- -server y", ""},
	} {
		rest, srv, err := compareTakeServer(strings.Fields(tc.in))
		if err != nil || strings.Join(rest, " ") != tc.rest || srv != tc.server {
			t.Errorf("%q: %q %q %v", tc.in, rest, srv, err)
		}
	}
	if _, _, err := compareTakeServer([]string{"-server"}); err == nil {
		t.Error("-server without a value accepted")
	}
	if !compareHasFlag([]string{"-a", "--peers=none"}, "peers") || compareHasFlag([]string{"-peersx"}, "peers") {
		t.Error("compareHasFlag")
	}
}

func compareTestLine(t *testing.T, s string) report.Line {
	t.Helper()
	l, why := report.ParseLine(s, 1)
	if l == nil {
		t.Fatalf("%s: %s", s, why)
	}
	return *l
}

func TestCompareSummary(t *testing.T) {
	t.Parallel()
	ref := compareTarget{label: "parley@v1", commit: "abc"}
	head := compareTarget{label: "parley@HEAD", commit: "def-dirty"}
	var ls []report.Line
	for round := 1; round <= 2; round++ {
		for _, s := range []string{
			`{"scenario":"b1","system":"parley@v1","protocol":"ws","step":"rate=2000/s","server_cpu_us_per_msg":%d,"p99_ms":2,"round":%d}`,
			`{"scenario":"b1","system":"parley@HEAD","protocol":"ws","step":"rate=2000/s","server_cpu_us_per_msg":%d,"p99_ms":3,"round":%d}`,
			`{"scenario":"b1","system":"parley@v1","protocol":"ws","step":"rate=500/s","server_cpu_us_per_msg":%d,"round":%d}`,
			`{"scenario":"b1","system":"parley@HEAD","protocol":"ws","step":"rate=500/s","server_cpu_us_per_msg":%d,"round":%d}`,
			`{"scenario":"b1","system":"mosquitto","protocol":"mqtt","step":"rate=500/s","server_cpu_us_per_msg":%d,"round":%d}`,
			`{"scenario":"b1","system":"parley@HEAD","protocol":"mqtt","step":"rate=500/s","server_cpu_us_per_msg":%d,"round":%d}`,
		} {
			ls = append(ls, compareTestLine(t, fmt.Sprintf(s, 10+round, round)))
		}
	}
	var b bytes.Buffer
	compareSummary(&b, ls, ref, head)
	got := b.String()
	t.Log("\n" + got)
	for _, want := range []string{
		"compare: parley@HEAD (def-dirty) against parley@v1 (abc), medians over the rounds; ratio = parley@HEAD / parley@v1",
		"b1        ws        rate=500/s   11.5            11.5  1.00      -           -     -",
		"b1        ws        rate=2000/s  11.5            11.5  1.00      2           3     1.50",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(got, "mqtt") {
		t.Error("a step of one side only in the summary")
	}
	if strings.Index(got, "rate=500/s") > strings.Index(got, "rate=2000/s") {
		t.Error("steps not in order")
	}
	for _, line := range strings.Split(got, "\n") {
		if strings.HasPrefix(line, "{") {
			t.Errorf("summary line taken for a result: %q", line)
		}
	}
	b.Reset()
	compareSummary(&b, nil, ref, head)
	if !strings.Contains(b.String(), "no step with") {
		t.Errorf("empty summary: %q", b.String())
	}
}

// TestCompareHelperProcess is the bench for TestCompareRounds: run with
// BENCH_COMPARE_HELPER=1 and the bench's arguments after "--", it prints a
// human line and result lines naming the -server it was given.
func TestCompareHelperProcess(t *testing.T) {
	if os.Getenv("BENCH_COMPARE_HELPER") != "1" {
		return
	}
	args := os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	args = args[1:]
	server, peers, fail := "", "mosquitto", false
	for i, a := range args {
		switch a {
		case "-help":
			fmt.Fprintln(os.Stderr, "  -peers string\n    \tpeers")
			os.Exit(0)
		case "-server":
			server = args[i+1]
		case "-peers":
			peers = args[i+1]
		case "-fail":
			fail = true
		}
	}
	if fail && strings.HasSuffix(server, "ref") {
		fmt.Fprintln(os.Stderr, "failing as asked")
		os.Exit(3)
	}
	cpu := 10
	if strings.HasSuffix(server, "head") {
		cpu = 15
	}
	fmt.Printf("%s: a human line, args %q\n", args[0], args[1:])
	fmt.Printf(`{"scenario":"b1","system":"parley","protocol":"ws","step":"rate=1000/s","server_cpu_us_per_msg":%d,"bin":%q}`+"\n", cpu, server)
	if peers == "mosquitto" {
		fmt.Printf(`{"scenario":"b1","system":"mosquitto","protocol":"mqtt","step":"rate=1000/s","server_cpu_us_per_msg":7}` + "\n")
	}
	os.Exit(0)
}

func compareHelperConfig(args ...string) *compareConfig {
	return &compareConfig{
		scenario: "b1", args: args, rounds: 2, timeout: time.Minute, buildTimeout: time.Minute,
		self: []string{os.Args[0], "-test.run=^TestCompareHelperProcess$", "--"},
		env:  []string{"BENCH_COMPARE_HELPER=1"},
	}
}

func TestCompareRounds(t *testing.T) {
	t.Parallel()
	c := compareHelperConfig("-rate", "1000")
	targets := []compareTarget{{label: "parley@v1", bin: "/x/ref", commit: "abc"}, {label: "parley@HEAD", bin: "/x/head"}}
	var out, log bytes.Buffer
	lines, err := compareRounds(context.Background(), c, targets, &out, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Log("\n" + out.String())
	// ref, head, ref, head; Mosquitto in the first round only.
	var order []string
	for _, l := range lines {
		order = append(order, fmt.Sprintf("%d %s %s %s", l.Round, l.System, l.Strs["bin"], l.Strs["beside"]))
	}
	want := "1 parley@v1 /x/ref ,1 mosquitto  parley@v1,1 parley@HEAD /x/head ,1 mosquitto  parley@HEAD,2 parley@v1 /x/ref ,2 parley@HEAD /x/head "
	if strings.Join(order, ",") != want {
		t.Errorf("lines:\n%s\nwant\n%s", strings.Join(order, ","), want)
	}
	for _, s := range []string{
		"compare: round 2/2: parley@HEAD: ",
		"b1 -rate 1000 -server /x/head -peers none\n",
		`b1: a human line, args ["-rate" "1000" "-server" "/x/ref"]`,
		`"commit":"abc"`,
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
	var sum bytes.Buffer
	compareSummary(&sum, lines, targets[0], targets[1])
	if !strings.Contains(sum.String(), "rate=1000/s  10              15    1.50") {
		t.Errorf("summary:\n%s", sum.String())
	}

	// -peers given: kept; a failing run does not stop the others.
	c = compareHelperConfig("-peers", "none", "-fail")
	c.rounds = 1
	out.Reset()
	lines, err = compareRounds(context.Background(), c, targets, &out, &log)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 runs failed: round 1 parley@v1") {
		t.Errorf("err = %v", err)
	}
	if len(lines) != 1 || lines[0].System != "parley@HEAD" {
		t.Errorf("lines %+v", lines)
	}
	if strings.Count(out.String(), "-peers none") != 2 {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestCompareRoundsTimeout(t *testing.T) {
	t.Parallel()
	c := compareHelperConfig("-peers", "none") // no -help run
	c.self = []string{"/bin/sh", "-c", "sleep 30", "sh"}
	c.timeout = 300 * time.Millisecond
	c.rounds = 1
	start := time.Now()
	_, err := compareRounds(context.Background(), c, []compareTarget{{label: "parley@x", bin: "/x"}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || time.Since(start) > 20*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
}

// TestComparePrepare builds a module of two trivial commands at a ref and
// from a modified working tree.
func TestComparePrepare(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool, "not found")
		}
	}
	repo := t.TempDir()
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, text string) {
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(%q) }\n"
	write("go.mod", "module example.com/fake\n\ngo 1.21\n")
	write("cmd/parley/main.go", fmt.Sprintf(main, "v1"))
	write("sub/README", "x\n")
	run(repo, "git", "init", "-q")
	run(repo, "git", "add", ".")
	run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "v1")
	run(repo, "git", "tag", "v1")
	write("cmd/parley/main.go", fmt.Sprintf(main, "v2"))

	c := &compareConfig{dir: filepath.Join(repo, "sub"), ref: "v1", buildTimeout: 5 * time.Minute}
	var log bytes.Buffer
	ref, head, cleanup, err := comparePrepare(context.Background(), c, &log)
	if err != nil {
		cleanup()
		t.Fatalf("%v\n%s", err, log.String())
	}
	if ref.label != "parley@v1" || head.label != "parley@HEAD" || len(ref.commit) != 12 ||
		head.commit != ref.commit+"-dirty" {
		t.Errorf("ref %+v head %+v", ref, head)
	}
	if got := run(repo, ref.bin); got != "v1" {
		t.Errorf("ref binary says %q", got)
	}
	if got := run(repo, head.bin); got != "v2" {
		t.Errorf("head binary says %q", got)
	}
	if wts := run(repo, "git", "worktree", "list"); strings.Count(wts, "\n") != 0 {
		t.Errorf("worktree left:\n%s", wts)
	}
	cleanup()
	if _, err := os.Stat(ref.bin); !os.IsNotExist(err) {
		t.Errorf("temporary directory left: %v", err)
	}

	// -server for the current one, HEAD as the ref: labels do not clash.
	c = &compareConfig{dir: repo, ref: "HEAD", buildTimeout: 5 * time.Minute, server: filepath.Join(repo, "go.mod")}
	ref, head, cleanup, err = comparePrepare(context.Background(), c, &log)
	defer cleanup()
	if err != nil {
		t.Fatal(err)
	}
	if ref.label != "parley@HEAD" || head.label != "parley@worktree" || head.bin != c.server || head.commit != "" {
		t.Errorf("ref %+v head %+v", ref, head)
	}

	// Errors: an unknown ref, and no checkout.
	c = &compareConfig{dir: repo, ref: "nope", buildTimeout: time.Minute}
	_, _, cleanup2, err := comparePrepare(context.Background(), c, &log)
	cleanup2()
	if err == nil || !strings.Contains(err.Error(), `"nope" is not a commit`) {
		t.Errorf("unknown ref: %v", err)
	}
	c = &compareConfig{dir: t.TempDir(), ref: "v1", buildTimeout: time.Minute}
	_, _, cleanup3, err := comparePrepare(context.Background(), c, &log)
	cleanup3()
	if err == nil || !strings.Contains(err.Error(), "git checkout") {
		t.Errorf("outside a checkout: %v", err)
	}
}

// TestCompareEndToEnd builds this repository's server at HEAD and from the
// working tree, and runs b3 with a few connections against both, twice
// (Mosquitto in the first round only). It takes a minute or more:
// BENCH_COMPARE_E2E=1 runs it.
func TestCompareEndToEnd(t *testing.T) {
	if os.Getenv("BENCH_COMPARE_E2E") != "1" || testing.Short() {
		t.Skip("BENCH_COMPARE_E2E=1 runs it")
	}
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	pb := filepath.Join(t.TempDir(), "parley-bench")
	if out, err := exec.Command("go", "build", "-o", pb, "github.com/parley-im/parley/cmd/parley-bench").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pb, "compare", "-rounds", "2", "-timeout", "5m", "HEAD", "b3",
		"-conns", "20", "-settle", "500ms", "-idle", "1s", "-cpu-server", "-1", "-cpu-client", "-1", "-protocols", "mqtt")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"system":"parley@HEAD"`, `"system":"parley@worktree"`, `"round":2`,
		`"beside":"parley@HEAD"`, "-peers none", "compare: parley@worktree", "kb/conn ref"} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("output lacks %q", s)
		}
	}
	if n := bytes.Count(out, []byte(`"system":"mosquitto"`)); n != 2 {
		t.Errorf("%d Mosquitto lines, want 2 (round 1)", n)
	}

	// The output makes a report with the compare ratios.
	file := filepath.Join(t.TempDir(), "out.txt")
	os.WriteFile(file, out, 0o644)
	var md bytes.Buffer
	if _, err := report.Write(file, filepath.Join(t.TempDir(), "r"), &md, os.Stderr); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", md.String())
	if !strings.Contains(md.String(), "### parley@worktree / parley@HEAD") {
		t.Error("report without the compare ratios")
	}
}

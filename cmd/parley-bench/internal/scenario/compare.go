package scenario

// parley-bench compare REF SCENARIO [scenario flags]: builds the server at
// a git ref and from the working tree, runs the scenario against both,
// alternating (ref, head, ref, head …), and relabels the result lines
// parley@REF and parley@HEAD so that "parley-bench report" sets them side
// by side.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

func init() {
	register(Scenario{"compare", "build Parley at a git ref and run a scenario against it and the working tree, alternating", runCompare})
}

// compareConfig is what a compare run needs.
type compareConfig struct {
	dir          string // inside the git checkout (default: the working directory)
	ref          string
	scenario     string
	args         []string // the scenario's flags, without -server
	rounds       int
	timeout      time.Duration // each scenario run
	buildTimeout time.Duration // each git and go build step
	server       string        // the current server binary ("" builds it)
	keep         bool

	// self is the command that runs the bench (os.Executable(); tests put
	// a helper process here) and env is added to its environment.
	self []string
	env  []string
}

// compareTarget is one of the two servers.
type compareTarget struct {
	label  string // the system of its lines: parley@REF or parley@HEAD
	bin    string
	commit string // short commit ("" if unknown), "-dirty" for a modified tree
}

func runCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	var c compareConfig
	fs.IntVar(&c.rounds, "rounds", 2, "rounds; each runs the scenario against REF, then against the working tree")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "limit of each scenario run")
	fs.DurationVar(&c.buildTimeout, "build-timeout", 10*time.Minute, "limit of each git and go build step")
	fs.StringVar(&c.server, "server", "", "server binary of the working tree (default: go build ./cmd/parley at the top of the checkout); -server in the scenario flags does the same")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory with the built binaries")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench compare [flags] REF SCENARIO [scenario flags]\n\n"+
			"Builds the server (./cmd/parley) at the git ref REF in a temporary worktree\n"+
			"and from the working tree of the checkout the command runs in, then runs\n"+
			"SCENARIO against both, alternating: REF, HEAD, REF, HEAD … (-rounds). Result\n"+
			"lines are printed with system parley@REF or parley@HEAD (parley@worktree if\n"+
			"REF is HEAD), the built commit and the round; Mosquitto lines keep their\n"+
			"system and get \"beside\" (only the first round measures Mosquitto when the\n"+
			"scenario has -peers). A summary of server CPU per message, p99 latency and\n"+
			"KiB per connection, HEAD / REF, ends the output. grep '^{' the output for\n"+
			"parley-bench report. The flags of compare come before REF.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return errors.New("compare needs REF and SCENARIO")
	}
	c.ref, c.scenario = fs.Arg(0), fs.Arg(1)
	rest, srv, err := compareTakeServer(fs.Args()[2:])
	if err != nil {
		return err
	}
	c.args = rest
	if srv != "" {
		if c.server != "" && c.server != srv {
			return errors.New("-server given twice with different binaries")
		}
		c.server = srv
	}
	if err := c.check(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the bench's own executable: %w", err)
	}
	c.self = []string{self}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ref, head, cleanup, err := comparePrepare(ctx, &c, os.Stderr)
	defer cleanup()
	if err != nil {
		return err
	}
	lines, err := compareRounds(ctx, &c, []compareTarget{ref, head}, os.Stdout, os.Stderr)
	compareSummary(os.Stdout, lines, ref, head)
	return err
}

func (c *compareConfig) check() error {
	switch sc, ok := Scenarios[c.scenario]; {
	case !ok:
		return fmt.Errorf("unknown scenario %q", c.scenario)
	case sc.name == "compare" || sc.name == "report":
		return fmt.Errorf("%s is not a scenario that runs a server", sc.name)
	}
	if c.rounds < 1 || c.rounds > 100 {
		return errors.New("-rounds must be in 1..100")
	}
	if c.timeout <= 0 || c.buildTimeout <= 0 {
		return errors.New("-timeout and -build-timeout must be positive")
	}
	return nil
}

// compareTakeServer removes -server BIN (or -server=BIN, --server) from a
// scenario's flags: compare passes each run its own.
func compareTakeServer(args []string) (rest []string, server string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), server, nil
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "server" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, "", errors.New("-server needs a value")
			}
			i++
			val = args[i]
		}
		server = val
	}
	return rest, server, nil
}

// compareHasFlag tells whether args set the flag name.
func compareHasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && n == name {
			return true
		}
	}
	return false
}

var compareUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// comparePrepare finds the checkout, builds the server at c.ref in a
// temporary worktree (removed as soon as it is built) and, without
// c.server, from the working tree. cleanup removes what is left (always
// call it, also on error).
func comparePrepare(ctx context.Context, c *compareConfig, log io.Writer) (ref, head compareTarget, cleanup func(), err error) {
	cleanup = func() {}
	dir := c.dir
	if dir == "" {
		dir = "."
	}
	top, err := compareGit(ctx, c.buildTimeout, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return ref, head, cleanup, fmt.Errorf("compare must run inside a git checkout of Parley: %w", err)
	}
	commit, err := compareGit(ctx, c.buildTimeout, top, "rev-parse", "--verify", "--quiet", c.ref+"^{commit}")
	if err != nil {
		return ref, head, cleanup, fmt.Errorf("%q is not a commit of %s: %w", c.ref, top, err)
	}
	short, err := compareGit(ctx, c.buildTimeout, top, "rev-parse", "--short=12", commit)
	if err != nil {
		return ref, head, cleanup, err
	}
	tmp, err := os.MkdirTemp("", "parley-bench-compare-")
	if err != nil {
		return ref, head, cleanup, err
	}
	cleanup = func() {
		if c.keep {
			fmt.Fprintln(log, "compare: binaries kept in", tmp)
			return
		}
		os.RemoveAll(tmp)
	}

	ref = compareTarget{label: "parley@" + c.ref, commit: short,
		bin: filepath.Join(tmp, "parley-"+compareUnsafe.ReplaceAllString(c.ref, "_"))}
	head = compareTarget{label: "parley@HEAD"}
	if head.label == ref.label {
		head.label = "parley@worktree"
	}
	if ref.bin == filepath.Join(tmp, "parley-HEAD") {
		ref.bin += "-ref"
	}

	// The ref: a detached worktree, built, then removed.
	wt := filepath.Join(tmp, "src")
	fmt.Fprintf(log, "compare: building %s (%s) in a worktree\n", ref.label, short)
	if _, err := compareGit(ctx, c.buildTimeout, top, "worktree", "add", "--detach", wt, commit); err != nil {
		return ref, head, cleanup, err
	}
	removeWorktree := func() {
		// Not ctx: the worktree goes also when the run was interrupted.
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := compareGit(rctx, time.Minute, top, "worktree", "remove", "--force", wt); err != nil {
			fmt.Fprintf(log, "compare: %v; run git worktree prune\n", err)
		}
	}
	prev := cleanup
	cleanup = func() { removeWorktree(); prev() }
	if err := compareBuild(ctx, c.buildTimeout, wt, ref.bin, log); err != nil {
		return ref, head, cleanup, fmt.Errorf("build %s: %w", ref.label, err)
	}
	removeWorktree()
	cleanup = prev

	// The working tree.
	if c.server != "" {
		if head.bin, err = filepath.Abs(c.server); err != nil {
			return ref, head, cleanup, err
		}
		if _, err := os.Stat(head.bin); err != nil {
			return ref, head, cleanup, err
		}
		return ref, head, cleanup, nil
	}
	if head.commit, err = compareGit(ctx, c.buildTimeout, top, "rev-parse", "--short=12", "HEAD"); err != nil {
		return ref, head, cleanup, err
	}
	if st, err := compareGit(ctx, c.buildTimeout, top, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		head.commit += "-dirty"
	}
	head.bin = filepath.Join(tmp, "parley-HEAD")
	fmt.Fprintf(log, "compare: building %s (%s) from %s\n", head.label, head.commit, top)
	if err := compareBuild(ctx, c.buildTimeout, top, head.bin, log); err != nil {
		return ref, head, cleanup, fmt.Errorf("build %s: %w", head.label, err)
	}
	return ref, head, cleanup, nil
}

// compareGit runs git in dir and returns its trimmed output.
func compareGit(ctx context.Context, limit time.Duration, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := compareCommand(ctx, "git", append([]string{"-C", dir}, args...), 0)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := compareExec(ctx, cmd); err != nil {
		return "", fmt.Errorf("git %s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// compareBuild builds dir/cmd/parley into bin.
func compareBuild(ctx context.Context, limit time.Duration, dir, bin string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := compareCommand(ctx, "go", []string{"build", "-o", bin, "./cmd/parley"}, 0)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	return compareExec(ctx, cmd)
}

// compareCommand is a command in a process group of its own, so that the
// servers a scenario starts go with it: when ctx ends, the group gets
// SIGTERM, and the command SIGKILL grace later (at once if grace is 0).
// Wait for it with compareWait.
func compareCommand(ctx context.Context, name string, args []string, grace time.Duration) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		sig := syscall.SIGTERM
		if grace <= 0 {
			sig = syscall.SIGKILL
		}
		return syscall.Kill(-cmd.Process.Pid, sig)
	}
	cmd.WaitDelay = grace + 5*time.Second
	return cmd
}

// compareWait waits for a started compareCommand; if ctx ended, what is
// left of its process group is killed.
func compareWait(ctx context.Context, cmd *exec.Cmd) error {
	err := cmd.Wait()
	if ctx.Err() != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
	}
	return err
}

// compareExec runs a compareCommand.
func compareExec(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	return compareWait(ctx, cmd)
}

// compareAcceptsPeers tells whether the scenario has -peers (its -help
// mentions it).
func compareAcceptsPeers(ctx context.Context, c *compareConfig) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := compareCommand(ctx, c.self[0], append(append([]string{}, c.self[1:]...), c.scenario, "-help"), 0)
	cmd.Env = append(os.Environ(), c.env...)
	out, _ := cmd.CombinedOutput() // -help may exit 0 or 2
	return bytes.Contains(out, []byte("-peers"))
}

// compareRounds runs the scenario against each target in turn, c.rounds
// times, writing the relabelled output to out. It returns the result lines
// (relabelled), and an error naming the runs that failed; a failed run
// does not stop the others, an interruption does.
func compareRounds(ctx context.Context, c *compareConfig, targets []compareTarget, out, log io.Writer) ([]report.Line, error) {
	peers := !compareHasFlag(c.args, "peers") && compareAcceptsPeers(ctx, c)
	var lines []report.Line
	var failed []string
	for round := 1; round <= c.rounds; round++ {
		for _, t := range targets {
			if err := ctx.Err(); err != nil {
				return lines, fmt.Errorf("compare interrupted: %w", err)
			}
			args := append(append([]string{}, c.self[1:]...), c.scenario)
			args = append(args, c.args...)
			args = append(args, "-server", t.bin)
			if peers && round > 1 {
				args = append(args, "-peers", "none")
			}
			name := t.label
			if t.commit != "" {
				name += " (" + t.commit + ")"
			}
			fmt.Fprintf(out, "compare: round %d/%d: %s: %s %s\n", round, c.rounds, name,
				filepath.Base(c.self[0]), strings.Join(args[len(c.self)-1:], " "))
			ls, err := compareRun(ctx, c, args, t, round, out, log)
			lines = append(lines, ls...)
			if err != nil {
				fmt.Fprintf(log, "compare: round %d %s: %v\n", round, t.label, err)
				failed = append(failed, fmt.Sprintf("round %d %s: %v", round, t.label, err))
			}
		}
	}
	if len(failed) > 0 {
		return lines, fmt.Errorf("%d of %d runs failed: %s", len(failed), c.rounds*len(targets), strings.Join(failed, "; "))
	}
	return lines, nil
}

// compareRun runs the bench once and relabels its output.
func compareRun(ctx context.Context, c *compareConfig, args []string, t compareTarget, round int, out, log io.Writer) ([]report.Line, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := compareCommand(ctx, c.self[0], args, 20*time.Second)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stderr = log
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var lines []report.Line
	br := bufio.NewReader(pipe)
	for {
		s, rerr := br.ReadString('\n')
		if s != "" {
			o, l := compareRewrite(strings.TrimRight(s, "\r\n"), t, round)
			fmt.Fprintln(out, o)
			if l != nil {
				lines = append(lines, *l)
			}
		}
		if rerr != nil {
			break
		}
	}
	return lines, compareWait(ctx, cmd)
}

// compareRewrite relabels one output line of a run against t: a result
// line of Parley (system "parley", or none: the first harness's lines)
// gets system t.label and commit t.commit, another system's (Mosquitto)
// gets beside t.label; every result line gets round. Other lines pass
// unchanged. The parsed result is returned with it.
func compareRewrite(line string, t compareTarget, round int) (string, *report.Line) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "{") {
		return line, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return line, nil
	}
	switch sys, _ := m[report.KSystem].(string); {
	case sys == "" || sys == "parley":
		m[report.KSystem] = t.label
		if t.commit != "" {
			m[report.KeyCommit] = t.commit
		}
	case strings.HasPrefix(sys, "parley@"):
	default:
		m[report.KeyBeside] = t.label
	}
	m[report.KeyRound] = round
	b, err := json.Marshal(m)
	if err != nil {
		return line, nil
	}
	l, _ := report.ParseLine(string(b), 0)
	return string(b), l
}

// compareSummaryFigures are the figures of the summary, those measured
// for both sides at some step.
var compareSummaryFigures = []struct{ key, title string }{
	{report.KCPUPerMsg, "cpu_us/msg"}, {report.KP99, "p99_ms"}, {report.KKBPerConn, "kb/conn"},
}

// compareSummary writes the medians of server CPU per message, p99
// latency and memory per connection of ref and head per scenario, protocol
// and step, with head / ref.
func compareSummary(w io.Writer, lines []report.Line, ref, head compareTarget) {
	var ls []report.Line
	for _, l := range lines {
		if l.System == ref.label || l.System == head.label {
			ls = append(ls, l)
		}
	}
	fmt.Fprintf(w, "\ncompare: %s (%s) against %s (%s), medians over the rounds; ratio = %s / %s\n",
		head.label, compareOrDash(head.commit), ref.label, compareOrDash(ref.commit), head.label, ref.label)
	type pair struct {
		sc, protocol, step string
		r, h               report.Cell
	}
	var pairs []pair
	for _, sc := range report.Scenarios(&report.Data{Lines: ls}) {
		var sl []report.Line
		for _, l := range ls {
			if l.Scenario == sc {
				sl = append(sl, l)
			}
		}
		byKey := map[[3]string]report.Cell{}
		for _, cell := range report.Cells(sl) {
			byKey[[3]string{cell.System, cell.Protocol, cell.Step}] = cell
		}
		report.SortLines(sl) // steps in the report's order
		seen := map[[2]string]bool{}
		for _, l := range sl {
			k := [2]string{l.Protocol, l.Step}
			if seen[k] {
				continue
			}
			seen[k] = true
			r, okR := byKey[[3]string{ref.label, l.Protocol, l.Step}]
			h, okH := byKey[[3]string{head.label, l.Protocol, l.Step}]
			if okR && okH {
				pairs = append(pairs, pair{sc, l.Protocol, l.Step, r, h})
			}
		}
	}
	both := func(p pair, f string) bool {
		_, a := p.r.Nums[f]
		_, b := p.h.Nums[f]
		return a && b
	}
	var figs []string
	head1 := []string{"scenario", "protocol", "step"}
	for _, f := range compareSummaryFigures {
		for _, p := range pairs {
			if both(p, f.key) {
				figs = append(figs, f.key)
				head1 = append(head1, f.title+" ref", "head", "head/ref")
				break
			}
		}
	}
	if len(figs) == 0 {
		var names []string
		for _, f := range compareSummaryFigures {
			names = append(names, f.key)
		}
		fmt.Fprintf(w, "compare: no step with %s measured for both\n", strings.Join(names, ", "))
		return
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head1, "\t"))
	for _, p := range pairs {
		row := []string{p.sc, report.Text(p.protocol), report.Text(p.step)}
		have := false
		for _, f := range figs {
			a, okA := p.r.Nums[f]
			b, okB := p.h.Nums[f]
			row = append(row, compareCell(a, okA), compareCell(b, okB), "-")
			if okA && okB {
				row[len(row)-1] = report.Ratio(b, a)
				have = true
			}
		}
		if have {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	tw.Flush()
}

func compareCell(v float64, ok bool) string {
	if !ok || math.IsNaN(v) {
		return "-"
	}
	return report.Num(v)
}

func compareOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

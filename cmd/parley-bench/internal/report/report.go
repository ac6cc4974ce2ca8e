package report

// parley-bench report FILE.jsonl [-out DIR]: Markdown tables and PNG plots
// generated from result lines (result.go). No figure is kept as truth in
// the repository: the report is regenerated from the lines of a run.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Keys of result lines that the report reads beside those of result.go.
const (
	keyMaxRate = "max_sustainable_rate_per_s" // b1 "max" step
	KeyRound   = "round"                      // added by compare
	KeyCommit  = "commit"                     // added by compare
	KeyBeside  = "beside"                     // added by compare to peer lines
)

// reportPlacementKeys describe where a line ran (they go to the report's
// header) or name it (the first columns): not figures.
var reportPlacementKeys = map[string]bool{
	"server_cores": true, "generator_cores": true, "server_gomaxprocs": true,
	"generator_gomaxprocs": true, "gomaxprocs": true, "harness_gomaxprocs": true,
	"cores": true, "date": true, KeyRound: true, KeyCommit: true, KeyBeside: true,
	KScenario: true, KSystem: true, KProtocol: true, KStep: true, "transport": true,
}

// reportFigureOrder is the order of the well-known columns; the other
// numeric keys follow in alphabetical order.
var reportFigureOrder = []string{
	"rate_per_s", "members", "conns", "senders", "qos",
	keyMaxRate, KDelivered, KAcked,
	KP50, KP99, KP999, KTimeToLast,
	KKBPerConn, KCPUPerMsg, KLost, KDuplicated, "passed",
}

// Line is one parsed result line.
type Line struct {
	n                                int // line number in the file
	Scenario, System, Protocol, Step string
	Round                            int // 0 if absent
	nums                             map[string]float64
	Strs                             map[string]string
}

// Data is what the report is made of.
type Data struct {
	source  string
	Lines   []Line
	skipped []string // "line N: why"
}

// Run is "parley-bench report": it parses args and writes the report.
func Run(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "", "directory for report.md and the PNG plots (default: FILE without its extension + \"-report\"; the Markdown is then also printed)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench report FILE.jsonl [-out DIR]\n\n"+
			"Reads result lines (one JSON object per line; lines not starting with '{' are\n"+
			"skipped, so a scenario's whole output can be given; FILE - is stdin) and writes\n"+
			"DIR/report.md: one table per scenario, parley/mosquitto and parley@REF ratios,\n"+
			"and PNG plots: b1-latency.png (p50/p99 against offered rate), b2-deliveries.png\n"+
			"(deliveries per second against group size), b3-memory.png (KiB per connection).\n\n")
		fs.PrintDefaults()
	}
	pos, err := reportParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("report takes one FILE")
	}
	file, dir := pos[0], *out
	if dir == "" {
		if file == "-" {
			return errors.New("-out is required when reading stdin")
		}
		dir = strings.TrimSuffix(file, filepath.Ext(file)) + "-report"
	}
	var md bytes.Buffer
	written, err := Write(file, dir, &md, os.Stderr)
	if err != nil {
		return err
	}
	if *out == "" {
		os.Stdout.Write(md.Bytes())
	}
	for _, f := range written {
		fmt.Fprintln(os.Stderr, "wrote", f)
	}
	return nil
}

// reportParseArgs parses flags that may come before or after the
// positional arguments, which it returns.
func reportParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Write reads file, writes dir/report.md and the plots, copies the
// Markdown to md (if not nil) and warns on warn. It returns the files
// written.
func Write(file, dir string, md io.Writer, warn io.Writer) ([]string, error) {
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	d, err := readReportLines(r, filepath.Base(file))
	if err != nil {
		return nil, err
	}
	for _, s := range d.skipped {
		fmt.Fprintf(warn, "%s: %s\n", file, s)
	}
	if len(d.Lines) == 0 {
		return nil, fmt.Errorf("%s: no valid result line", file)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	images := map[string]string{}
	for _, name := range reportPlotNames {
		os.Remove(filepath.Join(dir, name)) // not those of an earlier report
	}
	for _, p := range reportPlots {
		name, err := reportDraw(p, d, dir)
		if err != nil {
			// A plot that cannot be drawn does not cost the tables.
			fmt.Fprintf(warn, "%v\n", err)
			continue
		}
		if name != "" {
			sc := strings.SplitN(name, "-", 2)[0]
			images[sc] = name
			written = append(written, filepath.Join(dir, name))
		}
	}
	var b bytes.Buffer
	reportMarkdown(&b, d, images)
	path := filepath.Join(dir, "report.md")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return nil, err
	}
	written = append([]string{path}, written...)
	if md != nil {
		md.Write(b.Bytes())
	}
	return written, nil
}

// readReportLines parses the result lines of r. Lines not starting with
// '{' are output of another kind and are skipped silently; a line that
// starts with '{' but is not a result is skipped with a note.
func readReportLines(r io.Reader, source string) (*Data, error) {
	d := &Data{source: source}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		s, err := br.ReadString('\n')
		if s != "" {
			if l, why := ParseLine(s, n); why != "" {
				d.skipped = append(d.skipped, fmt.Sprintf("line %d: %s", n, why))
			} else if l != nil {
				d.Lines = append(d.Lines, *l)
			}
		}
		if err == io.EOF {
			return d, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ParseLine returns the line, or nil and why it was skipped (nil and
// "" for a line that is not JSON at all).
func ParseLine(s string, n int) (*Line, string) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return nil, ""
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, "malformed JSON: " + err.Error()
	}
	l := &Line{n: n, nums: map[string]float64{}, Strs: map[string]string{}}
	for k, v := range m {
		switch v := v.(type) {
		case json.Number:
			if f, err := v.Float64(); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				l.nums[k] = f
			}
		case string:
			l.Strs[k] = v
		case bool:
			l.Strs[k] = strconv.FormatBool(v)
		}
	}
	l.Scenario = l.Strs[KScenario]
	if l.Scenario == "" {
		return nil, "no scenario"
	}
	l.System = l.Strs[KSystem]
	l.Protocol = l.Strs[KProtocol]
	if l.Protocol == "" {
		l.Protocol = l.Strs["transport"] // lines of the first harness
	}
	if q, ok := l.nums["qos"]; ok && l.Protocol != "" {
		// MQTT variants of one step differ by QoS: keep them apart.
		l.Protocol += " qos" + Num(q)
	}
	l.Step = l.Strs[KStep]
	if l.Step == "" {
		for _, k := range []string{"senders", "members", "conns", "rate_per_s"} {
			if v, ok := l.nums[k]; ok {
				l.Step = k + "=" + Num(v)
				break
			}
		}
	}
	if v, ok := l.nums[KeyRound]; ok {
		l.Round = int(v)
	}
	return l, ""
}

// --- grouping -------------------------------------------------------------

// Scenarios returns the scenario names in order: b1 … b5 first, the
// others by first appearance.
func Scenarios(d *Data) []string {
	seen := map[string]bool{}
	var names []string
	for _, l := range d.Lines {
		if !seen[l.Scenario] {
			seen[l.Scenario] = true
			names = append(names, l.Scenario)
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		bi, bj := reportIsBn(names[i]), reportIsBn(names[j])
		if bi != bj {
			return bi
		}
		return bi && names[i] < names[j]
	})
	return names
}

var reportBnRe = regexp.MustCompile(`^b[0-9]+$`)

func reportIsBn(s string) bool { return reportBnRe.MatchString(s) }

func reportOf(d *Data, sc string) []Line {
	var ls []Line
	for _, l := range d.Lines {
		if l.Scenario == sc {
			ls = append(ls, l)
		}
	}
	return ls
}

var reportNumRe = regexp.MustCompile(`[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?`)

// reportStepValue is the first number in a step label (NaN if none).
func reportStepValue(step string) float64 {
	if m := reportNumRe.FindString(step); m != "" {
		if v, err := strconv.ParseFloat(m, 64); err == nil {
			return v
		}
	}
	return math.NaN()
}

// SortLines orders lines by system (parley, parley@REF, then the
// others; each in order of first appearance) and protocol (first
// appearance), then step (by its number; labels without one, such as
// "max", last), then round.
func SortLines(ls []Line) {
	sys, proto := reportFirstSeen(ls, func(l Line) string { return l.System }),
		reportFirstSeen(ls, func(l Line) string { return l.Protocol })
	for s, i := range sys {
		switch {
		case s == "parley":
		case strings.HasPrefix(s, "parley@"):
			sys[s] = i + len(sys)
		default:
			sys[s] = i + 2*len(sys)
		}
	}
	steps := reportFirstSeen(ls, func(l Line) string { return l.Step })
	sort.SliceStable(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if a.System != b.System {
			return sys[a.System] < sys[b.System]
		}
		if a.Protocol != b.Protocol {
			return proto[a.Protocol] < proto[b.Protocol]
		}
		if a.Step != b.Step {
			return reportStepLess(a.Step, b.Step, steps)
		}
		return a.Round < b.Round
	})
}

func reportStepLess(a, b string, order map[string]int) bool {
	va, vb := reportStepValue(a), reportStepValue(b)
	na, nb := math.IsNaN(va), math.IsNaN(vb)
	switch {
	case na != nb:
		return !na
	case !na && va != vb:
		return va < vb
	}
	return order[a] < order[b]
}

func reportFirstSeen(ls []Line, key func(Line) string) map[string]int {
	m := map[string]int{}
	for _, l := range ls {
		if _, ok := m[key(l)]; !ok {
			m[key(l)] = len(m)
		}
	}
	return m
}

// Cell is the median of each figure over the lines of one system ×
// protocol × step (the rounds of a compare, repeated runs).
type Cell struct {
	System, Protocol, Step string
	n                      int
	Nums                   map[string]float64
}

// Cells aggregates ls (sorted with SortLines) by system ×
// protocol × step, in order.
func Cells(ls []Line) []Cell {
	type key struct{ system, protocol, step string }
	idx := map[key]int{}
	var cells []Cell
	vals := []map[string][]float64{}
	for _, l := range ls {
		k := key{l.System, l.Protocol, l.Step}
		i, ok := idx[k]
		if !ok {
			i = len(cells)
			idx[k] = i
			cells = append(cells, Cell{System: l.System, Protocol: l.Protocol, Step: l.Step})
			vals = append(vals, map[string][]float64{})
		}
		cells[i].n++
		for f, v := range l.nums {
			vals[i][f] = append(vals[i][f], v)
		}
	}
	for i := range cells {
		cells[i].Nums = map[string]float64{}
		for f, vs := range vals[i] {
			cells[i].Nums[f] = reportMedian(vs)
		}
	}
	return cells
}

func reportMedian(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// reportColumns are the figures with a value in at least one of ls: the
// well-known ones (in reportFigureOrder), and the others (alphabetical).
func reportColumns(ls []Line) (known, others []string) {
	present := map[string]bool{}
	for _, l := range ls {
		for k := range l.nums {
			present[k] = true
		}
		for k := range l.Strs {
			present[k] = true
		}
	}
	for k := range reportPlacementKeys {
		delete(present, k)
	}
	for _, k := range reportFigureOrder {
		if present[k] {
			known = append(known, k)
			delete(present, k)
		}
	}
	for k := range present {
		others = append(others, k)
	}
	sort.Strings(others)
	return known, others
}

// --- Markdown -------------------------------------------------------------

func reportMarkdown(w io.Writer, d *Data, images map[string]string) {
	fmt.Fprintf(w, "# parley-bench report\n\n")
	fmt.Fprintf(w, "Generated by `parley-bench report` from `%s`: %d result lines", d.source, len(d.Lines))
	if len(d.skipped) > 0 {
		fmt.Fprintf(w, ", %d skipped (%s)", len(d.skipped), strings.Join(d.skipped, "; "))
	}
	fmt.Fprintf(w, ". Figures are medians where a system × protocol × step has several lines\n(rounds); they hold for the machine and the run they were measured on.\n\n")
	if from, to := reportDateRange(d.Lines); from != "" {
		if from == to {
			fmt.Fprintf(w, "- Date: %s\n", from)
		} else {
			fmt.Fprintf(w, "- Dates: %s to %s\n", from, to)
		}
	}
	for _, p := range []struct {
		label string
		keys  []string
	}{
		{"Server cores", []string{"server_cores"}},
		{"Generator cores", []string{"generator_cores"}},
		{"Server GOMAXPROCS", []string{"server_gomaxprocs", "gomaxprocs"}},
		{"Generator GOMAXPROCS", []string{"generator_gomaxprocs", "harness_gomaxprocs"}},
		{"Commits", []string{KeyCommit}},
	} {
		if vs := reportValuesSeen(d.Lines, p.keys...); len(vs) > 0 {
			fmt.Fprintf(w, "- %s: %s\n", p.label, strings.Join(vs, ", "))
		}
	}
	fmt.Fprintln(w)
	for _, sc := range Scenarios(d) {
		ls := reportOf(d, sc)
		SortLines(ls)
		fmt.Fprintf(w, "## %s\n\n", sc)
		reportTable(w, ls)
		if img := images[sc]; img != "" {
			fmt.Fprintf(w, "\n![%s](%s)\n", reportPlotTitle(sc), img)
		}
		cells := Cells(ls)
		reportPeerRatios(w, cells)
		reportCompareRatios(w, cells)
		fmt.Fprintln(w)
	}
}

func reportDateRange(ls []Line) (from, to string) {
	for _, l := range ls {
		s := l.Strs["date"]
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			continue
		}
		s = t.UTC().Format("2006-01-02 15:04 UTC")
		if from == "" || s < from {
			from = s
		}
		if s > to {
			to = s
		}
	}
	return from, to
}

// reportValuesSeen are the distinct values of keys (the first present in
// each line), sorted.
func reportValuesSeen(ls []Line, keys ...string) []string {
	seen := map[string]bool{}
	for _, l := range ls {
		for _, k := range keys {
			if s, ok := l.Strs[k]; ok && s != "" {
				seen[s] = true
				break
			}
			if v, ok := l.nums[k]; ok {
				seen[Num(v)] = true
				break
			}
		}
	}
	var vs []string
	for s := range seen {
		vs = append(vs, s)
	}
	sort.Slice(vs, func(i, j int) bool {
		a, b := reportStepValue(vs[i]), reportStepValue(vs[j])
		if !math.IsNaN(a) && !math.IsNaN(b) && a != b {
			return a < b
		}
		return vs[i] < vs[j]
	})
	return vs
}

// reportTable writes the lines of a scenario: a table of the well-known
// figures, and one of the others if there are both.
func reportTable(w io.Writer, ls []Line) {
	known, others := reportColumns(ls)
	if len(known) == 0 {
		reportTableOf(w, ls, others)
		return
	}
	reportTableOf(w, ls, known)
	if len(others) > 0 {
		fmt.Fprintf(w, "\n<details><summary>More figures</summary>\n\n")
		reportTableOf(w, ls, others)
		fmt.Fprintf(w, "\n</details>\n")
	}
}

func reportTableOf(w io.Writer, ls []Line, cols []string) {
	rounds := false
	for _, l := range ls {
		rounds = rounds || l.Round != 0
	}
	head := []string{"system", "protocol", "step"}
	align := []string{"---", "---", "---"}
	if rounds {
		head, align = append(head, "round"), append(align, "--:")
	}
	for _, c := range cols {
		a := "---" // text: left, numbers: right
		for _, l := range ls {
			if _, ok := l.nums[c]; ok {
				a = "--:"
				break
			}
		}
		head, align = append(head, c), append(align, a)
	}
	reportRow(w, head)
	reportRow(w, align)
	for _, l := range ls {
		row := []string{Text(l.System), Text(l.Protocol), Text(l.Step)}
		if rounds {
			row = append(row, strconv.Itoa(l.Round))
		}
		for _, c := range cols {
			if v, ok := l.nums[c]; ok {
				row = append(row, Num(v))
			} else if s, ok := l.Strs[c]; ok {
				row = append(row, strings.ReplaceAll(s, "|", `\|`))
			} else {
				row = append(row, "")
			}
		}
		reportRow(w, row)
	}
}

func reportRow(w io.Writer, cells []string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

// Text is s as a Markdown table cell ("-" if empty).
func Text(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// Num formats a figure: integers with thousands separators, other
// numbers with three significant digits or two decimals.
func Num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v == math.Trunc(v) && a < 1e15:
		return reportThousands(strconv.FormatInt(int64(v), 10))
	case a >= 1000:
		return reportThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strings.TrimRight(strings.TrimRight(strconv.FormatFloat(v, 'f', 2, 64), "0"), ".")
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func reportThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Ratio is a/b with two decimals ("-" if b is 0).
func Ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// The figures compared between systems.
var (
	reportPeerFigures    = []string{KCPUPerMsg, keyMaxRate, KKBPerConn}
	reportCompareFigures = []string{KCPUPerMsg, KP99, KDelivered, KAcked, keyMaxRate, KKBPerConn}
)

func reportIsParley(system string) bool {
	return system == "parley" || strings.HasPrefix(system, "parley@")
}

// reportPeerRatios writes, for each Parley system of a scenario with
// Mosquitto lines, Parley / Mosquitto of the figures of
// reportPeerFigures, step by step. Parley's line of a protocol is set
// against Mosquitto's line of the same protocol and step, or against its
// only line of the step.
func reportPeerRatios(w io.Writer, cells []Cell) {
	var peer []Cell
	for _, c := range cells {
		if c.System == "mosquitto" {
			peer = append(peer, c)
		}
	}
	if len(peer) == 0 {
		return
	}
	for _, sys := range reportSystems(cells) {
		if !reportIsParley(sys) {
			continue
		}
		var rows [][]string
		for _, c := range cells {
			if c.System != sys {
				continue
			}
			p, ok := reportMatch(peer, c.Protocol, c.Step)
			if !ok {
				continue
			}
			protos := c.Protocol
			if p.Protocol != c.Protocol {
				protos = c.Protocol + " / " + p.Protocol
			}
			for _, f := range reportPeerFigures {
				a, okA := c.Nums[f]
				b, okB := p.Nums[f]
				if okA && okB {
					rows = append(rows, []string{Text(c.Step), Text(protos), f, Num(a), Num(b), Ratio(a, b)})
				}
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s / mosquitto\n\n", sys)
		reportRow(w, []string{"step", "protocol", "figure", sys, "mosquitto", sys + " / mosquitto"})
		reportRow(w, []string{"---", "---", "---", "--:", "--:", "--:"})
		for _, r := range rows {
			reportRow(w, r)
		}
	}
}

// reportMatch finds the cell of step with protocol among cs, or the only
// cell of step.
func reportMatch(cs []Cell, protocol, step string) (Cell, bool) {
	var same []Cell
	for _, c := range cs {
		if c.Step != step {
			continue
		}
		if c.Protocol == protocol {
			return c, true
		}
		same = append(same, c)
	}
	if len(same) == 1 {
		return same[0], true
	}
	return Cell{}, false
}

// reportSystems are the systems of cells in order.
func reportSystems(cells []Cell) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cells {
		if !seen[c.System] {
			seen[c.System] = true
			out = append(out, c.System)
		}
	}
	return out
}

// reportCompareRatios writes, when a scenario has lines of several
// parley@REF systems (parley-bench compare), each one's figures over those
// of the first (compare runs the reference first), per protocol and step.
func reportCompareRatios(w io.Writer, cells []Cell) {
	var refs []string
	for _, s := range reportSystems(cells) {
		if strings.HasPrefix(s, "parley@") {
			refs = append(refs, s)
		}
	}
	if len(refs) < 2 {
		return
	}
	base := refs[0]
	var baseCells []Cell
	for _, c := range cells {
		if c.System == base {
			baseCells = append(baseCells, c)
		}
	}
	for _, sys := range refs[1:] {
		var rows [][]string
		for _, c := range cells {
			if c.System != sys {
				continue
			}
			var b Cell
			found := false
			for _, bc := range baseCells {
				if bc.Protocol == c.Protocol && bc.Step == c.Step {
					b, found = bc, true
				}
			}
			if !found {
				continue
			}
			for _, f := range reportCompareFigures {
				x, okX := c.Nums[f]
				y, okY := b.Nums[f]
				if okX && okY {
					rows = append(rows, []string{Text(c.Protocol), Text(c.Step), f, Num(y), Num(x), Ratio(x, y)})
				}
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s / %s\n\n", sys, base)
		reportRow(w, []string{"protocol", "step", "figure", base, sys, sys + " / " + base})
		reportRow(w, []string{"---", "---", "---", "--:", "--:", "--:"})
		for _, r := range rows {
			reportRow(w, r)
		}
	}
}

// --- plots ----------------------------------------------------------------

// reportPlots each draw one PNG into dir and return its name ("" if the
// data has nothing for it). The name starts with the scenario and "-".
var reportPlots = []func(d *Data, dir string) (string, error){
	reportPlotB1, reportPlotB2, reportPlotB3,
}

// reportPlotNames are the files reportPlots may write.
var reportPlotNames = []string{"b1-latency.png", "b2-deliveries.png", "b3-memory.png"}

// reportDraw runs one of reportPlots; a panic of the plotting library is
// an error.
func reportDraw(p func(*Data, string) (string, error), d *Data, dir string) (name string, err error) {
	defer func() {
		if r := recover(); r != nil {
			name, err = "", fmt.Errorf("plot: %v", r)
		}
	}()
	return p(d, dir)
}

func reportPlotTitle(sc string) string {
	switch sc {
	case "b1":
		return "b1: send-to-deliver latency against offered rate"
	case "b2":
		return "b2: deliveries per second against group size"
	case "b3":
		return "b3: memory per idle connection"
	}
	return sc
}

const (
	reportPlotW = 8 * vg.Inch
	reportPlotH = 5 * vg.Inch
)

// reportSeries is one line of a plot: y against x for one system/protocol.
type reportSeries struct {
	name string
	xys  plotter.XYs
}

// reportXY collects, per system/protocol of the lines of sc (step "max"
// left out), the median of y at each x. x is the line's xKey, or else the
// number of its step label. If the lines have several values of splitKey
// (b2's offered rate), each value is a series of its own.
func reportXY(d *Data, sc, xKey, yKey, splitKey string) []reportSeries {
	ls := reportOf(d, sc)
	SortLines(ls)
	splits := map[float64]bool{}
	for _, l := range ls {
		if v, ok := l.nums[splitKey]; ok && splitKey != "" {
			splits[v] = true
		}
	}
	order := []string{}
	points := map[string]map[float64][]float64{}
	for _, l := range ls {
		if l.Step == "max" {
			continue
		}
		y, ok := l.nums[yKey]
		if !ok {
			continue
		}
		x, ok := l.nums[xKey]
		if !ok {
			if x = reportStepValue(l.Step); math.IsNaN(x) {
				continue
			}
		}
		name := reportSeriesName(l.System, l.Protocol)
		if v, ok := l.nums[splitKey]; ok && len(splits) > 1 {
			name += " " + strings.TrimSuffix(splitKey, "_per_s") + "=" + strconv.FormatFloat(v, 'g', -1, 64)
		}
		if points[name] == nil {
			points[name] = map[float64][]float64{}
			order = append(order, name)
		}
		points[name][x] = append(points[name][x], y)
	}
	var out []reportSeries
	for _, name := range order {
		var xys plotter.XYs
		for x, ys := range points[name] {
			xys = append(xys, plotter.XY{X: x, Y: reportMedian(ys)})
		}
		sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
		out = append(out, reportSeries{name, xys})
	}
	return out
}

func reportSeriesName(system, protocol string) string {
	if system == "" {
		system = "-"
	}
	if protocol == "" {
		return system
	}
	return system + "/" + protocol
}

// reportLogIfWide puts an axis on a log scale when all its values are
// positive and span two orders of magnitude or more.
func reportLogIfWide(a *plot.Axis, vs []float64) {
	if len(vs) == 0 {
		return
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v <= 0 {
			return
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi/lo >= 100 {
		a.Scale = plot.LogScale{}
		a.Tick.Marker = reportTicks{plot.LogTicks{Prec: -1}}
	}
}

// reportTicks labels an axis's ticks like the tables (1,000).
type reportTicks struct{ plot.Ticker }

func (t reportTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := t.Ticker.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = Num(ts[i].Value)
		}
	}
	return ts
}

// reportHeadroom raises the top of the Y axis so that a legend of n
// entries at the top of the plot does not cover the data.
func reportHeadroom(p *plot.Plot, n int) {
	lo, hi := p.Y.Min, p.Y.Max
	if hi <= lo {
		return
	}
	frac := math.Min(0.5, 0.05+0.055*float64(n))
	k := frac / (1 - frac)
	if _, log := p.Y.Scale.(plot.LogScale); log && lo > 0 {
		p.Y.Max = hi * math.Pow(hi/lo, k)
	} else {
		p.Y.Max = hi + (hi-lo)*k
	}
}

func reportNewPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.X.Tick.Marker = reportTicks{plot.DefaultTicks{}}
	p.Y.Tick.Marker = reportTicks{plot.DefaultTicks{}}
	p.Add(plotter.NewGrid())
	return p
}

// reportLinePlot draws series (each with an optional dashed companion)
// into dir/name.
func reportLinePlot(p *plot.Plot, dir, name string, groups [][]reportSeries, labels []string) (string, error) {
	var xs, ys []float64
	n := 0
	for gi, g := range groups {
		for i, s := range g {
			if len(s.xys) == 0 {
				continue
			}
			l, sc, err := plotter.NewLinePoints(s.xys)
			if err != nil {
				return "", fmt.Errorf("%s: %w", name, err)
			}
			col := plotutil.Color(i)
			l.Color, sc.Color, sc.Shape = col, col, plotutil.Shape(i)
			l.Width = vg.Points(1.5)
			if gi > 0 {
				l.Dashes = plotutil.Dashes(gi)
			}
			p.Add(l, sc)
			label := s.name
			if labels[gi] != "" {
				label += " " + labels[gi]
			}
			p.Legend.Add(label, l, sc)
			for _, xy := range s.xys {
				xs, ys = append(xs, xy.X), append(ys, xy.Y)
			}
			n++
		}
	}
	if n == 0 {
		return "", nil
	}
	reportLogIfWide(&p.X, xs)
	reportLogIfWide(&p.Y, ys)
	reportHeadroom(p, n)
	if err := p.Save(reportPlotW, reportPlotH, filepath.Join(dir, name)); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return name, nil
}

// reportPlotB1: p99 (solid) and p50 (dashed) latency against offered rate.
func reportPlotB1(d *Data, dir string) (string, error) {
	p99 := reportXY(d, "b1", "rate_per_s", KP99, "")
	p50 := reportXY(d, "b1", "rate_per_s", KP50, "")
	// The same colour for a system's p99 and p50: align p50 on p99's order.
	aligned := make([]reportSeries, len(p99))
	for i, s := range p99 {
		aligned[i].name = s.name
		for _, t := range p50 {
			if t.name == s.name {
				aligned[i] = t
			}
		}
	}
	for _, t := range p50 { // p50 without p99
		found := false
		for _, s := range p99 {
			found = found || s.name == t.name
		}
		if !found {
			p99 = append(p99, reportSeries{name: t.name})
			aligned = append(aligned, t)
		}
	}
	p := reportNewPlot(reportPlotTitle("b1"), "offered rate (messages/s)", "latency (ms)")
	return reportLinePlot(p, dir, "b1-latency.png", [][]reportSeries{p99, aligned}, []string{"p99", "p50"})
}

// reportPlotB2: deliveries per second against group size.
func reportPlotB2(d *Data, dir string) (string, error) {
	s := reportXY(d, "b2", "members", KDelivered, "rate_per_s")
	p := reportNewPlot(reportPlotTitle("b2"), "group size (members)", "deliveries per second")
	return reportLinePlot(p, dir, "b2-deliveries.png", [][]reportSeries{s}, []string{""})
}

// reportPlotB3: KiB per connection by system/protocol, one bar per step
// (connection count) in each group.
func reportPlotB3(d *Data, dir string) (string, error) {
	ls := reportOf(d, "b3")
	SortLines(ls)
	var cats, steps []string
	val := map[[2]string][]float64{}
	for _, l := range ls {
		v, ok := l.nums[KKBPerConn]
		if !ok {
			continue
		}
		c := reportSeriesName(l.System, l.Protocol)
		if !slices.Contains(cats, c) {
			cats = append(cats, c)
		}
		if !slices.Contains(steps, l.Step) {
			steps = append(steps, l.Step)
		}
		val[[2]string{c, l.Step}] = append(val[[2]string{c, l.Step}], v)
	}
	if len(cats) == 0 {
		return "", nil
	}
	order := map[string]int{}
	for i, s := range steps {
		order[s] = i
	}
	sort.SliceStable(steps, func(i, j int) bool { return reportStepLess(steps[i], steps[j], order) })
	p := reportNewPlot(reportPlotTitle("b3"), "", "KiB per connection (server RSS)")
	width := vg.Points(math.Min(40, 240/float64(len(cats)*len(steps))))
	for j, st := range steps {
		vs := make(plotter.Values, len(cats))
		for i, c := range cats {
			if v := val[[2]string{c, st}]; len(v) > 0 {
				vs[i] = reportMedian(v)
			}
		}
		b, err := plotter.NewBarChart(vs, width)
		if err != nil {
			return "", fmt.Errorf("b3-memory.png: %w", err)
		}
		b.Color = plotutil.Color(j)
		b.LineStyle.Color = color.Gray{Y: 64}
		b.Offset = vg.Length(float64(j)-float64(len(steps)-1)/2) * width
		p.Add(b)
		if len(steps) > 1 || st != "" {
			p.Legend.Add(st, b)
		}
	}
	p.NominalX(cats...)
	p.X.Tick.Label.Font.Size = vg.Points(10)
	p.Y.Min = 0
	p.Legend.ThumbnailWidth = vg.Points(12)
	if len(steps) > 1 || steps[0] != "" {
		reportHeadroom(p, len(steps))
	}
	if err := p.Save(reportPlotW, reportPlotH, filepath.Join(dir, "b3-memory.png")); err != nil {
		return "", fmt.Errorf("b3-memory.png: %w", err)
	}
	return "b3-memory.png", nil
}

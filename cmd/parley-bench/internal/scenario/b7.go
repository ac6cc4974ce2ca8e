package scenario

// b7, the moments feed (issue 12, point 5): a reader follows -authors
// users, each of whom posted -posts moments, and -others users the reader
// does not follow posted as many. The moments are posted over HTTP in
// rounds (each author one moment per round, in a shuffled order), so that
// the authors' moments interleave as they would over time; one in eight is
// for friends only (the reader is nobody's friend, so the server drops
// them after reading) and one in sixteen for a list (naming the reader
// every other time). The posting server runs with store.unsafe, which only
// makes the preparation fast; the server is then restarted with its normal
// durability on the same data directory, and the reader asks for the first
// page of its feed -requests times, one after another, over HTTP (GET
// /v1/moments/feed) and over WebSocket (the moment_feed op, Go SDK), and
// for the page after the first over HTTP. Each step reports p50, p99 and
// the largest latency, and the server's CPU per request.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

func init() {
	register(Scenario{"b7", "moments feed: the first page for a reader following N authors with M moments each (HTTP and WebSocket)", runB7})
}

type b7Flags struct {
	common
	authors     int
	posts       int
	others      int
	requests    int
	page        int
	concurrency int
}

func parseB7Flags(args []string) (*b7Flags, error) {
	fs := flag.NewFlagSet("b7", flag.ContinueOnError)
	f := &b7Flags{}
	f.flags(fs, false)
	fs.IntVar(&f.authors, "authors", 5000, "users the reader follows")
	fs.IntVar(&f.posts, "posts", 20, "moments each author (and each other user) posts")
	fs.IntVar(&f.others, "others", 1000, "users the reader does not follow, who post as many")
	fs.IntVar(&f.requests, "requests", 200, "feed requests measured per step, one after another")
	fs.IntVar(&f.page, "page", 20, "moments per page (1 to 100)")
	fs.IntVar(&f.concurrency, "concurrency", 16, "HTTP requests in flight while preparing (not measured)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench b7 -server BIN [flags]\n\n"+
			"Moments feed (issue 12): a reader follows -authors users with -posts moments each,\n"+
			"among those of -others users it does not follow, all posted over HTTP (store.unsafe\n"+
			"while preparing). On the same data, restarted durable, the reader's first feed page is\n"+
			"asked -requests times over HTTP and over WebSocket, and the second page over HTTP.\n"+
			"Result lines: step \"first-page\" (http, ws) and \"second-page\" (http): p50_ms, p99_ms,\n"+
			"max_ms, moments per page, server_cpu_ms_per_req, and the preparation's figures.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case f.authors < 1 || f.authors > 100_000 || f.others < 0 || f.others > 100_000:
		return nil, errors.New("-authors must be in 1..100000 and -others in 0..100000")
	case f.posts < 1 || f.posts > 1000 || f.requests < 1 || f.page < 1 || f.page > 100 || f.concurrency < 1:
		return nil, errors.New("-posts in 1..1000, -requests ≥ 1, -page in 1..100, -concurrency ≥ 1")
	}
	return f, nil
}

func b7Author(i int) string { return "f" + strconv.Itoa(i) }
func b7Other(i int) string  { return "o" + strconv.Itoa(i) }

const b7Reader = "reader"

func runB7(args []string) error {
	f, err := parseB7Flags(args)
	if err != nil {
		return err
	}
	root, done, err := f.setup("b7")
	if err != nil {
		return err
	}
	defer done()
	if _, err := proc.CheckNoFile(2*f.concurrency + 64); err != nil {
		return err
	}
	mach := proc.DescribeMachine()
	fmt.Printf("b7: machine %d cores, %s, %s, kernel %s; generator %s GOMAXPROCS=%d pinned=%q; load average %s\n",
		mach.Cores, mach.CPUModel, mach.MemTotal, mach.Kernel, mach.GoVersion, runtime.GOMAXPROCS(0), os.Getenv(proc.PinnedEnv), proc.LoadAvg())
	dir := filepath.Join(root, "parley")
	ext, err := auth.NewExternal()
	if err != nil {
		return err
	}
	env := append(ext.Env(),
		"PARLEY_MOMENTS_POSTS_PER_USER_PER_HOUR=1000000000",
		fmt.Sprintf("PARLEY_MOMENTS_FOLLOWS_PER_USER=%d", max(f.authors, 5000)),
		"PARLEY_RATE_LIMITS_OPS_PER_USER_PER_SECOND=1000000", "PARLEY_RATE_LIMITS_OPS_BURST=1000000",
		"PARLEY_RATE_LIMITS_QUERIES_PER_USER_PER_SECOND=1000000", "PARLEY_RATE_LIMITS_QUERY_BURST=1000000",
		"PARLEY_HTTP_REQUESTS_PER_IP=1000000", "PARLEY_HTTP_REQUESTS_PER_IP_PER_MINUTE=1000000000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	apis := map[string]*parley.API{}
	users := []string{b7Reader}
	for i := range f.authors {
		users = append(users, b7Author(i))
	}
	for i := range f.others {
		users = append(users, b7Other(i))
	}
	for _, u := range users {
		tok, err := ext.Token(u, "load", 24*time.Hour)
		if err != nil {
			return err
		}
		apis[u] = &parley.API{BaseURL: "", Token: tok}
	}

	// Preparation: posts in rounds, then the reader's follows.
	srv, err := proc.StartServer(f.server, dir, f.cpuServer, f.serverEnv(append(env, "PARLEY_STORE_UNSAFE=true")...))
	if err != nil {
		return err
	}
	for _, a := range apis {
		a.BaseURL = srv.URL
	}
	t0 := time.Now()
	posters := users[1:]
	r := rand.New(rand.NewPCG(7, 11))
	payload := []byte(`{"images":["https://img.example.com/2026/12/07/0123456789abcdef.jpg","https://img.example.com/2026/12/07/fedcba9876543210.jpg"]}`)
	n := 0
	for round := range f.posts {
		order := slices.Clone(posters)
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		base := n
		err := conc.ForEachLimited(ctx, len(order), f.concurrency, func(i int) error {
			p := protocol.MomentPost{ClientMsgID: fmt.Sprintf("b7-%d", round), Payload: payload,
				Text: "a day at the lake with friends, the water was cold but the sun was out"}
			switch k := base + i; {
			case k%16 == 5:
				p.Visibility, p.Users = protocol.VisibilityList, []string{b7Reader}
				if k%32 == 21 {
					p.Users = []string{order[(i+1)%len(order)]}
				}
			case k%8 == 3:
				p.Visibility = protocol.VisibilityFriends
			}
			_, err := apis[order[i]].PostMoment(ctx, p)
			return err
		})
		if err != nil {
			srv.StopOrLog()
			return fmt.Errorf("posting round %d: %w", round, err)
		}
		n += len(order)
	}
	postTime := time.Since(t0)
	t1 := time.Now()
	if err := conc.ForEachLimited(ctx, f.authors, f.concurrency, func(i int) error {
		return apis[b7Reader].Follow(ctx, b7Author(i))
	}); err != nil {
		srv.StopOrLog()
		return fmt.Errorf("follows: %w", err)
	}
	followTime := time.Since(t1)
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("stop the preparing server: %w", err)
	}
	fmt.Printf("b7: %d moments by %d users posted in %s (%.0f/s, store.unsafe), %d follows in %s\n",
		n, len(posters), postTime.Round(time.Millisecond), float64(n)/postTime.Seconds(), f.authors, followTime.Round(time.Millisecond))

	// Measurement, on a durable server.
	srv, err = proc.StartServer(f.server, dir, f.cpuServer, f.serverEnv(env...))
	if err != nil {
		return err
	}
	defer srv.StopOrLog()
	reader := &parley.API{BaseURL: srv.URL, Token: apis[b7Reader].Token}
	client, err := parley.Dial(ctx, parley.Options{URL: srv.URL, Token: reader.Token})
	if err != nil {
		return err
	}
	defer client.Close()
	go drainClient(client)
	first, err := reader.Feed(ctx, "", f.page)
	if err != nil {
		return err
	}
	if len(first.Moments) == 0 || first.Next == "" {
		return fmt.Errorf("the first page has %d moments and next %q", len(first.Moments), first.Next)
	}
	steps := []struct {
		proto, step string
		get         func() (protocol.MomentPage, error)
	}{
		{"http", "first-page", func() (protocol.MomentPage, error) { return reader.Feed(ctx, "", f.page) }},
		{"ws", "first-page", func() (protocol.MomentPage, error) { return client.Feed(ctx, "", f.page) }},
		{"http", "second-page", func() (protocol.MomentPage, error) { return reader.Feed(ctx, first.Next, f.page) }},
	}
	for _, st := range steps {
		for range min(20, f.requests) { // warm-up
			if _, err := st.get(); err != nil {
				return fmt.Errorf("%s %s: %w", st.proto, st.step, err)
			}
		}
		cpu0, _ := measure.ProcCPUTime(srv.PID)
		lat := make([]time.Duration, 0, f.requests)
		moments := 0
		for range f.requests {
			t := time.Now()
			p, err := st.get()
			if err != nil {
				return fmt.Errorf("%s %s: %w", st.proto, st.step, err)
			}
			lat = append(lat, time.Since(t))
			moments = len(p.Moments)
		}
		cpu1, _ := measure.ProcCPUTime(srv.PID)
		slices.Sort(lat)
		p50, p99, top := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
		cpuPerReq := measure.Ms(cpu1-cpu0) / float64(f.requests)
		fmt.Printf("b7 %s %s: %d requests, %d moments a page: p50 %.2f ms, p99 %.2f ms, max %.2f ms; server CPU %.2f ms/request\n",
			st.proto, st.step, f.requests, moments, measure.Ms(p50), measure.Ms(p99), measure.Ms(top), cpuPerReq)
		res := report.NewResult("b7", "parley", st.proto, st.step, f.placement())
		res["authors"], res["posts_per_author"], res["others"], res["moments_total"] = f.authors, f.posts, f.others, n
		res["requests"], res["page"], res["moments_in_page"] = f.requests, f.page, moments
		res[report.KP50], res[report.KP99], res["max_ms"] = report.Round(measure.Ms(p50), 3), report.Round(measure.Ms(p99), 3), report.Round(measure.Ms(top), 3)
		res["server_cpu_ms_per_req"] = report.Round(cpuPerReq, 3)
		res["posted_per_s"], res["loadavg"] = report.Round(float64(n)/postTime.Seconds(), 0), proc.LoadAvg()
		report.EmitResult(res)
	}
	return nil
}

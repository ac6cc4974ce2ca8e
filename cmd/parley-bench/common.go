package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// scenario is one "parley-bench NAME" command.
type scenario struct {
	name    string
	summary string // one line for the usage text
	run     func(args []string) error
}

var scenarios = map[string]scenario{}

// register adds a scenario (from an init function of its file).
func register(s scenario) {
	if _, dup := scenarios[s.name]; dup {
		panic("scenario registered twice: " + s.name)
	}
	scenarios[s.name] = s
}

func scenarioNames() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// common are the flags every scenario that starts servers has.
type common struct {
	server     string // the parley binary
	cpuServer  int
	cpuClient  int
	keep       bool
	profileDir string // save CPU and heap profiles of the server here
	mosquitto  string // the mosquitto binary ("" finds it)
	peers      string // "mosquitto" or "none"
}

// flags registers the common flags on fs; withPeers adds -peers and
// -mosquitto (scenarios with an MQTT variant).
func (c *common) flags(fs *flag.FlagSet, withPeers bool) {
	fs.StringVar(&c.server, "server", "", "path of the parley binary (required)")
	fs.IntVar(&c.cpuServer, "cpu-server", 0, "CPU to pin the server (and the Mosquitto peer) to with taskset (-1: no pinning)")
	fs.IntVar(&c.cpuClient, "cpu-client", 1, "CPU to pin the generator to with taskset (-1: no pinning)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary data directories and server logs")
	fs.StringVar(&c.profileDir, "profile-dir", "", "save a CPU profile and a heap profile of the server during each measured step into DIR (go tool pprof)")
	if withPeers {
		fs.StringVar(&c.peers, "peers", "mosquitto", "peers measured in the same run beside Parley's MQTT variant: mosquitto or none")
		fs.StringVar(&c.mosquitto, "mosquitto", "", "path of the mosquitto binary (default: from PATH or /usr/sbin)")
	}
}

// errNoServer is returned when -server is missing.
var errNoServer = errors.New("-server is required")

// setup checks the common flags, pins the generator (re-executing it under
// taskset: only the pinned child returns), and makes the run's temporary
// directory; done removes it unless -keep.
func (c *common) setup(name string) (root string, done func(), err error) {
	if c.server == "" {
		return "", nil, errNoServer
	}
	if c.server, err = filepath.Abs(c.server); err != nil {
		return "", nil, err
	}
	if c.peers != "" && c.peers != "mosquitto" && c.peers != "none" {
		return "", nil, fmt.Errorf("-peers must be mosquitto or none, not %q", c.peers)
	}
	if c.peers == "mosquitto" {
		if c.mosquitto, err = findMosquitto(c.mosquitto); err != nil {
			return "", nil, err
		}
	}
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			return "", nil, err
		}
	}
	pinSelf(c.cpuClient)
	if root, err = os.MkdirTemp("", "parley-bench-"+strings.ReplaceAll(name, "/", "-")+"-"); err != nil {
		return "", nil, err
	}
	if c.keep {
		fmt.Println("data directories and logs under", root)
		return root, func() {}, nil
	}
	return root, func() { os.RemoveAll(root) }, nil
}

func (c *common) placement() placement {
	return placement{cpuServer: c.cpuServer, cpuClient: c.cpuClient}
}

// forEachLimited runs fn(i) for i in [0, n), at most limit at a time, and
// returns the first error (it starts no more after one).
func forEachLimited(ctx context.Context, n, limit int, fn func(i int) error) error {
	var mu sync.Mutex
	var firstErr error
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return firstErr != nil }
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := 0; i < n && !failed() && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

package scenario

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// Scenario is one "parley-bench NAME" command.
type Scenario struct {
	name    string
	Summary string // one line for the usage text
	Run     func(args []string) error
}

// Scenarios are the commands by name, filled by register.
var Scenarios = map[string]Scenario{}

// register adds a scenario (from an init function of its file).
func register(s Scenario) {
	if _, dup := Scenarios[s.name]; dup {
		panic("scenario registered twice: " + s.name)
	}
	Scenarios[s.name] = s
}

// Names returns the names of Scenarios, sorted.
func Names() []string {
	names := make([]string, 0, len(Scenarios))
	for n := range Scenarios {
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
		if c.mosquitto, err = proc.FindMosquitto(c.mosquitto); err != nil {
			return "", nil, err
		}
	}
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			return "", nil, err
		}
	}
	proc.PinSelf(c.cpuClient)
	if root, err = os.MkdirTemp("", "parley-bench-"+strings.ReplaceAll(name, "/", "-")+"-"); err != nil {
		return "", nil, err
	}
	if c.keep {
		fmt.Println("data directories and logs under", root)
		return root, func() {}, nil
	}
	return root, func() { os.RemoveAll(root) }, nil
}

func (c *common) placement() report.Placement {
	return report.Placement{CPUServer: c.cpuServer, CPUClient: c.cpuClient}
}

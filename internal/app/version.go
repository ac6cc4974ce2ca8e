package app

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Build describes the running binary: its version and, as the go command
// stamps them when it builds from a repository checkout (-buildvcs), the
// commit it was built from and whether the work tree had changes.
type Build struct {
	Version   string // Version, or the module version Go stamped, or "dev"
	Commit    string // vcs.revision; empty if not stamped
	Modified  bool   // vcs.modified: built from a work tree with changes
	Time      string // vcs.time: the commit's time (RFC 3339)
	GoVersion string
}

// Commit is the commit the binary was built from when Go could not stamp it
// (a build without the .git directory, such as the Docker image's), set
// with -ldflags "-X github.com/parley-im/parley/internal/app.Commit=…".
var Commit = ""

// build is the running binary's, read once at start.
var build = readBuild(Version, Commit, readBuildInfo())

func readBuildInfo() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
}

func init() { Version = build.Version }

// BuildInfo describes the running binary.
func BuildInfo() Build { return build }

// readBuild combines the linker-set version and commit with the build
// information Go embedded: a version set with -ldflags -X wins; without
// one, the main module's version (a tag for `go install …@v1.2.3`, a
// pseudo-version for a build in a checkout); "dev" when Go stamped none.
// The commit Go stamped wins over a linker-set one.
func readBuild(version, commit string, bi *debug.BuildInfo) Build {
	b := Build{Version: version, Commit: commit}
	if bi == nil {
		if b.Version == "" {
			b.Version = "dev"
		}
		return b
	}
	b.GoVersion = bi.GoVersion
	if (b.Version == "" || b.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.Time = s.Value
		}
	}
	return b
}

// String is the line `parley version` prints after "parley ": the version,
// then the commit (12 digits, "+modified" for a changed work tree), the
// commit's time and the Go version when known.
func (b Build) String() string {
	var extra []string
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if b.Modified {
			c += "+modified"
		}
		extra = append(extra, "commit "+c)
	}
	if b.Time != "" {
		extra = append(extra, b.Time)
	}
	if b.GoVersion != "" {
		extra = append(extra, b.GoVersion)
	}
	if len(extra) == 0 {
		return b.Version
	}
	return fmt.Sprintf("%s (%s)", b.Version, strings.Join(extra, ", "))
}

// buildInfoGauge is parley_build_info: always 1, with the build as labels,
// so dashboards can show which version each node runs.
func buildInfoGauge() prometheus.Collector {
	b := BuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_build_info",
		Help: "Always 1; the labels describe the running binary.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit,
			"modified": fmt.Sprint(b.Modified), "goversion": b.GoVersion}})
	g.Set(1)
	return g
}

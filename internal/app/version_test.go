package app

import (
	"runtime/debug"
	"testing"
)

func TestReadBuild(t *testing.T) {
	t.Parallel()
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name    string
		version string
		commit  string
		bi      *debug.BuildInfo
		want    string
	}{
		{"no build info", "dev", "", nil, "dev"},
		{"docker: ldflags only", "v1.2.3", "fedcba9876543210", nil, "v1.2.3 (commit fedcba987654)"},
		{"go run", "dev", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "dev (go1.26.8)"},
		{"checkout", "dev", "fedcba9876543210", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260102030405-0123456789ab+dirty"}, Settings: vcs},
			"v0.0.0-20260102030405-0123456789ab+dirty (commit 0123456789ab+modified, 2026-01-02T03:04:05Z, go1.26.8)"},
		{"ldflags win", "v1.2.3", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-x"}, Settings: vcs[:3]},
			"v1.2.3 (commit 0123456789ab, 2026-01-02T03:04:05Z, go1.26.8)"},
		{"go install at a tag", "dev", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0 (go1.26.8)"},
	}
	for _, tt := range tests {
		if got := readBuild(tt.version, tt.commit, tt.bi).String(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

package cli_test

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/cli"
)

// TestCommandsOfferOnlyFlagsTheyUse: the listening and logging flags
// belong to serve; the commands that work on the data directory offer
// --config and --data-dir and refuse the rest as unknown.
func TestCommandsOfferOnlyFlagsTheyUse(t *testing.T) {
	t.Parallel()
	serveOnly := []string{"http-addr", "mqtt-addr", "log-level"}
	var walk func(*cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() {
			return
		}
		path := c.CommandPath()
		for _, f := range serveOnly {
			has := c.Flags().Lookup(f) != nil
			if path == "parley serve" && !has {
				t.Errorf("%s does not offer --%s", path, f)
			}
			if path != "parley serve" && has {
				t.Errorf("%s offers --%s, which it ignores", path, f)
			}
		}
		if c.Flags().Lookup("data-dir") != nil {
			seen++
		}
	}
	walk(cli.New(io.Discard, io.Discard))
	if seen < 5 {
		t.Errorf("only %d commands take --data-dir", seen)
	}
	_, _, err := run(t, "user", "add", "alice", "--http-addr", "127.0.0.1:1", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "unknown flag: --http-addr") {
		t.Errorf("user add --http-addr: %v, want unknown flag", err)
	}
}

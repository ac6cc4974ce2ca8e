package scenario

import (
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
)

// "parley-bench report" is the report package's Run; it is registered here
// beside the scenarios, since the registry is this package's.
func init() {
	register(Scenario{"report", "Markdown tables and PNG plots from result lines (FILE.jsonl)", report.Run})
}

// Package report owns the result lines, one JSON object per scenario ×
// system × step (Result, NewResult, EmitResult and the key names such as
// KP99), and reads them back: "parley-bench report" (Run, Write) turns a
// run's lines into Markdown tables and PNG plots, and the comparison of
// parley-bench compare is built from the same parsing and aggregation
// (ParseLine, SortLines, Cells).
//
// Concurrency: EmitResult may be called from any goroutine; lines are
// written whole, one at a time. Captured, the tests' hook, is set and read
// under EmitMu. Everything else runs on the caller's goroutine.
package report

// Package measure turns a run into figures: open-loop pacing with latency
// counted from each send's scheduled time (OpenSchedule, ItemTimes),
// closed-loop senders measured over a window (ClosedLoop, WindowStats),
// snapshots of the server's CPU and metrics at a window's edges, memory per
// connection (MemSnapshot), percentiles, and the file system's fsync rate
// (ProbeFsync).
//
// Concurrency: ItemTimes may be marked from any number of goroutines (each
// item is recorded once, atomically). The senders of StartSenders and
// ClosedLoop run on their own goroutines and call the SendFunc concurrently,
// each with its own sender index; a SenderRun's figures may be read only
// after Wait. OpenSchedule.Run calls issue from the calling goroutine.
package measure

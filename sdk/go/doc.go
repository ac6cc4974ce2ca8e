// Package parley is the Go SDK for Parley: a WebSocket client that signs in,
// sends with automatic client message ids and retries, receives messages in
// order with repeats dropped, acknowledges them, marks conversations read,
// pages history, and reconnects with backoff and resumes with no gap.
//
// The SDK depends on Parley's protocol package and a WebSocket library only.
//
// Concurrency: a Client is safe for concurrent use. Messages and Events are
// delivered on channels that the application must drain; a client that stops
// reading is eventually disconnected by the server and resumes later.
package parley

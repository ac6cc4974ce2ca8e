// Package parley is the Go SDK for Parley: a WebSocket client that signs in,
// sends with automatic client message ids and retries, receives messages in
// order with repeats dropped, acknowledges them, marks conversations read,
// pages history, and reconnects with backoff and resumes with no gap. API
// calls the HTTP API with a user's access token, Admin the admin API with
// the server's admin key.
//
// The SDK depends on Parley's protocol package and a WebSocket library only.
//
// Concurrency: a Client is safe for concurrent use. Messages are delivered
// on a channel the application must drain: a client that stops reading it
// stops reading the connection, is eventually disconnected by the server as
// a slow consumer, and resumes later without loss. Events (receipts, read
// states, typing, presence, resume ends) are best-effort: when their channel
// is full they are dropped and counted (Client.DroppedEvents), never holding
// up messages; the state they carry can be queried again.
package parley

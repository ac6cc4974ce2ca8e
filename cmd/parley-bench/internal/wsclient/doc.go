// Package wsclient opens and closes many authenticated WebSocket
// connections to a Parley server (hello with a token, resume, wait for
// "resumed"), for scenarios that hold connections rather than use the Go
// SDK.
//
// Concurrency: OpenConns opens up to OpenOptions.Concurrency connections at
// once and writes each into its own slot of the slice it is given. Every
// open connection has one reader goroutine that answers pings and passes
// frames to OnFrame (called from that goroutine, one per connection); it
// ends when the connection is closed (CloseAll).
package wsclient

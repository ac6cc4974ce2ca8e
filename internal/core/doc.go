// Package core is Parley's protocol-independent heart: accounts and
// sessions, conversations, the send path (authorize, group commit, seq,
// acknowledge after commit), fan-out to connected devices, delivery
// positions and resume, read positions and derived unread counts, receipts,
// typing and presence, retention, and the erasure and export of accounts.
//
// Gateways (WebSocket, HTTP, later MQTT) authenticate with Authenticate,
// attach a connection with Attach (giving a Transport) and call the methods
// of Core on behalf of an Identity; each takes only the roles it uses
// (roles.go), never *Core itself. The core never knows which protocol a
// connection speaks. The per-user limits live here, so every gateway gets
// them: the send rate (SendAsync, EditAsync, DeleteAsync) and the
// connections per user and the flapping ban of a device (Attach); each
// refusal is a *ratelimit.Error, counted in Metrics.RateLimited.
//
// Concurrency: Core's methods are safe for concurrent use. Each Client has
// one writer goroutine that owns its delivery cursors; everything written to
// a connection goes through it, so frames of one connection are ordered.
// Sends are batched by one committer goroutine into one store transaction
// per flush; it hands what it committed, in commit order, to one dispatcher
// goroutine, the only path by which stored messages are published (local
// fan-out, the bus), so fan-out never holds up the next commit. Every
// client operation spends from a per-user budget (budget.go) kept here, so
// every gateway gets the same limits. A retention goroutine started by Run deletes old messages in
// short store transactions (Retention); an account's erasure (DeleteUser)
// is one store transaction of its own.
package core

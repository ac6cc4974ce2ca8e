package ws

import "github.com/parley-im/parley/internal/core"

// Core is what the gateway uses of the core, by role (core/roles.go);
// *core.Core is one. A WebSocket connection authenticates, attaches, and
// then sends, moves its positions and queries; it administers nothing and
// manages no groups (the HTTP API does). It manages its user's blocks.
type Core interface {
	core.Authenticator
	core.Attacher
	core.Friends
	core.Settings
	core.Sender
	core.Positions
	core.Queries
	core.Blocking
	core.Instrumented
}

// Interface guard.
var _ Core = (*core.Core)(nil)

package ws

import (
	"context"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Core is what the gateway uses of the core, by role (core/roles.go);
// *core.Core is one. A WebSocket connection authenticates, attaches, and
// then sends, moves its positions and queries; it administers nothing and
// manages no groups (the HTTP API does) beyond creating one, inviting to
// it and its links and join requests. It manages its user's blocks and
// broadcast lists, and broadcasts.
type Core interface {
	core.Authenticator
	core.Attacher
	core.Friends
	core.Settings
	core.Sender
	core.Positions
	core.Queries
	core.Blocking
	core.Broadcasts
	core.Instrumented
	core.Follows
	core.Moments
	core.Invites
	core.GroupLinks
	// CreateGroup of core.Groups (group_create, invites.go).
	CreateGroup(ctx context.Context, id core.Identity, name string, members []string, invite ...string) (protocol.Conversation, error)
}

// Interface guard.
var _ Core = (*core.Core)(nil)

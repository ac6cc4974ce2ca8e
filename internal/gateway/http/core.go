package httpapi

import "github.com/parley-im/parley/internal/core"

// Core is what the API uses of the core, by role (core/roles.go);
// *core.Core is one. The API serves accounts, the admin endpoints, sends,
// positions, groups and queries; it attaches no live connection and keeps
// no MQTT session.
type Core interface {
	core.Authenticator
	core.Accounts
	core.Admin
	core.Sender
	core.Friends
	core.Settings
	core.Positions
	core.Groups
	core.Queries
	core.Blocking
	core.Follows
	core.Moments
	core.Broadcasts
	core.Instrumented
	core.Tags
	core.Notices
	core.Invites
	core.GroupLinks
}

// Interface guard.
var _ Core = (*core.Core)(nil)

package store

import (
	"time"

	"github.com/parley-im/parley/protocol"
)

// Friend is one of a user's friends (Friends.Friends).
type Friend struct {
	User  string
	Since time.Time
}

// FriendRequest is a pending friend request from From to To.
type FriendRequest struct {
	From      string
	To        string
	Text      string
	CreatedAt time.Time
}

// FriendChange is the outcome of a write of Friends: where the acting user
// stands with the other user afterwards (protocol.FriendNone,
// FriendPending, FriendFriends) and the entries it appended to the two
// users' system conversations, in commit order, for fan-out. Events is
// empty when nothing changed (a repeated request).
type FriendChange struct {
	Status string
	Events []protocol.Message
}

// UserSettings are a user's settings as stored. Inbound is "" (the
// server's default), protocol.InboundAnyone or protocol.InboundFriends;
// GroupAdd "" (the server's default), protocol.GroupAddAnyone or
// protocol.GroupAddFriends.
type UserSettings struct {
	Inbound        string
	PresenceHidden bool
	GroupAdd       string
}

// SettingsUpdate changes the settings whose field is not nil.
type SettingsUpdate struct {
	Inbound        *string
	PresenceHidden *bool
	GroupAdd       *string
}

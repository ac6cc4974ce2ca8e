package store

import "time"

// BroadcastList is one of a user's saved lists of recipients of a
// broadcast (BroadcastLists).
type BroadcastList struct {
	Owner string
	// ID names the list among its owner's lists: a name safe in topics
	// (the core checks it), unique per owner only.
	ID   string
	Name string
	// Members is how many users the list holds.
	Members   int
	CreatedAt time.Time
	// UpdatedAt is when the list was created, renamed or its members
	// changed.
	UpdatedAt time.Time
}

// DirectPeer names a direct conversation that EnsureDirects opens: the one
// of its user with Peer, created with the id NewID if there is none.
type DirectPeer struct {
	Peer  string
	NewID string
}

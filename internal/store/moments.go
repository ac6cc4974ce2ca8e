package store

import "time"

// FollowEdge is one entry of a list of followers or followed users: the
// other user, and since when.
type FollowEdge struct {
	User  string
	Since time.Time
}

// MomentPost is a moment to store (Moments.PostMoment).
type MomentPost struct {
	Author string
	// ClientID, when not empty, is unique per Author: a second post with
	// it stores nothing and returns the first.
	ClientID   string
	Text       string
	Payload    []byte // JSON, nil for none
	Visibility string // protocol.VisibilityFollowers, VisibilityFriends or VisibilityList
	// Audience are the users a protocol.VisibilityList moment is shown
	// to besides the author (distinct; the store does not check that
	// they exist).
	Audience  []string
	CreatedAt time.Time
}

// Moment is a stored moment as one reader sees it.
type Moment struct {
	ID         int64
	Author     string
	ClientID   string
	Text       string
	Payload    []byte
	Visibility string
	CreatedAt  time.Time
	// Likes and Comments are the moment's counts.
	Likes, Comments int
	// Liked reports whether the reader liked the moment; Listed whether
	// the reader is in the audience of a VisibilityList moment.
	Liked, Listed bool
	// Audience is the list of a VisibilityList moment, sorted; set only
	// when the reader is the author.
	Audience []string
}

// MomentAccess says which of an author's moments a reader may see besides
// their own and the VisibilityList moments that list them: those for
// followers, those for friends. The core decides it (follows, friends,
// blocks); the store applies it.
type MomentAccess struct {
	Followers, Friends bool
}

// MomentComment is a comment on a moment.
type MomentComment struct {
	ID        int64
	Moment    int64
	Author    string
	Text      string
	CreatedAt time.Time
}

// MomentLike is one like of a moment.
type MomentLike struct {
	User      string
	CreatedAt time.Time
}

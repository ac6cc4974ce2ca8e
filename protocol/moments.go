package protocol

import "encoding/json"

// Follows and moments (docs/protocol.md, "Follows and moments"): a user follows others and
// posts moments (seed 001, scene 2); followers who may see a moment get it
// live as a TypeMoment push and page the merged feed of everyone they
// follow. The WebSocket ops take their arguments in the request's data
// object.
const (
	// OpFollow follows data.user; the reply is ok. Following again
	// changes nothing.
	OpFollow = "follow"
	// OpUnfollow stops following data.user; the reply is ok, also when
	// there was no follow.
	OpUnfollow = "unfollow"
	// OpRemoveFollower removes data.user from the user's followers; with
	// data.notify true, data.user gets a KindFollow FollowUnsub entry in
	// their system conversation. The reply is ok.
	OpRemoveFollower = "remove_follower"
	// OpFollowers lists the user's followers (data.after, data.limit);
	// the reply is a TypeFollows.
	OpFollowers = "followers"
	// OpFollowing lists the users the user follows (data.after,
	// data.limit); the reply is a TypeFollows.
	OpFollowing = "following"

	// OpMomentPost posts a moment (data: a MomentPost); the reply is a
	// TypeMoment.
	OpMomentPost = "moment_post"
	// OpMomentGet reads one moment (data.moment); the reply is a
	// TypeMoment.
	OpMomentGet = "moment_get"
	// OpMomentDelete deletes one of the user's moments (data.moment),
	// with its comments and likes; the reply is ok.
	OpMomentDelete = "moment_delete"
	// OpMomentFeed pages the feed (data.cursor, data.limit); the reply is
	// a TypeMoments.
	OpMomentFeed = "moment_feed"
	// OpMoments pages one author's moments (data.user, data.cursor,
	// data.limit); the reply is a TypeMoments.
	OpMoments = "moments"
	// OpMomentComment comments on data.moment with data.text; the reply is
	// a TypeMomentComment.
	OpMomentComment = "moment_comment"
	// OpMomentUncomment deletes comment data.comment of data.moment; the
	// reply is ok.
	OpMomentUncomment = "moment_uncomment"
	// OpMomentComments pages the comments of data.moment (data.after,
	// data.limit), oldest first; the reply is a TypeMomentComments.
	OpMomentComments = "moment_comments"
	// OpMomentLike likes data.moment (data.like false takes the like
	// back); the reply is ok.
	OpMomentLike = "moment_like"
	// OpMomentLikes pages the likes of data.moment (data.after,
	// data.limit); the reply is a TypeMomentLikes.
	OpMomentLikes = "moment_likes"
)

// Server frame types of follows and moments. TypeMoment is both the reply
// to OpMomentPost and OpMomentGet and the push of a new moment (no id).
const (
	TypeFollows        = "follows"
	TypeMoment         = "moment"
	TypeMoments        = "moments"
	TypeMomentComment  = "moment_comment"
	TypeMomentComments = "moment_comments"
	TypeMomentLikes    = "moment_likes"
)

// Who may see a moment (Moment.Visibility). The author always sees their
// own; nobody sees a moment while either of the author and them blocks the
// other.
const (
	// VisibilityFollowers: the author's followers (the default).
	VisibilityFollowers = "followers"
	// VisibilityFriends: the author's friends.
	VisibilityFriends = "friends"
	// VisibilityList: the users the moment lists (MomentPost.Users).
	VisibilityList = "list"
)

// MomentCommentMax is the longest comment, in bytes of UTF-8.
const MomentCommentMax = 2048

// Follow is one entry of a list of followers or of followed users.
type Follow struct {
	User string `json:"user"`
	// Since is when the follow began (Unix ms).
	Since int64 `json:"since"`
}

// FollowList is a page of followers or followed users, ordered by user id.
type FollowList struct {
	Follows []Follow `json:"follows"`
	// Next, when set, is the after of the next page.
	Next string `json:"next,omitempty"`
}

// MomentPost is a new moment: the data of OpMomentPost, the body of POST
// /v1/moments, and the JSON form of an MQTT publish on IMS/<user>.
type MomentPost struct {
	// ClientMsgID, optional, makes a retry safe: a second post with the
	// same id by the same author stores nothing and answers the first
	// moment, with Duplicate set.
	ClientMsgID string `json:"client_msg_id,omitempty"`
	Text        string `json:"text,omitempty"`
	// Payload is any JSON value the clients agree on (image URLs, a
	// location); the server stores and returns it as it is.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Visibility is VisibilityFollowers (empty too), VisibilityFriends or
	// VisibilityList.
	Visibility string `json:"visibility,omitempty"`
	// Users are who may see a VisibilityList moment besides the author.
	Users []string `json:"users,omitempty"`
}

// Moment is a post of a user's moments.
type Moment struct {
	// ID is assigned by the server: a positive integer, greater than the
	// id of every moment posted before it.
	ID          int64           `json:"id"`
	Author      string          `json:"author"`
	ClientMsgID string          `json:"client_msg_id,omitempty"`
	Text        string          `json:"text,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Visibility  string          `json:"visibility"`
	// Users is the list of a VisibilityList moment, shown to its author
	// only.
	Users []string `json:"users,omitempty"`
	// Time is when it was posted (Unix ms).
	Time int64 `json:"time"`
	// Likes and Comments count the moment's likes and comments.
	Likes    int `json:"likes"`
	Comments int `json:"comments"`
	// Liked reports whether the reader liked it.
	Liked bool `json:"liked,omitempty"`
	// Duplicate is set on the answer to a post that repeated a
	// client_msg_id: nothing new was stored.
	Duplicate bool `json:"duplicate,omitempty"`
}

// MomentPage is a page of moments, newest first.
type MomentPage struct {
	Moments []Moment `json:"moments"`
	// Next, when set, is the cursor of the next (older) page; a page may
	// hold fewer moments than asked for and still have a next one.
	Next string `json:"next,omitempty"`
}

// MomentComment is a comment on a moment.
type MomentComment struct {
	ID     int64  `json:"id"`
	Moment int64  `json:"moment"`
	Author string `json:"author"`
	Text   string `json:"text"`
	// Time is when it was made (Unix ms).
	Time int64 `json:"time"`
}

// MomentCommentPage is a page of a moment's comments, oldest first.
type MomentCommentPage struct {
	Comments []MomentComment `json:"comments"`
	// Next, when set, is the after of the next page.
	Next int64 `json:"next,omitempty"`
}

// MomentLike is one like of a moment.
type MomentLike struct {
	User string `json:"user"`
	// Time is when it was made (Unix ms).
	Time int64 `json:"time"`
}

// MomentLikeList is a page of a moment's likes, ordered by user id.
type MomentLikeList struct {
	Likes []MomentLike `json:"likes"`
	// Next, when set, is the after of the next page.
	Next string `json:"next,omitempty"`
}

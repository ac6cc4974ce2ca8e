package protocol

// The social graph (docs/protocol.md §2.14): its events are entries of the
// system conversation of the user they concern (ConvSystem), stored and
// delivered like messages: with a seq, on resume, acknowledged by
// position. They never count as unread; a system notice does (it is a
// content message).

// Kinds of the social graph's entries.
const (
	// KindFriend is a friend request or what became of one; Social.User
	// is the other user, From the user who acted.
	KindFriend = "friend"
	// KindInvite is an invitation to a group or what became of one;
	// Social.Group names the group.
	KindInvite = "invite"
	// KindFollow is a change of a follow, such as a follower removed by
	// the user they followed (seed 001's "Unsub" notice).
	KindFollow = "follow"
)

// SystemSender is the From of entries the server writes on its own
// behalf, such as system notices. No user may take this id.
const SystemSender = "system"

// Actions of KindFriend entries.
const (
	// FriendRequest: From asks the system conversation's user to be
	// friends; Social.Text is the optional message.
	FriendRequest = "request"
	// FriendRequested: the user's own request to Social.User, so that
	// the requester's other devices see it too.
	FriendRequested = "requested"
	// FriendAccepted: the request between the user and Social.User was
	// accepted (by From); both are friends from this seq on.
	FriendAccepted = "accepted"
	// FriendDeclined: the request was declined by From.
	FriendDeclined = "declined"
	// FriendWithdrawn: the requester (From) withdrew the request.
	FriendWithdrawn = "withdrawn"
	// FriendRemoved: From ended the friendship with the other user.
	FriendRemoved = "removed"
)

// Actions of KindInvite entries.
const (
	// InviteInvited: From invites the user to Social.Group (Social.Name).
	InviteInvited = "invited"
	// InviteAccepted: the invitation was accepted (From is the invitee).
	InviteAccepted = "accepted"
	// InviteDeclined: the invitation was declined (From is the invitee).
	InviteDeclined = "declined"
	// InviteRevoked: the invitation was withdrawn by From.
	InviteRevoked = "revoked"
)

// Actions of KindFollow entries.
const (
	// FollowUnsub: From removed the user from their followers.
	FollowUnsub = "unsub"
)

// SocialEvent describes one entry of the social graph. Which fields are
// set depends on the entry's kind and action (see the constants above).
type SocialEvent struct {
	Action string `json:"action"`
	// User is the other user the event concerns (the requester, the
	// answerer, the user who was followed).
	User string `json:"user,omitempty"`
	// Text is the message of a friend request.
	Text string `json:"text,omitempty"`
	// Group and Name identify a group of an invitation.
	Group string `json:"group,omitempty"`
	Name  string `json:"name,omitempty"`
	// Notice is the id of the system notice a KindMessage from
	// SystemSender delivers.
	Notice string `json:"notice,omitempty"`
	// Tags are the tag values a notice is addressed to (those of the
	// key=value terms of its audience that are not negated), separated by
	// spaces: MQTT clients receive it on IMS/System/<value> for each one
	// they subscribed to (docs/mqtt.md). Empty for other entries.
	Tags string `json:"tags,omitempty"`
}

// Friends (docs/protocol.md §2.14): WebSocket ops, whose arguments are in
// the request's data object, and the types of their replies.
const (
	// OpFriendRequest asks data.user to be friends, with an optional
	// data.text (FriendTextMax bytes); the reply is a TypeFriend.
	OpFriendRequest = "friend_request"
	// OpFriendAnswer accepts (data.accept true) or declines the pending
	// request of data.user; the reply is a TypeFriend.
	OpFriendAnswer = "friend_answer"
	// OpFriendWithdraw withdraws the user's pending request to data.user.
	OpFriendWithdraw = "friend_withdraw"
	// OpUnfriend ends the friendship with data.user.
	OpUnfriend = "unfriend"
	// OpFriends lists the user's friends (data.after, data.limit).
	OpFriends = "friends"
	// OpFriendRequests lists pending requests, data.direction "in" (to
	// the user, the default) or "out" (the user's own).
	OpFriendRequests = "friend_requests"
	// OpSettings reads the user's settings, or changes those data names.
	OpSettings = "settings"
)

// Server frame types of the friend and settings ops.
const (
	TypeFriend         = "friend"
	TypeFriends        = "friends"
	TypeFriendRequests = "friend_requests"
	TypeSettings       = "settings"
)

// FriendTextMax is the longest text of a friend request, in bytes of UTF-8.
const FriendTextMax = 512

// Statuses of a FriendStatus: what is between the user and the other.
const (
	// FriendNone: neither friends nor a pending request of the user's.
	FriendNone = "none"
	// FriendPending: the user's request waits for the other's answer.
	FriendPending = "pending"
	// FriendFriends: the two are friends.
	FriendFriends = "friends"
)

// FriendStatus answers a friend operation: where the user stands with
// User after it.
type FriendStatus struct {
	User   string `json:"user"`
	Status string `json:"status"`
}

// Friend is one entry of a user's friends list.
type Friend struct {
	User string `json:"user"`
	// Since is when the two became friends (Unix ms).
	Since int64 `json:"since"`
}

// FriendList is a page of a user's friends, ordered by user id.
type FriendList struct {
	Friends []Friend `json:"friends"`
	// Next, when set, is the after of the next page.
	Next string `json:"next,omitempty"`
}

// PendingFriend is a pending friend request.
type PendingFriend struct {
	From string `json:"from"`
	To   string `json:"to"`
	Text string `json:"text,omitempty"`
	// Time is when it was made (Unix ms).
	Time int64 `json:"time"`
}

// PendingFriendList is a page of pending friend requests, ordered by the
// other user's id.
type PendingFriendList struct {
	Requests []PendingFriend `json:"requests"`
	Next     string          `json:"next,omitempty"`
}

// Who may send a user direct messages (Settings.Inbound).
const (
	// InboundAnyone: every user.
	InboundAnyone = "anyone"
	// InboundFriends: friends, and users who share a group with the user.
	InboundFriends = "friends"
)

// Settings are a user's own settings.
type Settings struct {
	// Inbound is who may send the user direct messages: InboundAnyone or
	// InboundFriends. A user who never chose has the server's default
	// (social.inbound_default).
	Inbound string `json:"inbound"`
	// PresenceHidden hides the user's presence from everyone.
	PresenceHidden bool `json:"presence_hidden"`
	// GroupAdd is who may add the user to a group directly:
	// GroupAddAnyone or GroupAddFriends (invites.go); anyone else invites
	// them. A user who never chose has the server's default
	// (social.group_add_default).
	GroupAdd string `json:"group_add"`
}

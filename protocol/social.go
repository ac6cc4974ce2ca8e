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
}

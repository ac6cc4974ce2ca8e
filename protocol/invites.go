package protocol

// Group invitations, invite links and join requests (docs/protocol.md
// §2.11). What happens to an invitation or a join request is an entry of
// kind KindInvite in the system conversation of each user it concerns
// (social.go: InviteInvited, InviteAccepted, InviteDeclined,
// InviteRevoked, and the join actions below); becoming a member is a
// KindMember entry of the group, action MemberJoined, from the new member.

// Actions of KindInvite entries about join requests (an invite link used
// while the group's join approval is on). Social.Group and Social.Name
// name the group.
const (
	// InviteJoinRequest: in the system conversation of each owner and
	// admin of the group, From (also Social.User) asks to join it; an
	// owner or admin approves or denies.
	InviteJoinRequest = "join_request"
	// InviteJoinRequested: the user's own request, so that their other
	// devices see it too.
	InviteJoinRequested = "join_requested"
	// InviteJoinApproved: the request was approved by From, who made the
	// requester a member (the group's MemberJoined entry). In the
	// requester's conversation Social.User is From; in each owner's and
	// admin's, the requester.
	InviteJoinApproved = "join_approved"
	// InviteJoinDenied: the request was denied by From; Social.User as
	// for InviteJoinApproved.
	InviteJoinDenied = "join_denied"
)

// Who may add a user to a group directly (Settings.GroupAdd); everyone
// else invites them.
const (
	// GroupAddAnyone: any owner or admin of a group.
	GroupAddAnyone = "anyone"
	// GroupAddFriends: friends of the user only.
	GroupAddFriends = "friends"
)

// WebSocket ops of invitations, links, join requests and group settings;
// their arguments are in the request's data object (docs/protocol.md
// §4.2).
const (
	// OpGroupCreate creates a group: data.name, data.members (added
	// directly), data.invite (invited); the reply is a TypeConversation.
	OpGroupCreate = "group_create"
	// OpInvite invites data.users to the group data.conv (owners and
	// admins); the reply is a TypeInvited.
	OpInvite = "invite"
	// OpInviteAnswer accepts (data.accept true) or declines the user's
	// invitation to data.conv; an acceptance is answered with the Ack of
	// the joined entry, a decline with ok.
	OpInviteAnswer = "invite_answer"
	// OpInviteRevoke withdraws the invitation of data.user to data.conv
	// (owners and admins); the reply is ok.
	OpInviteRevoke = "invite_revoke"
	// OpInvites lists pending invitations: with data.conv, the group's
	// (owners and admins); without, the user's own. data.after and
	// data.limit page it; the reply is a TypeInvites.
	OpInvites = "invites"
	// OpLinkCreate creates an invite link to data.conv (owners and
	// admins): data.expires_in (seconds) and data.max_uses; the reply is
	// a TypeLink.
	OpLinkCreate = "link_create"
	// OpLinkRevoke deletes the link data.token of data.conv; the reply is
	// ok.
	OpLinkRevoke = "link_revoke"
	// OpLinks lists the links of data.conv that can still be used; the
	// reply is a TypeLinks.
	OpLinks = "links"
	// OpJoin joins the group of the link data.token, or asks to (join
	// approval); the reply is a TypeJoin.
	OpJoin = "join"
	// OpJoinRequests lists the pending join requests of data.conv
	// (owners and admins; data.after, data.limit); the reply is a
	// TypeJoinRequests.
	OpJoinRequests = "join_requests"
	// OpJoinAnswer approves (data.approve true) or denies the join
	// request of data.user to data.conv; an approval is answered with the
	// Ack of the joined entry, a denial with ok.
	OpJoinAnswer = "join_answer"
	// OpGroupSettings reads the settings of the group data.conv, or
	// changes those data names (data.join_approval; owners and admins);
	// the reply is a TypeGroupSettings.
	OpGroupSettings = "group_settings"
)

// Server frame types of those ops' replies.
const (
	TypeConversation  = "conversation"
	TypeInvited       = "invited"
	TypeInvites       = "invites"
	TypeLink          = "link"
	TypeLinks         = "links"
	TypeJoin          = "join"
	TypeJoinRequests  = "join_requests"
	TypeGroupSettings = "group_settings"
)

// InviteResult answers an invitation of several users.
type InviteResult struct {
	Conv string `json:"conv"`
	// Invited are the users invited now: each got an invited entry.
	Invited []string `json:"invited"`
	// Pending are the users who had a pending invitation already, left as
	// it was (no new entry).
	Pending []string `json:"pending"`
}

// Invitation is a pending invitation of User to the group Conv.
type Invitation struct {
	Conv string `json:"conv"`
	// Name is the group's name.
	Name    string `json:"name"`
	User    string `json:"user"`
	Inviter string `json:"inviter"`
	// Time is when the invitation was made (Unix ms).
	Time int64 `json:"time"`
}

// InvitationList is a page of pending invitations: a group's ordered by
// user id, a user's by group id.
type InvitationList struct {
	Invitations []Invitation `json:"invitations"`
	// Next, when set, is the after of the next page.
	Next string `json:"next,omitempty"`
}

// InviteLink is an invite link to a group: whoever has its token may
// join (or ask to, when the group's join approval is on).
type InviteLink struct {
	// Token is the link's secret: 32 characters of [a-z2-7], 160 random
	// bits.
	Token     string `json:"token"`
	Conv      string `json:"conv"`
	CreatedBy string `json:"created_by"`
	CreatedAt int64  `json:"created_at"`
	// ExpiresAt is when the link stops working (Unix ms).
	ExpiresAt int64 `json:"expires_at"`
	// MaxUses bounds the joins and join requests made with the link; 0:
	// no bound.
	MaxUses int `json:"max_uses"`
	Uses    int `json:"uses"`
}

// InviteLinkList is a group's links that can still be used, newest first.
type InviteLinkList struct {
	Links []InviteLink `json:"links"`
}

// Statuses of a JoinResult.
const (
	// JoinJoined: the user is a member; Seq is its joined entry.
	JoinJoined = "joined"
	// JoinRequested: the group's join approval is on; the request waits
	// for an owner or admin.
	JoinRequested = "requested"
)

// JoinResult answers a join with a link.
type JoinResult struct {
	Conv   string `json:"conv"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// Seq is the seq of the joined entry (JoinJoined only).
	Seq uint64 `json:"seq,omitempty"`
}

// JoinRequest is a pending request of User to join the group Conv.
type JoinRequest struct {
	Conv string `json:"conv"`
	User string `json:"user"`
	// Time is when it was made (Unix ms).
	Time int64 `json:"time"`
}

// JoinRequestList is a page of a group's pending join requests, ordered
// by user id.
type JoinRequestList struct {
	Requests []JoinRequest `json:"requests"`
	Next     string        `json:"next,omitempty"`
}

// GroupSettings are a group's settings.
type GroupSettings struct {
	Conv string `json:"conv"`
	// JoinApproval makes a join with an invite link a request that an
	// owner or admin approves or denies.
	JoinApproval bool `json:"join_approval"`
}

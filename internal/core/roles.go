package core

import (
	"context"
	"time"

	"github.com/parley-im/parley/protocol"
)

// The roles of the core (docs/adr/0008-core-roles.md). *Core plays every
// one of them; a gateway declares an interface of the roles it uses and
// takes that, never *Core, so what a gateway may do is in its type. Each
// role is small and cohesive; a new feature (the social graph, cluster
// mode) adds a role instead of widening the ones that exist. Every
// exported method of *Core belongs to at least one role
// (TestEveryMethodHasARole). The methods' full contracts are on *Core's
// methods; the lines here say what a caller may rely on.
//
// The roles, besides MQTTSessions (mqttsessions.go):
//
//   - Authenticator: credentials to an Identity.
//   - Accounts: a user's own account, sessions and devices.
//   - Admin: operators' account management.
//   - Sender: sends, edits, deletes and typing.
//   - Attacher: live connections.
//   - Positions: delivery acknowledgements and read positions.
//   - Groups: group membership and conversation settings.
//   - Queries: reads of conversations, history, members and presence.
//   - Blocking: a user's blocks (blocks.go).
//   - Follows: who follows whom (follows.go).
//   - Moments: posts to followers, their feed, comments and likes
//     (moments.go).
//   - Instrumented: the core's metrics.
//   - Lifecycle: running and stopping the core (the composition root's).
//   - Friends: friend requests and friendships (friends.go).
//   - Settings: a user's own settings, such as who may message them
//     (inbound.go).
//   - Tags: operators' server-side tags of users (tags.go).
//   - Notices: operators' system notices to tag expressions (notices.go).
//   - SystemTopics: which tag values a user carries, for MQTT's
//     IMS/System/<value> (tags.go).
//   - Invites: invitations to groups (invites.go).
//   - GroupLinks: invite links, join requests and group settings
//     (links.go).
//   - Broadcasts: one message to many users, and broadcast lists
//     (broadcast.go).

// Authenticator turns a credential into an Identity. An unknown user, a
// wrong or expired credential and a disabled user all give ErrUnauthorized
// (or an *AuthError saying why, for a token), after the same work.
type Authenticator interface {
	// Authenticate verifies an access token (Parley's own or one signed
	// by the application) for device; a token that names a device wins
	// over device.
	Authenticate(ctx context.Context, token, device string) (Identity, error)
	// CheckPassword verifies (user, password) for a connection of device
	// without opening a session; ErrBusy when too many checks run at once.
	CheckPassword(ctx context.Context, user, password, device string) (Identity, error)
}

// Accounts is what users do with their own account: register, sign in and
// out, refresh tokens, list and revoke their devices. A new device beyond
// Limits.DevicesPerUser is refused with ErrTooManyDevices.
type Accounts interface {
	// Register creates a user, if registration is open
	// (ErrRegistrationClosed otherwise).
	Register(ctx context.Context, user, password, displayName string) (protocol.User, error)
	// Login checks a password and opens a session for device.
	Login(ctx context.Context, user, password, device string) (protocol.Tokens, error)
	// OpenSession opens a session for (user, device) without a password
	// (the operator's `parley token`); accessTTL is the access token's
	// lifetime.
	OpenSession(ctx context.Context, user, device string, accessTTL time.Duration) (protocol.Tokens, error)
	// Refresh exchanges a refresh token for new tokens; the old refresh
	// token stops working.
	Refresh(ctx context.Context, refresh string) (protocol.Tokens, error)
	// Logout revokes id's session and closes its connections.
	Logout(ctx context.Context, id Identity) error
	// Devices lists the user's devices, ordered by id.
	Devices(ctx context.Context, user string) ([]protocol.Device, error)
	// RevokeDevice ends a device: its sessions, connections and positions;
	// tokens issued to it before are refused from now on.
	RevokeDevice(ctx context.Context, user, device string) error
}

// Admin is what operators do to accounts (the admin API and the CLI).
// Closing a user's connections is part of each change that needs it.
type Admin interface {
	// CreateUser creates a user with a password (empty: no password
	// login), whether or not registration is open.
	CreateUser(ctx context.Context, user, password, displayName string) (protocol.User, error)
	// ListUsers returns up to limit users with id > after, ordered by id.
	ListUsers(ctx context.Context, after string, limit int) ([]protocol.User, error)
	// User returns one user as ListUsers lists it (a tombstone for a
	// deleted one); store.ErrNotFound for an unknown user.
	User(ctx context.Context, user string) (protocol.User, error)
	// SetDisabled disables or re-enables a user; disabling revokes the
	// user's sessions and closes their connections.
	SetDisabled(ctx context.Context, user string, disabled bool) error
	// SetPassword replaces a user's password; sessions stay signed in.
	SetPassword(ctx context.Context, user, password string) error
	// RevokeTokens revokes every session and token of the user and closes
	// their connections.
	RevokeTokens(ctx context.Context, user string) error
	// Kick closes every connection of the user on this node and returns
	// how many; the user may sign in again.
	Kick(user string) int
	// DeleteUser erases an account, leaving a tombstone; deleting again
	// changes nothing.
	DeleteUser(ctx context.Context, user string) error
	// ExportUser starts an export of the user's data.
	ExportUser(ctx context.Context, user string) (*UserExport, error)
}

// Sender writes to conversations on behalf of an Identity. An
// acknowledgement means the entry is durable; a repeated (sender, client
// message id) returns the original acknowledgement with Duplicate set. The
// Async forms queue for commit without waiting: entries queued one after
// another by one goroutine are committed in that order. Each spends from
// the user's send budget (a *ratelimit.Error when it is spent).
type Sender interface {
	// Send stores a message and returns its acknowledgement once durable.
	Send(ctx context.Context, id Identity, r SendRequest) (protocol.Ack, error)
	// SendAsync validates, authorizes and queues a send.
	SendAsync(ctx context.Context, id Identity, r SendRequest) (*PendingSend, error)
	// Edit replaces the body of the author's own message target.
	Edit(ctx context.Context, id Identity, conv string, target uint64, clientMsgID, body string) (protocol.Ack, error)
	// EditAsync is Edit queued without waiting.
	EditAsync(ctx context.Context, id Identity, conv string, target uint64, clientMsgID, body string) (*PendingSend, error)
	// Delete deletes the author's own message target for everyone.
	Delete(ctx context.Context, id Identity, conv string, target uint64, clientMsgID string) (protocol.Ack, error)
	// DeleteAsync is Delete queued without waiting.
	DeleteAsync(ctx context.Context, id Identity, conv string, target uint64, clientMsgID string) (*PendingSend, error)
	// Direct returns the id of the direct conversation of user and peer,
	// creating it if needed; the peer must exist.
	Direct(ctx context.Context, user, peer string) (string, error)
	// Typing relays a typing indicator to conv's other members, coalesced
	// per user and conversation.
	Typing(ctx context.Context, id Identity, conv string) error
}

// Attacher attaches live connections. Everything a connection receives
// goes through its *Client, whose methods serve what the connection asks.
type Attacher interface {
	// Attach registers a connection of id with its Transport and returns
	// its Client. It refuses, with a *ratelimit.Error and without touching
	// t, a device banned for flapping and a user over the connections
	// limit; a device already connected is taken over.
	Attach(id Identity, t Transport) (*Client, error)
	// MaxFrameBytes is the largest frame the core ever writes to a
	// connection.
	MaxFrameBytes() int
}

// Positions moves delivery and read positions. Positions only rise: a seq
// at or below the current one changes nothing.
type Positions interface {
	// Ack is a client's explicit acknowledgement of everything of conv up
	// to seq on id's device, within the user's operation budget.
	Ack(ctx context.Context, id Identity, conv string, seq uint64) error
	// AckDelivered is Ack for what a protocol acknowledges per delivery
	// (an MQTT PUBACK): bounded by what was delivered, not by a budget.
	AckDelivered(ctx context.Context, id Identity, conv string, seq uint64) error
	// Read raises id's user's read position in conv to seq and returns
	// the new read state; the user's devices get the new unread counts.
	Read(ctx context.Context, id Identity, conv string, seq uint64) (protocol.ReadState, error)
}

// Groups changes groups on behalf of an Identity, within the role rules
// (owner, admin, member), which the store re-checks at commit time. Each
// membership change is an entry with its own seq.
type Groups interface {
	// CreateGroup creates a group owned by id's user with members, as one
	// entry (seq 1, protocol.MemberCreated) whatever their number, and
	// invites the users of invite. Members are added as each allows
	// (ErrInviteRequired), within the member limit (ErrGroupFull).
	CreateGroup(ctx context.Context, id Identity, name string, members []string, invite ...string) (protocol.Conversation, error)
	// AddMember adds user to a group; owners and admins may, as user
	// allows (ErrInviteRequired), within the member limit (ErrGroupFull).
	AddMember(ctx context.Context, id Identity, conv, user string) (protocol.Ack, error)
	// RemoveMember removes user from a group; the removed member stops
	// receiving at once.
	RemoveMember(ctx context.Context, id Identity, conv, user string) (protocol.Ack, error)
	// Leave removes id's user from a group.
	Leave(ctx context.Context, id Identity, conv string) (protocol.Ack, error)
	// SetRole changes a member's role; only the owner may.
	SetRole(ctx context.Context, id Identity, conv, user, newRole string) (protocol.Ack, error)
	// Rename renames a group; owners and admins may.
	Rename(ctx context.Context, id Identity, conv, name string) (protocol.Ack, error)
	// SetRetention sets conv's own retention (0: the server's setting) and
	// returns the conversation as id's user sees it. It applies to direct
	// conversations too.
	SetRetention(ctx context.Context, id Identity, conv string, maxAge time.Duration) (protocol.Conversation, error)
}

// Queries reads what a user may see; it changes nothing. To Conversation,
// History and Members, a conversation the user is not a member of is
// absent (store.ErrNotFound).
type Queries interface {
	// Conversations lists user's conversations, newest activity first,
	// from cursor (empty: the newest), with the total unread.
	Conversations(ctx context.Context, user, cursor string, limit int) (protocol.ConversationList, error)
	// Conversation returns one of user's conversations.
	Conversation(ctx context.Context, user, conv string) (protocol.Conversation, error)
	// History returns a page of conv in ascending seq order, limited to
	// what user may see, by count and by encoded size.
	History(ctx context.Context, user string, r HistoryRequest) (protocol.Page, error)
	// HistoryPageMax is the largest page a client may ask for.
	HistoryPageMax() int
	// Members lists conv's members with their positions.
	Members(ctx context.Context, user, conv string) ([]protocol.Member, error)
	// IsMember reports whether user is a member of conv; a conversation
	// that does not exist has none.
	IsMember(ctx context.Context, user, conv string) (bool, error)
	// Presence returns the presence of those of users whose presence
	// user may see (friends and co-members of small groups who do not
	// hide it, not blocked either way; presencevis.go); the others are
	// left out.
	Presence(ctx context.Context, user string, users []string) ([]protocol.Presence, error)
}

// Blocking is a user's block list (blocks.go). A block stops direct
// contact between the two users both ways (writes to their direct
// conversation, opening it, receipts) and hides each one's presence from
// the other; the blocked user cannot tell it from an unknown user and is
// told nothing. Groups are not affected, but for adding or inviting the
// blocker (404, Invites). Block and Unblock take effect on
// every protocol before they return.
type Blocking interface {
	// Block makes user block other (idempotent); store.ErrNotFound for an
	// unknown user, ErrTooManyBlocks beyond Limits.BlocksPerUser.
	Block(ctx context.Context, user, other string) error
	// Unblock lifts user's block of other (idempotent).
	Unblock(ctx context.Context, user, other string) error
	// BlockList pages the users user blocks, ordered by id.
	BlockList(ctx context.Context, user, after string, limit int) (protocol.BlockList, error)
	// Blocked reports whether a blocks b or b blocks a: for features that
	// must keep one user's things from the other (moments, follows).
	Blocked(ctx context.Context, a, b string) (bool, error)
}

// Follows is who follows whom (follows.go). Friends follow each other by
// default; a block ends the blocked user's follow of the blocker, and
// neither may follow the other while it lasts (the blocked user is told
// as for an unknown user). Changes take effect on every protocol before
// they return.
type Follows interface {
	// Follow makes id's user follow user (idempotent); ErrTooManyFollows
	// beyond MomentOptions.FollowsPerUser.
	Follow(ctx context.Context, id Identity, user string) error
	// Unfollow ends id's user's follow of user (idempotent).
	Unfollow(ctx context.Context, id Identity, user string) error
	// RemoveFollower ends user's follow of id's user; with notify, user
	// gets an "unsub" entry (protocol.FollowUnsub) in their system
	// conversation.
	RemoveFollower(ctx context.Context, id Identity, user string, notify bool) error
	// Followers pages user's followers, ordered by id.
	Followers(ctx context.Context, user, after string, limit int) (protocol.FollowList, error)
	// Following pages the users user follows, ordered by id.
	Following(ctx context.Context, user, after string, limit int) (protocol.FollowList, error)
	// IsFollowing reports whether user follows other and neither blocks
	// the other (MQTT's IMS/<other> subscriptions).
	IsFollowing(ctx context.Context, user, other string) (bool, error)
}

// Moments are users' posts to their followers (moments.go): stored once,
// pushed live to the followers who may see them, and paged in each
// follower's feed. Who may see a moment (its author; by its visibility
// the author's followers, friends or the users it lists; never while
// either blocks the other) is decided on every read and push; a moment
// one may not see, and its comments and likes, are store.ErrNotFound.
type Moments interface {
	// PostMoment posts a moment of id's user (posts per user and hour
	// are limited: a *ratelimit.Error).
	PostMoment(ctx context.Context, id Identity, p protocol.MomentPost) (protocol.Moment, error)
	// Moment reads one moment as user sees it.
	Moment(ctx context.Context, user string, id int64) (protocol.Moment, error)
	// DeleteMoment deletes one of id's user's moments.
	DeleteMoment(ctx context.Context, id Identity, moment int64) error
	// Feed pages the moments of the users user follows and user's own,
	// newest first.
	Feed(ctx context.Context, user, cursor string, limit int) (protocol.MomentPage, error)
	// UserMoments pages one author's moments that user may see, newest
	// first.
	UserMoments(ctx context.Context, user, author, cursor string, limit int) (protocol.MomentPage, error)
	// Comment comments on a moment (comments per user and hour are
	// limited).
	Comment(ctx context.Context, id Identity, moment int64, text string) (protocol.MomentComment, error)
	// DeleteComment deletes a comment of id's user, or one on id's
	// user's moment.
	DeleteComment(ctx context.Context, id Identity, moment, comment int64) error
	// Comments pages a moment's comments, oldest first.
	Comments(ctx context.Context, user string, moment, after int64, limit int) (protocol.MomentCommentPage, error)
	// Like likes a moment or takes the like back (idempotent).
	Like(ctx context.Context, id Identity, moment int64, like bool) error
	// Likes pages a moment's likes, ordered by user id.
	Likes(ctx context.Context, user string, moment int64, after string, limit int) (protocol.MomentLikeList, error)
}

// Interface guards of the roles of follows and moments.
var (
	_ Follows = (*Core)(nil)
	_ Moments = (*Core)(nil)
)

// Instrumented gives the core's metrics, which gateways add to (a refusal
// of theirs is counted with the core's).
type Instrumented interface {
	// Metrics returns the core's metrics; never nil.
	Metrics() *Metrics
}

// Friends is the social graph's friendships (friends.go). Each change is
// an entry of kind protocol.KindFriend in the system conversations of both
// users, stored with the change and delivered to every device of both like
// any entry. The other user is named by id; an unknown, disabled or
// deleted user, and one who blocked the caller, are store.ErrNotFound
// alike.
type Friends interface {
	// RequestFriend asks user to be friends, with an optional text
	// (protocol.FriendTextMax bytes); a user's requests are limited per
	// hour (a *ratelimit.Error). Between friends ErrAlreadyFriends; a
	// request crossing user's own accepts it; a repeat stores nothing.
	RequestFriend(ctx context.Context, id Identity, user, text string) (protocol.FriendStatus, error)
	// AnswerFriend accepts or declines user's pending request.
	AnswerFriend(ctx context.Context, id Identity, user string, accept bool) (protocol.FriendStatus, error)
	// WithdrawFriend withdraws id's pending request to user.
	WithdrawFriend(ctx context.Context, id Identity, user string) error
	// Unfriend ends a friendship.
	Unfriend(ctx context.Context, id Identity, user string) error
	// Friends pages user's friends, ordered by id.
	Friends(ctx context.Context, user, after string, limit int) (protocol.FriendList, error)
	// FriendRequests pages the pending requests to user (incoming) or
	// from user, ordered by the other user's id.
	FriendRequests(ctx context.Context, user string, incoming bool, after string, limit int) (protocol.PendingFriendList, error)
}

// Settings are a user's own settings (inbound.go): who may send them
// direct messages, and whether their presence is hidden.
type Settings interface {
	// Settings returns user's settings, defaults filled in.
	Settings(ctx context.Context, user string) (protocol.Settings, error)
	// UpdateSettings changes the settings u names; a change of who may
	// message the user applies to the next message.
	UpdateSettings(ctx context.Context, id Identity, u SettingsUpdate) (protocol.Settings, error)
}

// Tags are operators' server-side tags of users (tags.go): key → value,
// at most one value per key, keys and values as ValidateTagKey and
// ValidateTagValue say, at most NoticeOptions.TagsPerUser per user. No
// API lists a user's tags to the user (they are not secret: see
// CarriesTagValue). A change never alters the audience of a notice
// already created.
type Tags interface {
	// UserTags returns a user's tags; store.ErrNotFound for an unknown
	// or deleted user.
	UserTags(ctx context.Context, user string) (protocol.UserTags, error)
	// SetTags replaces all of a user's tags.
	SetTags(ctx context.Context, user string, tags map[string]string) (protocol.UserTags, error)
	// UpdateTags sets some keys and deletes others, keeping the rest.
	UpdateTags(ctx context.Context, user string, set map[string]string, del []string) (protocol.UserTags, error)
	// ImportTags changes the tags of up to MaxTagsImport users: a bad
	// entry fails the whole request; an unknown user fails its entry.
	// Importing the same entries again changes nothing.
	ImportTags(ctx context.Context, r protocol.TagsImport) (protocol.TagsImportResult, error)
	// Audience counts the users a tag expression (ParseTagExpr) matches.
	Audience(ctx context.Context, expr string) (protocol.Audience, error)
}

// Notices are operators' system notices (notices.go): one call stores a
// notice for the users whose tags match an expression at that moment; it
// is then sent in the background, in bounded chunks paced to
// notices.users_per_second, into each user's system conversation, where
// it is a content message (unread, delivered live and on resume), and it
// resumes after a restart without storing a copy twice.
type Notices interface {
	// SendNotice creates a notice by admin by (rate-limited per admin:
	// a *ratelimit.Error) and returns it at once.
	SendNotice(ctx context.Context, by string, r protocol.NoticeRequest) (protocol.Notice, error)
	// Notice returns a notice with its progress.
	Notice(ctx context.Context, id string) (protocol.Notice, error)
	// Notices pages the notices, newest first.
	Notices(ctx context.Context, before string, limit int) (protocol.NoticeList, error)
	// CancelNotice stops sending a notice; what was stored stays.
	CancelNotice(ctx context.Context, id string) (protocol.Notice, error)
}

// SystemTopics is what MQTT's IMS/System/<value> topics ask of tags.
type SystemTopics interface {
	// CarriesTagValue reports whether user carries a tag, under any key,
	// with that value.
	CarriesTagValue(ctx context.Context, user, value string) (bool, error)
}

// Interface guards of the roles of tags and notices.
var (
	_ Tags         = (*Core)(nil)
	_ Notices      = (*Core)(nil)
	_ SystemTopics = (*Core)(nil)
)

// Invites are invitations to groups (invites.go). An owner or admin
// invites; the invitee is told in their system conversation and becomes a
// member only by accepting (the group's "joined" entry). An unknown,
// disabled or deleted user, and one who blocked the inviter, are
// store.ErrNotFound alike.
type Invites interface {
	// Invite invites users to conv; each named user spends one invitation
	// of the inviter's hourly budget (a *ratelimit.Error); a pending
	// invitation is left as it is.
	Invite(ctx context.Context, id Identity, conv string, users []string) (protocol.InviteResult, error)
	// AnswerInvite accepts (returning the joined entry's Ack) or declines
	// id's user's invitation to conv; ErrGroupFull beyond the member
	// limit.
	AnswerInvite(ctx context.Context, id Identity, conv string, accept bool) (protocol.Ack, error)
	// RevokeInvite withdraws user's invitation to conv.
	RevokeInvite(ctx context.Context, id Identity, conv, user string) error
	// GroupInvites pages conv's pending invitations, for its owner and
	// admins.
	GroupInvites(ctx context.Context, user, conv, after string, limit int) (protocol.InvitationList, error)
	// UserInvites pages user's own pending invitations.
	UserInvites(ctx context.Context, user, after string, limit int) (protocol.InvitationList, error)
}

// GroupLinks are invite links, join requests and group settings
// (links.go). Owners and admins create, list and revoke links, answer
// join requests and change settings; anyone with a link joins, or asks to
// while the group's join approval is on.
type GroupLinks interface {
	// CreateLink creates a link to conv valid for ttl (0: a week) and at
	// most maxUses uses (0: no bound).
	CreateLink(ctx context.Context, id Identity, conv string, ttl time.Duration, maxUses int) (protocol.InviteLink, error)
	// RevokeLink deletes a link of conv.
	RevokeLink(ctx context.Context, id Identity, conv, token string) error
	// Links lists conv's usable links.
	Links(ctx context.Context, user, conv string) (protocol.InviteLinkList, error)
	// Join joins the group of a link, or asks to; ErrLinkExpired for an
	// expired or used-up link, ErrGroupFull beyond the member limit.
	Join(ctx context.Context, id Identity, token string) (protocol.JoinResult, error)
	// JoinRequests pages conv's pending join requests.
	JoinRequests(ctx context.Context, user, conv, after string, limit int) (protocol.JoinRequestList, error)
	// AnswerJoinRequest approves (returning the joined entry's Ack) or
	// denies user's join request to conv.
	AnswerJoinRequest(ctx context.Context, id Identity, conv, user string, approve bool) (protocol.Ack, error)
	// GroupSettings returns conv's settings to a member.
	GroupSettings(ctx context.Context, user, conv string) (protocol.GroupSettings, error)
	// UpdateGroupSettings changes conv's settings.
	UpdateGroupSettings(ctx context.Context, id Identity, conv string, u GroupSettingsUpdate) (protocol.GroupSettings, error)
}

// Broadcasts send one message to many users (broadcast.go): to one of the
// sender's saved broadcast lists or to the users a request names, at most
// BroadcastOptions.MaxRecipients. Each recipient gets an ordinary message
// from the sender in their direct conversation; those a send to them alone
// would refuse (unknown or deleted, blocking or blocked, accepting friends
// only) are skipped and reported in the result, each with that send's
// error. A retry with the same client message id stores only the copies
// not stored yet and answers the others with their acknowledgements. A
// broadcast spends one copy per recipient not yet sent to from the user's
// broadcast budget, whole or not at all (a *ratelimit.Error); lists are
// the user's own, another's is store.ErrNotFound.
type Broadcasts interface {
	// Broadcast sends r and returns the result once the copies are
	// durable.
	Broadcast(ctx context.Context, id Identity, r protocol.BroadcastRequest) (protocol.BroadcastResult, error)
	// BroadcastAsync checks r and queues its copies without waiting, in
	// order with the caller's other queued sends.
	BroadcastAsync(ctx context.Context, id Identity, r protocol.BroadcastRequest) (*PendingBroadcast, error)
	// CreateBroadcastList creates a list (a fresh id if r names none)
	// with its first members, who must exist.
	CreateBroadcastList(ctx context.Context, user string, r protocol.BroadcastListCreate) (protocol.BroadcastList, error)
	// BroadcastList returns one of user's lists.
	BroadcastList(ctx context.Context, user, list string) (protocol.BroadcastList, error)
	// BroadcastLists pages user's lists by id.
	BroadcastLists(ctx context.Context, user, after string, limit int) (protocol.BroadcastListPage, error)
	// RenameBroadcastList renames one of user's lists.
	RenameBroadcastList(ctx context.Context, user, list, name string) (protocol.BroadcastList, error)
	// ChangeBroadcastList adds users (who must exist) and removes others
	// in one step.
	ChangeBroadcastList(ctx context.Context, user, list string, ch protocol.BroadcastListChange) (protocol.BroadcastList, error)
	// BroadcastMembers pages the users of one of user's lists by id.
	BroadcastMembers(ctx context.Context, user, list, after string, limit int) (protocol.BroadcastMemberPage, error)
	// DeleteBroadcastList deletes one of user's lists.
	DeleteBroadcastList(ctx context.Context, user, list string) error
}

// Interface guard of the broadcasts' role.
var _ Broadcasts = (*Core)(nil)

// Lifecycle runs and stops the core: the composition root's role.
type Lifecycle interface {
	// Run starts the core's goroutines and blocks until ctx is done or
	// Close is called; it then flushes what is pending and returns.
	Run(ctx context.Context) error
	// Close stops Run; safe to call more than once.
	Close()
	// CloseAll closes every attached connection, spread over window (lame
	// duck), or at once when ctx ends.
	CloseAll(ctx context.Context, window time.Duration)
	// NodeID names this node on the bus.
	NodeID() string
	// Online reports how many connections are attached to this node.
	Online() int
	// OnlineElsewhere reports whether another node of the cluster says
	// the user has a connection there.
	OnlineElsewhere(user string) bool
}

// Interface guards: *Core plays every role.
var (
	_ Authenticator = (*Core)(nil)
	_ Accounts      = (*Core)(nil)
	_ Admin         = (*Core)(nil)
	_ Sender        = (*Core)(nil)
	_ Attacher      = (*Core)(nil)
	_ Positions     = (*Core)(nil)
	_ Groups        = (*Core)(nil)
	_ Queries       = (*Core)(nil)
	_ Blocking      = (*Core)(nil)
	_ Instrumented  = (*Core)(nil)
	_ Lifecycle     = (*Core)(nil)
	_ Friends       = (*Core)(nil)
	_ Settings      = (*Core)(nil)
	_ Invites       = (*Core)(nil)
	_ GroupLinks    = (*Core)(nil)
)

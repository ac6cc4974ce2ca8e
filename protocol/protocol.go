// Package protocol defines Parley's wire types: the JSON frames exchanged over
// WebSocket, the bodies of the HTTP API and the error codes. It is shared by the
// server and the Go SDK and depends on nothing but the standard library.
//
// All types are plain values; none is safe for concurrent mutation.
package protocol

import "encoding/json"

// Version is the protocol version a client names in its hello frame.
const Version = 1

// Message kinds. Only KindMessage counts as unread content (DESIGN.md §2.7).
const (
	// KindMessage is a content message written by a user.
	KindMessage = "msg"
	// KindEdit replaces the body of an earlier message (Target names its seq).
	KindEdit = "edit"
	// KindDelete deletes an earlier message for everyone (Target names its seq).
	KindDelete = "delete"
	// KindMember records a membership change in a group (Member describes it).
	KindMember = "member"
	// KindSystem is an event written by the server, such as a group rename.
	KindSystem = "system"
)

// Conversation kinds.
const (
	ConvDirect = "direct"
	ConvGroup  = "group"
	// ConvSystem is a user's system conversation: the server writes into
	// it (friend requests and answers, group invitations, follower
	// updates, system notices); its only member is that user, who reads
	// and acknowledges it like any other conversation but cannot send to
	// it (see social.go).
	ConvSystem = "system"
)

// Member roles in a group, strongest first.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// RoleRank orders roles, strongest highest; 0 is not a role.
func RoleRank(role string) int {
	switch role {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// Member actions recorded by KindMember messages.
const (
	MemberJoined  = "joined" // the user joined: accepted an invitation or used an invite link (From is the user)
	MemberAdded   = "added"
	MemberRemoved = "removed"
	MemberLeft    = "left"
	MemberRole    = "role"
	// MemberCreated is a group's first entry (seq 1): its creator (User,
	// also From) made it with the name Name. It is the only event of the
	// creation, whatever the number of initial members, and every initial
	// member sees it; a client learns who they are from the members
	// operation (GET /v1/conversations/{conv}/members).
	MemberCreated = "created"
)

// Message is one entry of a conversation as delivered and stored.
type Message struct {
	Conv        string          `json:"conv"`
	Seq         uint64          `json:"seq"`
	ID          string          `json:"id"`
	From        string          `json:"from"`
	ClientMsgID string          `json:"client_msg_id,omitempty"`
	Kind        string          `json:"kind"`
	ContentType string          `json:"content_type,omitempty"`
	Body        string          `json:"body,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Encrypted   bool            `json:"encrypted,omitempty"`
	// Target is the seq of the message an edit or delete refers to.
	Target uint64 `json:"target,omitempty"`
	// Member describes a membership change (KindMember).
	Member *MemberChange `json:"member,omitempty"`
	// Social describes an event of the social graph (KindFriend,
	// KindInvite, KindFollow) or names the notice a system notice
	// (KindMessage from SystemSender) delivers; see social.go.
	Social *SocialEvent `json:"social,omitempty"`
	// Time is the server time of the commit, in Unix milliseconds.
	Time int64 `json:"time"`
	// EditedAt is set on a message that was edited later (Unix ms).
	EditedAt int64 `json:"edited_at,omitempty"`
	// Deleted is set on a message deleted for everyone; its body is gone.
	Deleted bool `json:"deleted,omitempty"`
}

// MemberChange describes a membership event.
type MemberChange struct {
	User   string `json:"user"`
	Action string `json:"action"`
	Role   string `json:"role,omitempty"`
	// Name is set on a rename (KindSystem with Action "renamed") and on
	// a group's creation (Action MemberCreated): the group's name.
	Name string `json:"name,omitempty"`
}

// IsContent reports whether m counts towards unread (DESIGN.md §2.7).
func (m *Message) IsContent() bool { return m.Kind == KindMessage && !m.Deleted }

// Conversation describes a conversation as listed for one user.
type Conversation struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Name      string `json:"name,omitempty"`
	Peer      string `json:"peer,omitempty"`
	Role      string `json:"role,omitempty"`
	LastSeq   uint64 `json:"last_seq"`
	ReadSeq   uint64 `json:"read_seq"`
	StartSeq  uint64 `json:"start_seq"`
	Unread    int    `json:"unread"`
	UpdatedAt int64  `json:"updated_at"`
	// MaxAge is the conversation's own retention in seconds: its messages
	// are deleted once they are older. Absent (0): the server's setting.
	MaxAge int64 `json:"max_age,omitempty"`
	// LastMessage is the newest message, absent in an empty conversation.
	LastMessage *Message `json:"last_message,omitempty"`
}

// ConversationList is a page of conversations, newest activity first.
type ConversationList struct {
	Conversations []Conversation `json:"conversations"`
	TotalUnread   int            `json:"total_unread"`
	// Next is the cursor for the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// Member is a member of a conversation with its positions.
type Member struct {
	User         string `json:"user"`
	Role         string `json:"role"`
	JoinedSeq    uint64 `json:"joined_seq"`
	ReadSeq      uint64 `json:"read_seq"`
	DeliveredSeq uint64 `json:"delivered_seq"`
}

// Ack is the server's acknowledgement of a durable send.
type Ack struct {
	Conv        string `json:"conv"`
	Seq         uint64 `json:"seq"`
	ID          string `json:"id"`
	ClientMsgID string `json:"client_msg_id"`
	Time        int64  `json:"time"`
	// Duplicate is true when the send repeated an earlier client message id;
	// the acknowledgement is then the original one.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Receipt reports a peer's delivered or read position in a conversation.
type Receipt struct {
	Conv      string `json:"conv"`
	User      string `json:"user"`
	Delivered uint64 `json:"delivered,omitempty"`
	Read      uint64 `json:"read,omitempty"`
}

// ReadState is sent to all of a user's devices when their read position changes.
type ReadState struct {
	Conv        string `json:"conv"`
	Seq         uint64 `json:"seq"`
	Unread      int    `json:"unread"`
	TotalUnread int    `json:"total_unread"`
}

// Typing is a transient typing indicator; it is never stored.
type Typing struct {
	Conv string `json:"conv"`
	User string `json:"user"`
}

// Presence reports whether a user is online, with their last-seen time.
type Presence struct {
	User     string `json:"user"`
	Online   bool   `json:"online"`
	LastSeen int64  `json:"last_seen,omitempty"`
}

// Page is a batch of messages of one conversation, in seq order.
type Page struct {
	Conv     string    `json:"conv"`
	Messages []Message `json:"messages"`
	// StartSeq is the first seq the reader may see (after retention or joining).
	StartSeq uint64 `json:"start_seq,omitempty"`
	// More is true when more messages follow in the same direction.
	More bool `json:"more,omitempty"`
}

// Device is one of a user's devices.
type Device struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"created_at"`
	LastSeen  int64  `json:"last_seen"`
	Online    bool   `json:"online"`
}

// User is a public user record.
type User struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	// Deleted marks an erased account: only the id is kept, and it is
	// never given to anyone else.
	Deleted   bool  `json:"deleted,omitempty"`
	CreatedAt int64 `json:"created_at"`
	// LastSeen is when the user was last online (Unix ms); admin API only.
	LastSeen int64 `json:"last_seen,omitempty"`
}

// Tokens is the answer to a login or refresh.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	User         string `json:"user"`
	Device       string `json:"device"`
}

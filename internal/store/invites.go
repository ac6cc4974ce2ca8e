package store

import (
	"context"
	"errors"
	"time"

	"github.com/parley-im/parley/protocol"
)

// ErrExpired: the thing named exists but can no longer be used (an invite
// link past its expiry, or used as often as it allows).
var ErrExpired = errors.New("expired")

// Invitation is a pending invitation of Invitee to the group Conv.
type Invitation struct {
	Conv      string
	Name      string // the group's name as it is now
	Invitee   string
	Inviter   string
	CreatedAt time.Time
}

// InviteChange is the outcome of a write of Invites or GroupLinks: the
// entries it stored, in commit order, for fan-out (the group's joined
// entry, entries of system conversations). Events is empty when nothing
// changed.
type InviteChange struct {
	// Conv and Name name the group (its name as the write read it).
	Conv, Name string
	// Invited are the users a write of Invite invited; Pending those who
	// were invited already and left as they were.
	Invited, Pending []string
	// Requested is set by JoinByLink when the join became a join request
	// (the group's join approval is on) or one was pending already.
	Requested bool
	// Joined is the group's MemberJoined entry, when the write made the
	// user a member (also the first of Events).
	Joined *protocol.Message
	Events []protocol.Message
}

// Invites store invitations to groups. An invitation is pending until the
// invitee accepts or declines it or an owner or admin revokes it; a user
// who becomes a member otherwise (added, a link) loses it. Each write
// checks and changes the state and appends its entries, in one
// transaction: KindInvite entries (Social.Group and Name the group) to
// the system conversations of the users concerned, and the group's
// MemberJoined entry when an invitee becomes a member. An entry for a
// user who was deleted meanwhile is left out. Erasure deletes a user's
// invitations.
type Invites interface {
	// Invite stores pending invitations of invitees (distinct, not
	// inviter) to the group conv by inviter, each with an entry "invited"
	// (Sender inviter, Social.User inviter) in the invitee's system
	// conversation. Checked in the transaction, in this order: conv is a
	// group inviter is a member of (ErrNotFound otherwise); inviter is its
	// owner or an admin (ErrForbidden); every invitee exists, is not
	// deleted and has not blocked inviter (ErrNotFound, so that a block
	// cannot be told from an unknown user) and is not a member
	// (ErrExists). Any failure stores nothing. An invitee with a pending
	// invitation to conv is left as it is, with no entry (Pending);
	// invitations never pile up.
	Invite(ctx context.Context, conv, inviter string, invitees []string, now time.Time) (InviteChange, error)
	// AnswerInvite accepts or declines invitee's pending invitation to
	// conv (ErrNotFound if there is none) and deletes it. Accepting makes
	// invitee a member, role member, with the group's entry MemberJoined
	// (Sender invitee, joined at its seq - 1) and an entry "accepted" in
	// invitee's system conversation (Social.User the inviter); beyond
	// maxMembers members (maxMembers <= 0: no limit) it fails with
	// ErrLimit and changes nothing. Declining stores "declined" entries in
	// the invitee's system conversation (Social.User the inviter) and in
	// the inviter's (Social.User the invitee). Sender is invitee.
	AnswerInvite(ctx context.Context, conv, invitee string, accept bool, maxMembers int, now time.Time) (InviteChange, error)
	// RevokeInvite deletes invitee's pending invitation to conv, with an
	// entry "revoked" (Sender actor, Social.User actor) in invitee's
	// system conversation. actor must be the group's owner or an admin
	// (ErrForbidden; ErrNotFound if not a member); ErrNotFound if there
	// is no such invitation.
	RevokeInvite(ctx context.Context, conv, actor, invitee string, now time.Time) (InviteChange, error)
	// GroupInvites returns up to limit of conv's pending invitations with
	// invitees above after, ordered by invitee.
	GroupInvites(ctx context.Context, conv, after string, limit int) ([]Invitation, error)
	// UserInvites returns up to limit of user's pending invitations to
	// groups with ids above after, ordered by group id.
	UserInvites(ctx context.Context, user, after string, limit int) ([]Invitation, error)
}

// GroupLink is an invite link to a group.
type GroupLink struct {
	Token     string
	Conv      string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	// MaxUses bounds Uses (0: no bound); Uses counts the joins and join
	// requests made with the link.
	MaxUses int
	Uses    int
}

// JoinRequest is a pending request of User to join the group Conv.
type JoinRequest struct {
	Conv      string
	User      string
	CreatedAt time.Time
}

// GroupSettings are a group's settings; a group that never changed them
// has the zero value.
type GroupSettings struct {
	// JoinApproval makes a join with a link a JoinRequest.
	JoinApproval bool
}

// GroupLinks store a group's invite links, the join requests made with
// them and the group's settings. The writes that need an owner or admin
// check the actor's role in their transaction (ErrForbidden; ErrNotFound
// if the actor is not a member or the group does not exist).
type GroupLinks interface {
	// CreateLink stores l (Uses 0) for the owner or admin l.CreatedBy of
	// the group l.Conv. The group's links expired at l.CreatedAt are
	// deleted in the same transaction; ErrLimit if the group keeps max
	// links besides (max <= 0: no limit); ErrExists if the token is taken.
	CreateLink(ctx context.Context, l GroupLink, max int) error
	// RevokeLink deletes conv's link token (ErrNotFound if there is none)
	// for its owner or an admin, actor.
	RevokeLink(ctx context.Context, conv, actor, token string) error
	// Links returns conv's links that can be used at now (not expired, not
	// used up), newest first.
	Links(ctx context.Context, conv string, now time.Time) ([]GroupLink, error)
	// JoinByLink joins user to the group of the link token: ErrNotFound
	// for no such link, ErrExpired for one expired at now or used up,
	// ErrExists if user is a member, ErrLimit if the group has maxMembers
	// members (maxMembers <= 0: no limit). If the group's JoinApproval is
	// off, user becomes a member with the group's entry MemberJoined
	// (Sender user; InviteChange.Joined). If it is on, a JoinRequest is
	// stored with an entry "join_request" (Sender and Social.User user) in
	// the system conversation of each owner and admin and one
	// "join_requested" in user's own (Requested); a pending request is
	// left as it is, with no entry. A join or a new request counts as a
	// use of the link, in the same transaction; a user who had a pending
	// invitation or join request loses it by joining.
	JoinByLink(ctx context.Context, token, user string, maxMembers int, now time.Time) (InviteChange, error)
	// AnswerJoinRequest approves or denies user's pending join request to
	// conv (ErrNotFound if there is none) for its owner or an admin,
	// actor, and deletes it. Approving makes user a member as JoinByLink
	// does (ErrLimit beyond maxMembers, changing nothing). Either way an
	// entry "join_approved" or "join_denied" (Sender actor) goes to user's
	// system conversation (Social.User actor) and to each owner's and
	// admin's (Social.User user).
	AnswerJoinRequest(ctx context.Context, conv, actor, user string, approve bool, maxMembers int, now time.Time) (InviteChange, error)
	// JoinRequests returns up to limit of conv's pending join requests of
	// users above after, ordered by user.
	JoinRequests(ctx context.Context, conv, after string, limit int) ([]JoinRequest, error)
	// GroupSettings returns conv's settings (the zero value if never set).
	GroupSettings(ctx context.Context, conv string) (GroupSettings, error)
	// SetGroupSettings stores conv's settings for its owner or an admin,
	// actor. Turning JoinApproval off leaves pending requests pending.
	SetGroupSettings(ctx context.Context, conv, actor string, s GroupSettings) error
}

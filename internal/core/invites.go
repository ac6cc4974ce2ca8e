package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Group invitations, direct adds and the member limit (docs/protocol.md
// §2.11).
//
// An owner or admin invites users to a group; each invitee gets an entry
// (protocol.KindInvite, action "invited") in their system conversation and
// becomes a member only by accepting, with the group's entry "joined"
// from the invitee. A decline is told to the inviter in theirs. The store
// writes the state and every entry in one transaction; the core dispatches
// the entries like any committed entry, so that every device of every user
// concerned gets them live, on resume, over every protocol. Invitations
// are limited per inviter (Invitations.InvitesPerHour, each invitee
// counts) and never pile up: inviting a user whose invitation is pending
// stores nothing.
//
// Adding a user directly (AddMember, CreateGroup's members) is allowed by
// the user's setting protocol.Settings.GroupAdd: anyone (an owner or
// admin of the group) or friends only; otherwise ErrInviteRequired tells
// the client to invite instead. A user who blocked the adder or inviter is
// refused as an unknown user (404), so that a block cannot be told.
//
// The member limit (Invitations.MaxMembers) is checked by the store in the
// transaction that would add the member (store.Append.MaxMembers), so
// that concurrent adds, accepts and joins cannot overfill a group.

// Invitations configures group invitations, direct adds and the member
// limit.
type Invitations struct {
	// MaxMembers bounds the members of a group: an add, an accepted
	// invitation or a join beyond it is refused with ErrGroupFull; 0: no
	// limit.
	MaxMembers int
	// InvitesPerHour bounds the invitations one user may make: a token
	// bucket holding an hour's worth, one token per invitee; 0: no limit.
	InvitesPerHour int
	// GroupAddDefault is who may add a user who never chose
	// (protocol.Settings.GroupAdd): protocol.GroupAddAnyone ("" too) or
	// protocol.GroupAddFriends.
	GroupAddDefault string
}

// Errors of invitations and joins.
var (
	// ErrGroupFull refuses an add, an accepted invitation, a join or a
	// join request beyond Invitations.MaxMembers (403, reason
	// group_full). Nothing changed: an invitation or join request stays
	// pending.
	ErrGroupFull = errors.New("the group has as many members as allowed (limits.group_members)")
	// ErrInviteRequired refuses adding a user who lets only friends add
	// them (403, reason invite_required).
	ErrInviteRequired = errors.New("this user may be added to groups by friends only: invite them instead")
	// ErrLinkExpired refuses a join with an invite link past its expiry
	// or used as often as it allows (410, reason link_expired).
	ErrLinkExpired = errors.New("this invite link has expired or was used up: ask for a new one")
	// ErrTooManyLinks refuses a new invite link of a group that has
	// MaxLinksPerGroup usable links (403, reason too_many_links).
	ErrTooManyLinks = errors.New("the group has as many invite links as allowed: revoke one first")
)

// MaxInvitees is the most users one invitation names.
const MaxInvitees = 100

// InvitePageMax is the largest page of invitations or join requests; 100
// is the default.
const InvitePageMax = 500

// invitations is the core's state of invitations: the inviters' budget.
type invitations struct {
	opt     Invitations
	invites *ratelimit.Limiter // nil: not limited
}

func newInvitations(c *Core, opt Invitations) *invitations {
	in := &invitations{opt: opt}
	if opt.InvitesPerHour > 0 {
		in.invites = ratelimit.NewLimiter(float64(opt.InvitesPerHour), time.Hour, opt.InvitesPerHour, c.now)
	}
	return in
}

// groupFull turns the store's member limit into ErrGroupFull.
func groupFull(err error) error {
	if errors.Is(err, store.ErrLimit) {
		return fmt.Errorf("%w: %w", ErrGroupFull, err)
	}
	return err
}

// checkGroupSize refuses a new group of n members beyond the limit.
func (c *Core) checkGroupSize(n int) error {
	if max := c.invites.opt.MaxMembers; max > 0 && n > max {
		return fmt.Errorf("%d members: %w", n, ErrGroupFull)
	}
	return nil
}

// checkGroupAdd decides whether adder may add user, an existing user, to
// a group directly: not if user blocks adder (the not-found of an unknown
// user) or lets only friends add them and adder is not one
// (ErrInviteRequired).
func (c *Core) checkGroupAdd(ctx context.Context, adder, user string) error {
	_, theirs, err := c.blocks.between(ctx, adder, user)
	switch {
	case err != nil:
		return fmt.Errorf("blocks: %w", err)
	case theirs:
		return fmt.Errorf("user %s: %w", user, store.ErrNotFound)
	}
	s, err := c.st.UserSettings(ctx, user)
	if err != nil {
		return fmt.Errorf("settings of %s: %w", user, err)
	}
	if c.groupAddPolicy(s) != protocol.GroupAddFriends {
		return nil
	}
	ok, err := c.st.AreFriends(ctx, user, adder)
	switch {
	case err != nil:
		return fmt.Errorf("friends: %w", err)
	case !ok:
		return fmt.Errorf("add %s: %w", user, ErrInviteRequired)
	}
	return nil
}

// groupAddPolicy is who may add the user of s: their choice, or the
// server's default.
func (c *Core) groupAddPolicy(s store.UserSettings) string {
	switch {
	case s.GroupAdd != "":
		return s.GroupAdd
	case c.invites.opt.GroupAddDefault != "":
		return c.invites.opt.GroupAddDefault
	}
	return protocol.GroupAddAnyone
}

// invitees checks the users an invitation by inviter names (field names
// them for errors): valid user ids other than inviter, at most
// MaxInvitees, each existing and not blocking inviter (the store checks
// that again when it commits). Repeats and the users of skip are left out.
func (c *Core) invitees(ctx context.Context, inviter, field string, users []string, skip map[string]bool) ([]string, error) {
	if len(users) > MaxInvitees {
		return nil, badField(field, "may name at most %d users", MaxInvitees)
	}
	seen := make(map[string]bool, len(users))
	out := make([]string, 0, len(users))
	for _, u := range users {
		switch {
		case ValidateUserID(u) != nil:
			return nil, badField(field, "%q is not a valid user id", u)
		case u == inviter:
			return nil, badField(field, "cannot name yourself")
		case seen[u] || skip[u]:
			continue
		}
		seen[u] = true
		if err := c.checkUserExists(ctx, u, field); err != nil {
			return nil, err
		}
		if _, theirs, err := c.blocks.between(ctx, inviter, u); err != nil {
			return nil, fmt.Errorf("blocks: %w", err)
		} else if theirs {
			return nil, fmt.Errorf("user %s: %w", u, store.ErrNotFound)
		}
		out = append(out, u)
	}
	return out, nil
}

// allowInvites takes n tokens from inviter's invitation budget.
func (c *Core) allowInvites(inviter string, n int) error {
	l := c.invites.invites
	if l == nil || n == 0 {
		return nil
	}
	if n > c.invites.opt.InvitesPerHour {
		return badField("users", "may name at most %d users (the invitations allowed per hour)", c.invites.opt.InvitesPerHour)
	}
	wait := l.AllowN(inviter, n)
	if wait == 0 {
		return nil
	}
	c.metrics.RateLimited.WithLabelValues(ratelimit.LimitGroupInvites).Inc()
	return &ratelimit.Error{Limit: ratelimit.LimitGroupInvites, RetryAfter: wait,
		Msg: fmt.Sprintf("too many invitations (at most %d per hour): retry after retry_after_ms", c.invites.opt.InvitesPerHour)}
}

// Invite invites users to the group conv on behalf of id's user, an owner
// or admin. An unknown or disabled user, and one who blocked the inviter,
// are store.ErrNotFound alike; a member store.ErrExists; a refusal of any
// user invites nobody. A user whose invitation is pending is left as it
// is (InviteResult.Pending). Each user named spends one invitation from
// the inviter's budget.
func (c *Core) Invite(ctx context.Context, id Identity, conv string, users []string) (protocol.InviteResult, error) {
	if err := c.requireGroupAdmin(ctx, id.User, conv, "invite"); err != nil {
		return protocol.InviteResult{}, err
	}
	if len(users) == 0 {
		return protocol.InviteResult{}, badField("users", "must name at least one user")
	}
	list, err := c.invitees(ctx, id.User, "users", users, nil)
	if err != nil {
		return protocol.InviteResult{}, err
	}
	if err := c.allowInvites(id.User, len(users)); err != nil {
		return protocol.InviteResult{}, err
	}
	return c.invite(ctx, id, conv, list)
}

// invite stores invitations of users (checked) to conv and dispatches
// their entries.
func (c *Core) invite(ctx context.Context, id Identity, conv string, users []string) (protocol.InviteResult, error) {
	ch, err := c.st.Invite(ctx, conv, id.User, users, c.now())
	if err != nil {
		return protocol.InviteResult{}, fmt.Errorf("invite: %w", err)
	}
	c.inviteChanged(ch)
	return protocol.InviteResult{Conv: conv, Invited: orEmpty(ch.Invited), Pending: orEmpty(ch.Pending)}, nil
}

// inviteToNew invites users (checked) to conv, the group id's user just
// created. The group stands whatever happens: a failure, which only a
// block made meanwhile or a store failure can cause, is logged, and the
// creator may invite again.
func (c *Core) inviteToNew(ctx context.Context, id Identity, conv string, users []string) {
	if len(users) == 0 {
		return
	}
	if _, err := c.invite(ctx, id, conv, users); err != nil {
		c.log.Warn("invitations to a new group", "conv", conv, "user", id.User, "err", err)
	}
}

// AnswerInvite accepts or declines id's user's pending invitation to conv
// (store.ErrNotFound if there is none). Accepting makes the user a member
// and returns the acknowledgement of the group's joined entry; beyond the
// member limit it is ErrGroupFull and the invitation stays pending.
// Declining returns a zero Ack; the inviter is told.
func (c *Core) AnswerInvite(ctx context.Context, id Identity, conv string, accept bool) (protocol.Ack, error) {
	if err := ValidateConvID(conv); err != nil {
		return protocol.Ack{}, err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.Ack{}, err
	}
	ch, err := c.st.AnswerInvite(ctx, conv, id.User, accept, c.invites.opt.MaxMembers, c.now())
	if err != nil {
		return protocol.Ack{}, fmt.Errorf("answer invitation: %w", groupFull(err))
	}
	c.inviteChanged(ch)
	return joinedAck(ch), nil
}

// RevokeInvite withdraws the pending invitation of user to conv; owners
// and admins may. The invitee is told.
func (c *Core) RevokeInvite(ctx context.Context, id Identity, conv, user string) error {
	if err := c.requireGroupAdmin(ctx, id.User, conv, "revoke"); err != nil {
		return err
	}
	if ValidateUserID(user) != nil {
		return badField("user", "is not a valid user id")
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	ch, err := c.st.RevokeInvite(ctx, conv, id.User, user, c.now())
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	c.inviteChanged(ch)
	return nil
}

// GroupInvites returns a page of conv's pending invitations, ordered by
// invitee, after the user id after; owners and admins may. limit 0 is 100.
func (c *Core) GroupInvites(ctx context.Context, user, conv, after string, limit int) (protocol.InvitationList, error) {
	if err := c.requireGroupAdmin(ctx, user, conv, "list invitations"); err != nil {
		return protocol.InvitationList{}, err
	}
	limit, err := invitePage(limit, after, ValidateUserID)
	if err != nil {
		return protocol.InvitationList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.InvitationList{}, err
	}
	is, err := c.st.GroupInvites(ctx, conv, after, limit+1)
	if err != nil {
		return protocol.InvitationList{}, fmt.Errorf("invitations: %w", err)
	}
	return invitationList(is, limit, func(i store.Invitation) string { return i.Invitee }), nil
}

// UserInvites returns a page of user's pending invitations, ordered by
// group id, after the group id after. limit 0 is 100.
func (c *Core) UserInvites(ctx context.Context, user, after string, limit int) (protocol.InvitationList, error) {
	limit, err := invitePage(limit, after, ValidateConvID)
	if err != nil {
		return protocol.InvitationList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.InvitationList{}, err
	}
	is, err := c.st.UserInvites(ctx, user, after, limit+1)
	if err != nil {
		return protocol.InvitationList{}, fmt.Errorf("invitations: %w", err)
	}
	return invitationList(is, limit, func(i store.Invitation) string { return i.Conv }), nil
}

// requireGroupAdmin checks that user is an owner or admin of the group
// conv (store.ErrNotFound if not a member, ErrInvalid for a conversation
// that is no group, store.ErrForbidden for a plain member). The store
// checks again in the transaction of a write.
func (c *Core) requireGroupAdmin(ctx context.Context, user, conv, what string) error {
	role, err := c.groupRole(ctx, user, conv)
	if err != nil {
		return err
	}
	if protocol.RoleRank(role) < protocol.RoleRank(protocol.RoleAdmin) {
		return fmt.Errorf("%s: %w", what, store.ErrForbidden)
	}
	return nil
}

// inviteChanged dispatches the entries of a write of invitations or links.
func (c *Core) inviteChanged(ch store.InviteChange) {
	if len(ch.Events) == 0 {
		return
	}
	evs := make([]*protocol.Message, len(ch.Events))
	for i := range ch.Events {
		evs[i] = &ch.Events[i]
	}
	c.committed(nil, evs...)
}

// joinedAck is the acknowledgement of ch's joined entry; zero without one.
func joinedAck(ch store.InviteChange) protocol.Ack {
	if ch.Joined == nil {
		return protocol.Ack{}
	}
	m := ch.Joined
	return protocol.Ack{Conv: m.Conv, Seq: m.Seq, ID: m.ID, Time: m.Time}
}

// invitePage checks a page's limit (0: 100) and its after, which valid
// checks unless it is empty.
func invitePage(limit int, after string, valid func(string) error) (int, error) {
	if after != "" && valid(after) != nil {
		return 0, badField("after", "is not an id of this list")
	}
	return pageLimit(limit, 100, InvitePageMax)
}

// invitationList makes a page of is (up to limit+1 read), whose next page
// starts after key of the last one.
func invitationList(is []store.Invitation, limit int, key func(store.Invitation) string) protocol.InvitationList {
	var l protocol.InvitationList
	l.Invitations, l.Next = keysetPage(is, limit, func(in store.Invitation) protocol.Invitation {
		return protocol.Invitation{Conv: in.Conv, Name: in.Name, User: in.Invitee, Inviter: in.Inviter, Time: in.CreatedAt.UnixMilli()}
	}, key)
	return l
}

// orEmpty returns s, or an empty slice for nil (a JSON [] rather than
// null).
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Invite links, join requests and group settings (docs/protocol.md
// §2.11). An owner or admin creates a link: an unguessable token (160
// random bits) valid until it expires, optionally for a number of uses.
// Whoever has it joins the group, with the group's entry "joined" from
// the new member, unless the group's join approval is on: then the join is
// a request, told to every owner and admin in their system conversation
// (protocol.InviteJoinRequest); one of them approves (the requester joins)
// or denies it, and the requester and the owners and admins are told the
// outcome in theirs.

// Bounds of invite links.
const (
	// LinkTTLDefault is a link's lifetime when its creator names none;
	// LinkTTLMax the longest one may ask for.
	LinkTTLDefault = 7 * 24 * time.Hour
	LinkTTLMax     = 365 * 24 * time.Hour
	// MaxLinkUses bounds a link's max_uses.
	MaxLinkUses = 1_000_000
	// MaxLinksPerGroup bounds a group's usable links.
	MaxLinksPerGroup = 100
)

// linkTokenLen is the length of a link's token: 20 random bytes in
// base32.
const linkTokenLen = 32

var linkEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newLinkToken returns a fresh link token.
func newLinkToken() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("core: crypto/rand failed: " + err.Error())
	}
	return linkEncoding.EncodeToString(b[:])
}

// checkLinkToken refuses what cannot be a link token (400, field token).
func checkLinkToken(t string) error {
	if len(t) != linkTokenLen {
		return badField("token", "is not an invite link token")
	}
	for i := 0; i < len(t); i++ {
		if b := t[i]; !('a' <= b && b <= 'z' || '2' <= b && b <= '7') {
			return badField("token", "is not an invite link token")
		}
	}
	return nil
}

// LinkTTLSeconds is the lifetime a client asks for in seconds (0: the
// default), for CreateLink, which refuses what is out of range (so does
// the -1 this returns for what a Duration cannot hold).
func LinkTTLSeconds(n int64) time.Duration {
	if n < 0 || n > int64(LinkTTLMax/time.Second) {
		return -1
	}
	return time.Duration(n) * time.Second
}

// CreateLink creates an invite link to the group conv on behalf of id's
// user, an owner or admin: valid for ttl (0: LinkTTLDefault; at most
// LinkTTLMax), for at most maxUses joins and join requests (0: no bound).
// A group keeps at most MaxLinksPerGroup usable links (ErrTooManyLinks).
func (c *Core) CreateLink(ctx context.Context, id Identity, conv string, ttl time.Duration, maxUses int) (protocol.InviteLink, error) {
	switch {
	case ttl == 0:
		ttl = LinkTTLDefault
	case ttl < time.Second || ttl > LinkTTLMax:
		return protocol.InviteLink{}, badField("expires_in", "must be from 1 to %d seconds", int64(LinkTTLMax/time.Second))
	}
	if maxUses < 0 || maxUses > MaxLinkUses {
		return protocol.InviteLink{}, badField("max_uses", "must be from 0 (no bound) to %d", MaxLinkUses)
	}
	if err := c.requireGroupAdmin(ctx, id.User, conv, "create a link"); err != nil {
		return protocol.InviteLink{}, err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.InviteLink{}, err
	}
	now := c.now()
	l := store.GroupLink{Token: newLinkToken(), Conv: conv, CreatedBy: id.User, CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: maxUses}
	err := c.st.CreateLink(ctx, l, MaxLinksPerGroup)
	switch {
	case errors.Is(err, store.ErrLimit):
		return protocol.InviteLink{}, fmt.Errorf("create link: %w", ErrTooManyLinks)
	case err != nil:
		return protocol.InviteLink{}, fmt.Errorf("create link: %w", err)
	}
	return linkOut(l), nil
}

// RevokeLink deletes the link token of conv; owners and admins may.
// Joins with it are refused from then on (store.ErrNotFound).
func (c *Core) RevokeLink(ctx context.Context, id Identity, conv, token string) error {
	if err := checkLinkToken(token); err != nil {
		return err
	}
	if err := c.requireGroupAdmin(ctx, id.User, conv, "revoke a link"); err != nil {
		return err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	if err := c.st.RevokeLink(ctx, conv, id.User, token); err != nil {
		return fmt.Errorf("revoke link: %w", err)
	}
	return nil
}

// Links lists the usable links of conv, newest first; owners and admins
// may.
func (c *Core) Links(ctx context.Context, user, conv string) (protocol.InviteLinkList, error) {
	if err := c.requireGroupAdmin(ctx, user, conv, "list links"); err != nil {
		return protocol.InviteLinkList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.InviteLinkList{}, err
	}
	ls, err := c.st.Links(ctx, conv, c.now())
	if err != nil {
		return protocol.InviteLinkList{}, fmt.Errorf("links: %w", err)
	}
	out := protocol.InviteLinkList{Links: make([]protocol.InviteLink, len(ls))}
	for i, l := range ls {
		out.Links[i] = linkOut(l)
	}
	return out, nil
}

func linkOut(l store.GroupLink) protocol.InviteLink {
	return protocol.InviteLink{Token: l.Token, Conv: l.Conv, CreatedBy: l.CreatedBy, CreatedAt: l.CreatedAt.UnixMilli(),
		ExpiresAt: l.ExpiresAt.UnixMilli(), MaxUses: l.MaxUses, Uses: l.Uses}
}

// Join joins id's user to the group of the link token: store.ErrNotFound
// for an unknown or revoked link, ErrLinkExpired for one expired or used
// up, store.ErrExists for a member, ErrGroupFull beyond the member limit.
// With the group's join approval on, the join is a request
// (protocol.JoinRequested); asking again while it is pending changes
// nothing.
func (c *Core) Join(ctx context.Context, id Identity, token string) (protocol.JoinResult, error) {
	if err := checkLinkToken(token); err != nil {
		return protocol.JoinResult{}, err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.JoinResult{}, err
	}
	ch, err := c.st.JoinByLink(ctx, token, id.User, c.invites.opt.MaxMembers, c.now())
	if errors.Is(err, store.ErrExpired) {
		err = ErrLinkExpired
	}
	if err != nil {
		return protocol.JoinResult{}, fmt.Errorf("join: %w", groupFull(err))
	}
	c.inviteChanged(ch)
	r := protocol.JoinResult{Conv: ch.Conv, Name: ch.Name, Status: protocol.JoinJoined}
	if ch.Requested {
		r.Status = protocol.JoinRequested
	} else if ch.Joined != nil {
		r.Seq = ch.Joined.Seq
	}
	return r, nil
}

// JoinRequests returns a page of conv's pending join requests, ordered by
// user, after the user id after; owners and admins may. limit 0 is 100.
func (c *Core) JoinRequests(ctx context.Context, user, conv, after string, limit int) (protocol.JoinRequestList, error) {
	if err := c.requireGroupAdmin(ctx, user, conv, "list join requests"); err != nil {
		return protocol.JoinRequestList{}, err
	}
	limit, err := invitePage(limit, after, ValidateUserID)
	if err != nil {
		return protocol.JoinRequestList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.JoinRequestList{}, err
	}
	rs, err := c.st.JoinRequests(ctx, conv, after, limit+1)
	if err != nil {
		return protocol.JoinRequestList{}, fmt.Errorf("join requests: %w", err)
	}
	var l protocol.JoinRequestList
	l.Requests, l.Next = keysetPage(rs, limit,
		func(r store.JoinRequest) protocol.JoinRequest {
			return protocol.JoinRequest{Conv: r.Conv, User: r.User, Time: r.CreatedAt.UnixMilli()}
		},
		func(r store.JoinRequest) string { return r.User })
	return l, nil
}

// AnswerJoinRequest approves or denies user's pending join request to
// conv; owners and admins may. Approving makes user a member and returns
// the acknowledgement of the group's joined entry (ErrGroupFull beyond the
// member limit, the request staying pending); denying returns a zero Ack.
// The requester and the owners and admins are told.
func (c *Core) AnswerJoinRequest(ctx context.Context, id Identity, conv, user string, approve bool) (protocol.Ack, error) {
	if err := c.requireGroupAdmin(ctx, id.User, conv, "answer a join request"); err != nil {
		return protocol.Ack{}, err
	}
	if ValidateUserID(user) != nil {
		return protocol.Ack{}, badField("user", "is not a valid user id")
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.Ack{}, err
	}
	ch, err := c.st.AnswerJoinRequest(ctx, conv, id.User, user, approve, c.invites.opt.MaxMembers, c.now())
	if err != nil {
		return protocol.Ack{}, fmt.Errorf("answer join request: %w", groupFull(err))
	}
	c.inviteChanged(ch)
	return joinedAck(ch), nil
}

// GroupSettingsUpdate changes the group settings whose field is not nil.
type GroupSettingsUpdate struct {
	JoinApproval *bool
}

// GroupSettings returns the settings of the group conv; any member may
// read them.
func (c *Core) GroupSettings(ctx context.Context, user, conv string) (protocol.GroupSettings, error) {
	if _, err := c.groupRole(ctx, user, conv); err != nil {
		return protocol.GroupSettings{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.GroupSettings{}, err
	}
	s, err := c.st.GroupSettings(ctx, conv)
	if err != nil {
		return protocol.GroupSettings{}, fmt.Errorf("group settings: %w", err)
	}
	return protocol.GroupSettings{Conv: conv, JoinApproval: s.JoinApproval}, nil
}

// UpdateGroupSettings changes the settings of the group conv that u names
// and returns them all; owners and admins may. Turning join approval off
// leaves pending requests pending.
func (c *Core) UpdateGroupSettings(ctx context.Context, id Identity, conv string, u GroupSettingsUpdate) (protocol.GroupSettings, error) {
	if err := c.requireGroupAdmin(ctx, id.User, conv, "change group settings"); err != nil {
		return protocol.GroupSettings{}, err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.GroupSettings{}, err
	}
	s, err := c.st.GroupSettings(ctx, conv)
	if err != nil {
		return protocol.GroupSettings{}, fmt.Errorf("group settings: %w", err)
	}
	if u.JoinApproval != nil {
		s.JoinApproval = *u.JoinApproval
	}
	if err := c.st.SetGroupSettings(ctx, conv, id.User, s); err != nil {
		return protocol.GroupSettings{}, fmt.Errorf("group settings: %w", err)
	}
	return protocol.GroupSettings{Conv: conv, JoinApproval: s.JoinApproval}, nil
}

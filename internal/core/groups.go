package core

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// MaxGroupName is the longest group name in bytes.
const MaxGroupName = 256

func checkGroupName(name string) error {
	if name == "" || len(name) > MaxGroupName || !utf8.ValidString(name) {
		return badField("name", "must be 1–%d bytes of UTF-8", MaxGroupName)
	}
	return nil
}

// CreateGroup creates a group owned by id's user with the given members
// (repeats and the creator ignored; role member), each added directly as
// they allow (checkGroupAdd), and invites the users of invite who are not
// members (invites.go). The store records the group as one KindMember
// event, protocol.MemberCreated at seq 1, which goes to every member's
// connections; there is no "added" event per initial member.
func (c *Core) CreateGroup(ctx context.Context, id Identity, name string, members []string, invite ...string) (protocol.Conversation, error) {
	if err := checkGroupName(name); err != nil {
		return protocol.Conversation{}, err
	}
	seen := map[string]bool{id.User: true}
	ms := []store.Member{{User: id.User, Role: protocol.RoleOwner}}
	for _, u := range members {
		if seen[u] {
			continue
		}
		seen[u] = true
		if err := c.checkUserExists(ctx, u, "members"); err != nil {
			return protocol.Conversation{}, err
		}
		if err := c.checkGroupAdd(ctx, id.User, u); err != nil {
			return protocol.Conversation{}, err
		}
		ms = append(ms, store.Member{User: u, Role: protocol.RoleMember})
	}
	if err := c.checkGroupSize(len(ms)); err != nil {
		return protocol.Conversation{}, err
	}
	invitees, err := c.invitees(ctx, id.User, "invite", invite, seen)
	if err != nil {
		return protocol.Conversation{}, err
	}
	if err := c.allowInvites(id.User, len(invitees)); err != nil {
		return protocol.Conversation{}, err
	}
	now := c.now()
	conv := store.Conversation{ID: NewGroupID(), Kind: protocol.ConvGroup, Name: name, CreatedBy: id.User, CreatedAt: now, UpdatedAt: now}
	for i := range ms {
		ms[i].Conv = conv.ID
	}
	// One creation event, whatever the number of members: each member's
	// devices receive it once, and learn the members from Members.
	ev, err := c.st.CreateGroup(ctx, conv, ms)
	if err != nil {
		return protocol.Conversation{}, fmt.Errorf("create group: %w", err)
	}
	c.committed(nil, &ev)
	c.inviteToNew(ctx, id, conv.ID, invitees)
	return protocol.Conversation{ID: conv.ID, Kind: conv.Kind, Name: name, Role: protocol.RoleOwner,
		LastSeq: ev.Seq, StartSeq: 1, UpdatedAt: now.UnixMilli()}, nil
}

func (c *Core) checkUserExists(ctx context.Context, user, field string) error {
	if err := ValidateUserID(user); err != nil {
		return badField(field, "%q is not a valid user id", user)
	}
	u, err := c.st.User(ctx, user)
	if err != nil {
		return fmt.Errorf("user %s: %w", user, err)
	}
	if u.Disabled {
		return fmt.Errorf("user %s: %w", user, store.ErrNotFound)
	}
	return nil
}

// groupRole returns id's role in a group, or ErrNotFound if the user is not
// a member or conv is not a group.
func (c *Core) groupRole(ctx context.Context, user, conv string) (string, error) {
	if err := ValidateConvID(conv); err != nil {
		return "", err
	}
	m, err := c.st.Member(ctx, conv, user)
	if err != nil {
		return "", fmt.Errorf("conversation %s: %w", conv, err)
	}
	if ConvKind(conv) != protocol.ConvGroup {
		return "", fmt.Errorf("conversation %s is not a group: %w", conv, store.ErrInvalid)
	}
	return m.Role, nil
}

// memberEvent commits a membership or system event by actor. Except for
// leaving, the store re-checks the role rules at commit time (Authorize),
// so a check made here before the commit cannot be raced.
func (c *Core) memberEvent(ctx context.Context, conv, actor string, ch protocol.MemberChange, kind string, skipCheck bool) (protocol.Ack, error) {
	authorize := !(kind == protocol.KindMember && ch.Action == protocol.MemberLeft && ch.User == actor)
	res, err := c.commit.append(ctx, store.Append{Conv: conv, Sender: actor, Kind: kind, Member: &ch, SkipMemberCheck: skipCheck, Authorize: authorize,
		MaxMembers: c.invites.opt.MaxMembers}) // for an add only
	ack, err := c.afterAppend(protocolOf(ctx), res, err)
	return ack, groupFull(err)
}

// AddMember adds user to a group; owners and admins may, if user allows
// (checkGroupAdd: else ErrInviteRequired), within the member limit
// (ErrGroupFull).
func (c *Core) AddMember(ctx context.Context, id Identity, conv, user string) (protocol.Ack, error) {
	role, err := c.groupRole(ctx, id.User, conv)
	if err != nil {
		return protocol.Ack{}, err
	}
	if protocol.RoleRank(role) < protocol.RoleRank(protocol.RoleAdmin) {
		return protocol.Ack{}, fmt.Errorf("add member: %w", store.ErrForbidden)
	}
	if err := c.checkUserExists(ctx, user, "user"); err != nil {
		return protocol.Ack{}, err
	}
	if err := c.checkGroupAdd(ctx, id.User, user); err != nil {
		return protocol.Ack{}, err
	}
	if _, err := c.st.Member(ctx, conv, user); err == nil {
		return protocol.Ack{}, fmt.Errorf("add member %s: %w", user, store.ErrExists)
	}
	return c.memberEvent(ctx, conv, id.User, protocol.MemberChange{User: user, Action: protocol.MemberAdded, Role: protocol.RoleMember}, protocol.KindMember, false)
}

// RemoveMember removes user from a group: owners remove anyone, admins
// remove plain members. The removed member stops receiving at once.
func (c *Core) RemoveMember(ctx context.Context, id Identity, conv, user string) (protocol.Ack, error) {
	if user == id.User {
		return c.Leave(ctx, id, conv)
	}
	role, err := c.groupRole(ctx, id.User, conv)
	if err != nil {
		return protocol.Ack{}, err
	}
	target, err := c.st.Member(ctx, conv, user)
	if err != nil {
		return protocol.Ack{}, fmt.Errorf("member %s: %w", user, err)
	}
	if protocol.RoleRank(role) < protocol.RoleRank(protocol.RoleAdmin) || protocol.RoleRank(target.Role) >= protocol.RoleRank(role) {
		return protocol.Ack{}, fmt.Errorf("remove member: %w", store.ErrForbidden)
	}
	return c.memberEvent(ctx, conv, id.User, protocol.MemberChange{User: user, Action: protocol.MemberRemoved}, protocol.KindMember, false)
}

// Leave removes id's user from a group. The owner must hand ownership to
// another member first unless they are the last member.
func (c *Core) Leave(ctx context.Context, id Identity, conv string) (protocol.Ack, error) {
	role, err := c.groupRole(ctx, id.User, conv)
	if err != nil {
		return protocol.Ack{}, err
	}
	if role == protocol.RoleOwner {
		ids, err := c.st.MemberIDs(ctx, conv)
		if err != nil {
			return protocol.Ack{}, fmt.Errorf("members: %w", err)
		}
		if len(ids) > 1 {
			return protocol.Ack{}, fmt.Errorf("the owner must make another member owner before leaving: %w", store.ErrInvalid)
		}
	}
	return c.memberEvent(ctx, conv, id.User, protocol.MemberChange{User: id.User, Action: protocol.MemberLeft}, protocol.KindMember, false)
}

// SetRole changes a member's role. Only the owner may; making another
// member owner hands ownership over (the old owner becomes admin).
func (c *Core) SetRole(ctx context.Context, id Identity, conv, user, newRole string) (protocol.Ack, error) {
	if protocol.RoleRank(newRole) == 0 {
		return protocol.Ack{}, badField("role", "must be owner, admin or member")
	}
	role, err := c.groupRole(ctx, id.User, conv)
	if err != nil {
		return protocol.Ack{}, err
	}
	if role != protocol.RoleOwner || user == id.User {
		return protocol.Ack{}, fmt.Errorf("set role: %w", store.ErrForbidden)
	}
	if _, err := c.st.Member(ctx, conv, user); err != nil {
		return protocol.Ack{}, fmt.Errorf("member %s: %w", user, err)
	}
	entries := []store.Append{{Conv: conv, Sender: id.User, Kind: protocol.KindMember, Authorize: true,
		Member: &protocol.MemberChange{User: user, Action: protocol.MemberRole, Role: newRole}}}
	if newRole == protocol.RoleOwner {
		// Handing over ownership: both changes commit in one transaction,
		// and the store checks at commit time that the sender still owns
		// the group, so two concurrent hand-overs cannot both succeed.
		entries = append(entries, store.Append{Conv: conv, Sender: id.User, Kind: protocol.KindMember, Authorize: true,
			Member: &protocol.MemberChange{User: id.User, Action: protocol.MemberRole, Role: protocol.RoleAdmin}})
	}
	res, err := c.commit.appendAll(ctx, entries)
	if err != nil {
		return protocol.Ack{}, err
	}
	for _, r := range res[1:] {
		if r.Err != nil {
			return protocol.Ack{}, r.Err
		}
	}
	return c.afterAppend(protocolOf(ctx), res[0], nil)
}

// Rename renames a group; owners and admins may.
func (c *Core) Rename(ctx context.Context, id Identity, conv, name string) (protocol.Ack, error) {
	if err := checkGroupName(name); err != nil {
		return protocol.Ack{}, err
	}
	role, err := c.groupRole(ctx, id.User, conv)
	if err != nil {
		return protocol.Ack{}, err
	}
	if protocol.RoleRank(role) < protocol.RoleRank(protocol.RoleAdmin) {
		return protocol.Ack{}, fmt.Errorf("rename: %w", store.ErrForbidden)
	}
	return c.memberEvent(ctx, conv, id.User, protocol.MemberChange{User: id.User, Action: "renamed", Name: name}, protocol.KindSystem, false)
}

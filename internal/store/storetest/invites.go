package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// inviteTests check store.Invites, store.GroupLinks, the member limit of
// Append.MaxMembers and the group_add setting.
var inviteTests = []test{
	{"invites/invite, repeat, accept", func(f *fx) {
		f.users("alice", "bob", "carol")
		f.group("g_1", "alice")
		at := f.tick()
		ch, err := f.s.Invite(f.ctx, "g_1", "alice", []string{"bob", "carol"}, at)
		f.must(err, "invite")
		if !reflect.DeepEqual(ch.Invited, []string{"bob", "carol"}) || len(ch.Pending) != 0 || len(ch.Events) != 2 || ch.Joined != nil {
			f.Fatalf("invite: %+v", ch)
		}
		f.inviteEntry(ch.Events[0], "bob", "alice", protocol.InviteInvited, "alice", "g_1")
		f.inviteEntry(ch.Events[1], "carol", "alice", protocol.InviteInvited, "alice", "g_1")
		f.sameMessage(f.at(store.SystemConvID("bob"), ch.Events[0].Seq), ch.Events[0], "bob's invitation read back")
		f.invitations("g_1", "", []store.Invitation{
			{Conv: "g_1", Name: "Group g_1", Invitee: "bob", Inviter: "alice", CreatedAt: at},
			{Conv: "g_1", Name: "Group g_1", Invitee: "carol", Inviter: "alice", CreatedAt: at}})
		f.invitations("", "bob", []store.Invitation{{Conv: "g_1", Name: "Group g_1", Invitee: "bob", Inviter: "alice", CreatedAt: at}})

		// Invitations do not pile up: a repeat stores nothing.
		ch, err = f.s.Invite(f.ctx, "g_1", "alice", []string{"bob"}, f.tick())
		f.must(err, "repeat")
		if len(ch.Invited) != 0 || !reflect.DeepEqual(ch.Pending, []string{"bob"}) || len(ch.Events) != 0 {
			f.Fatalf("repeated invitation: %+v", ch)
		}
		if c := f.conv(store.SystemConvID("bob")); c.LastSeq != 1 {
			f.Fatalf("bob's system conversation at seq %d after a repeat, want 1", c.LastSeq)
		}

		// Accepting: bob joins at seq 2 and sees his own joining.
		ch, err = f.s.AnswerInvite(f.ctx, "g_1", "bob", true, 0, f.tick())
		f.must(err, "accept")
		if ch.Joined == nil || len(ch.Events) != 2 || !reflect.DeepEqual(*ch.Joined, ch.Events[0]) {
			f.Fatalf("accept: %+v", ch)
		}
		j := *ch.Joined
		if j.Conv != "g_1" || j.Seq != 2 || j.From != "bob" || j.Kind != protocol.KindMember ||
			*j.Member != (protocol.MemberChange{User: "bob", Action: protocol.MemberJoined, Role: protocol.RoleMember}) {
			f.Fatalf("joined entry %+v (%+v)", j, j.Member)
		}
		f.sameMessage(f.at("g_1", 2), j, "joined entry read back")
		if m := f.member("g_1", "bob"); m.JoinedSeq != 1 || m.Role != protocol.RoleMember {
			f.Fatalf("bob = %+v, want joined at 1 as member", m)
		}
		f.inviteEntry(ch.Events[1], "bob", "bob", protocol.InviteAccepted, "alice", "g_1")
		f.invitations("g_1", "", []store.Invitation{{Conv: "g_1", Name: "Group g_1", Invitee: "carol", Inviter: "alice", CreatedAt: at}})
		f.invitations("", "bob", nil)
		_, err = f.s.AnswerInvite(f.ctx, "g_1", "bob", true, 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "accepting twice")
		_, err = f.s.Invite(f.ctx, "g_1", "alice", []string{"bob"}, f.tick())
		f.wantErr(err, store.ErrExists, "inviting a member")
		// Entries of invitations are never unread.
		if n, err := f.s.Unread(f.ctx, store.SystemConvID("bob"), "bob", 0); err != nil || n != 0 {
			f.Fatalf("unread in bob's system conversation = %d, %v; want 0", n, err)
		}
	}},
	{"invites/decline and revoke", func(f *fx) {
		f.users("alice", "bob", "carol", "dave")
		f.group("g_1", "alice", "bob")
		_, err := f.s.Invite(f.ctx, "g_1", "alice", []string{"carol", "dave"}, f.tick())
		f.must(err, "invite")
		ch, err := f.s.AnswerInvite(f.ctx, "g_1", "carol", false, 0, f.tick())
		f.must(err, "decline")
		if ch.Joined != nil || len(ch.Events) != 2 {
			f.Fatalf("decline: %+v", ch)
		}
		f.inviteEntry(ch.Events[0], "carol", "carol", protocol.InviteDeclined, "alice", "g_1")
		f.inviteEntry(ch.Events[1], "alice", "carol", protocol.InviteDeclined, "carol", "g_1")
		if _, err := f.s.Member(f.ctx, "g_1", "carol"); !errors.Is(err, store.ErrNotFound) {
			f.Fatalf("carol declined and is a member: %v", err)
		}
		if c := f.conv("g_1"); c.LastSeq != 1 {
			f.Fatalf("a decline stored an entry in the group: last seq %d", c.LastSeq)
		}

		_, err = f.s.RevokeInvite(f.ctx, "g_1", "bob", "dave", f.tick())
		f.wantErr(err, store.ErrForbidden, "a plain member revokes")
		_, err = f.s.RevokeInvite(f.ctx, "g_1", "carol", "dave", f.tick())
		f.wantErr(err, store.ErrNotFound, "a non-member revokes")
		ch, err = f.s.RevokeInvite(f.ctx, "g_1", "alice", "dave", f.tick())
		f.must(err, "revoke")
		if len(ch.Events) != 1 {
			f.Fatalf("revoke: %+v", ch)
		}
		f.inviteEntry(ch.Events[0], "dave", "alice", protocol.InviteRevoked, "alice", "g_1")
		_, err = f.s.AnswerInvite(f.ctx, "g_1", "dave", true, 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "accepting a revoked invitation")
		_, err = f.s.RevokeInvite(f.ctx, "g_1", "alice", "dave", f.tick())
		f.wantErr(err, store.ErrNotFound, "revoking twice")
		f.invitations("g_1", "", nil)
	}},
	{"invites/who may invite whom", func(f *fx) {
		f.users("alice", "bob", "carol", "dave", "erin")
		f.group("g_1", "alice", "bob")
		d := f.direct("alice", "carol")
		_, err := f.s.Invite(f.ctx, "g_1", "bob", []string{"carol"}, f.tick())
		f.wantErr(err, store.ErrForbidden, "a plain member invites")
		_, err = f.s.Invite(f.ctx, "g_1", "carol", []string{"dave"}, f.tick())
		f.wantErr(err, store.ErrNotFound, "a non-member invites")
		_, err = f.s.Invite(f.ctx, d.ID, "alice", []string{"dave"}, f.tick())
		f.wantErr(err, store.ErrNotFound, "an invitation to a direct conversation")
		_, err = f.s.Invite(f.ctx, "g_nope", "alice", []string{"dave"}, f.tick())
		f.wantErr(err, store.ErrNotFound, "an invitation to no group")
		_, err = f.s.Invite(f.ctx, "g_1", "alice", []string{"carol", "nobody"}, f.tick())
		f.wantErr(err, store.ErrNotFound, "inviting an unknown user")
		// A user who blocked the inviter looks unknown; nothing of the
		// call is stored.
		_, err = f.s.Block(f.ctx, "dave", "alice", 0, f.tick())
		f.must(err, "dave blocks alice")
		_, err = f.s.Invite(f.ctx, "g_1", "alice", []string{"carol", "dave"}, f.tick())
		f.wantErr(err, store.ErrNotFound, "inviting a user who blocked the inviter")
		_, err = f.s.DeleteUser(f.ctx, "erin", f.tick())
		f.must(err, "delete erin")
		_, err = f.s.Invite(f.ctx, "g_1", "alice", []string{"erin"}, f.tick())
		f.wantErr(err, store.ErrNotFound, "inviting a deleted user")
		_, err = f.s.Invite(f.ctx, "g_1", "alice", []string{"bob"}, f.tick())
		f.wantErr(err, store.ErrExists, "inviting a member")
		f.invitations("g_1", "", nil)
		for _, u := range []string{"carol", "dave"} {
			if n := f.systemEntries(u); n != 0 {
				f.Fatalf("a refused invitation wrote %d entries to %s's system conversation", n, u)
			}
		}
		// An admin may invite.
		f.ok(memberEvent("g_1", "alice", "bob", protocol.MemberRole, protocol.RoleAdmin))
		ch, err := f.s.Invite(f.ctx, "g_1", "bob", []string{"carol"}, f.tick())
		f.must(err, "an admin invites")
		f.inviteEntry(ch.Events[0], "carol", "bob", protocol.InviteInvited, "bob", "g_1")
	}},
	{"invites/becoming a member otherwise ends the invitation", func(f *fx) {
		f.users("alice", "bob", "carol")
		f.group("g_1", "alice")
		at := f.tick()
		_, err := f.s.Invite(f.ctx, "g_1", "alice", []string{"bob", "carol"}, at)
		f.must(err, "invite")
		f.ok(memberEvent("g_1", "alice", "bob", protocol.MemberAdded, protocol.RoleMember))
		f.invitations("g_1", "", []store.Invitation{{Conv: "g_1", Name: "Group g_1", Invitee: "carol", Inviter: "alice", CreatedAt: at}})
		_, err = f.s.AnswerInvite(f.ctx, "g_1", "bob", true, 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "accepting after being added")
		l := f.link("g_1", "alice", time.Hour, 0)
		ch, err := f.s.JoinByLink(f.ctx, l.Token, "carol", 0, f.tick())
		f.must(err, "carol joins by link")
		if ch.Joined == nil || ch.Requested {
			f.Fatalf("join: %+v", ch)
		}
		f.invitations("g_1", "", nil)
		f.invitations("", "carol", nil)
	}},
	{"invites/member limit at commit time", func(f *fx) {
		f.users("alice", "bob", "carol", "dave", "erin")
		f.group("g_1", "alice", "bob")
		at := f.tick()
		_, err := f.s.Invite(f.ctx, "g_1", "alice", []string{"carol", "dave"}, at)
		f.must(err, "invite")
		_, err = f.s.AnswerInvite(f.ctx, "g_1", "carol", true, 3, f.tick())
		f.must(err, "carol accepts: 3 of 3")
		before := f.conv("g_1").LastSeq
		_, err = f.s.AnswerInvite(f.ctx, "g_1", "dave", true, 3, f.tick())
		f.wantErr(err, store.ErrLimit, "dave accepts into a full group")
		if c := f.conv("g_1"); c.LastSeq != before {
			f.Fatalf("a refused accept stored an entry: last seq %d, want %d", c.LastSeq, before)
		}
		if c := f.conv(store.SystemConvID("dave")); c.LastSeq != 1 {
			f.Fatalf("a refused accept wrote to dave's system conversation: last seq %d", c.LastSeq)
		}
		// The invitation stays: dave may accept once there is room.
		f.invitations("", "dave", []store.Invitation{{Conv: "g_1", Name: "Group g_1", Invitee: "dave", Inviter: "alice", CreatedAt: at}})

		// Adding is limited the same way, also within one batch.
		add := memberEvent("g_1", "alice", "erin", protocol.MemberAdded, protocol.RoleMember)
		add.MaxMembers = 3
		f.wantErr(f.appendAll(add)[0].Err, store.ErrLimit, "adding erin to a full group")
		leave := memberEvent("g_1", "bob", "bob", protocol.MemberLeft, "")
		res := f.appendAll(leave, add, add)
		if res[0].Err != nil || res[1].Err != nil {
			f.Fatalf("bob leaves, erin is added: %v, %v", res[0].Err, res[1].Err)
		}
		f.wantErr(res[2].Err, store.ErrExists, "erin added twice")
		add = memberEvent("g_1", "alice", "bob", protocol.MemberAdded, protocol.RoleMember)
		add.MaxMembers = 3
		f.wantErr(f.appendAll(add)[0].Err, store.ErrLimit, "bob added back to a full group")
		add.MaxMembers = 0
		f.ok(add) // no limit
		ids, err := f.s.MemberIDs(f.ctx, "g_1")
		f.must(err, "members")
		if len(ids) != 4 {
			f.Fatalf("members %v", ids)
		}
	}},
	{"invites/concurrent joins cannot overfill a group", func(f *fx) {
		f.user("alice")
		f.group("g_1", "alice")
		l := f.link("g_1", "alice", time.Hour, 0)
		var users []string
		for i := range 16 {
			users = append(users, f.user(fmt.Sprintf("u%02d", i)).ID)
		}
		_, err := f.s.Invite(f.ctx, "g_1", "alice", users[8:], f.tick())
		f.must(err, "invite")
		at := f.tick()
		errs := make([]error, len(users))
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() {
				if i < 8 {
					_, errs[i] = f.s.JoinByLink(f.ctx, l.Token, u, 5, at)
				} else {
					_, errs[i] = f.s.AnswerInvite(f.ctx, "g_1", u, true, 5, at)
				}
			})
		}
		wg.Wait()
		joined := 0
		for i, err := range errs {
			switch {
			case err == nil:
				joined++
			case !errors.Is(err, store.ErrLimit):
				f.Fatalf("%s: %v, want nil or ErrLimit", users[i], err)
			}
		}
		ids, err := f.s.MemberIDs(f.ctx, "g_1")
		f.must(err, "members")
		if joined != 4 || len(ids) != 5 {
			f.Fatalf("%d joins succeeded, %d members; want 4 and 5 (the limit)", joined, len(ids))
		}
	}},
	{"links/create, list, join, use up, expire, revoke", func(f *fx) {
		f.users("alice", "bob", "carol", "dave", "erin")
		f.group("g_1", "alice", "erin")
		at := f.tick()
		l := store.GroupLink{Token: "t1", Conv: "g_1", CreatedBy: "alice", CreatedAt: at, ExpiresAt: at.Add(time.Hour), MaxUses: 2}
		f.must(f.s.CreateLink(f.ctx, l, 0), "create")
		f.wantErr(f.s.CreateLink(f.ctx, l, 0), store.ErrExists, "a token taken")
		bad := l
		bad.Token, bad.CreatedBy = "t2", "erin"
		f.wantErr(f.s.CreateLink(f.ctx, bad, 0), store.ErrForbidden, "a plain member creates a link")
		bad.CreatedBy = "bob"
		f.wantErr(f.s.CreateLink(f.ctx, bad, 0), store.ErrNotFound, "a non-member creates a link")
		f.links("g_1", at, []store.GroupLink{l})

		ch, err := f.s.JoinByLink(f.ctx, "t1", "bob", 0, f.tick())
		f.must(err, "bob joins")
		if ch.Joined == nil || ch.Requested || ch.Conv != "g_1" || ch.Name != "Group g_1" || len(ch.Events) != 1 ||
			ch.Joined.From != "bob" || ch.Joined.Member.Action != protocol.MemberJoined {
			f.Fatalf("join: %+v", ch)
		}
		_, err = f.s.JoinByLink(f.ctx, "t1", "bob", 0, f.tick())
		f.wantErr(err, store.ErrExists, "a member joins again")
		_, err = f.s.JoinByLink(f.ctx, "t1", "carol", 0, f.tick())
		f.must(err, "carol joins")
		_, err = f.s.JoinByLink(f.ctx, "t1", "dave", 0, f.tick())
		f.wantErr(err, store.ErrExpired, "a link used up")
		f.links("g_1", f.now, nil)
		_, err = f.s.JoinByLink(f.ctx, "nope", "dave", 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "an unknown token")

		// Expiry, and revocation.
		at = f.tick()
		short := store.GroupLink{Token: "t3", Conv: "g_1", CreatedBy: "alice", CreatedAt: at, ExpiresAt: at.Add(time.Second)}
		f.must(f.s.CreateLink(f.ctx, short, 0), "create a short link")
		f.links("g_1", at, []store.GroupLink{short})
		_, err = f.s.JoinByLink(f.ctx, "t3", "dave", 0, at.Add(time.Second))
		f.wantErr(err, store.ErrExpired, "an expired link")
		at = f.tick()
		long := store.GroupLink{Token: "t4", Conv: "g_1", CreatedBy: "alice", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		f.must(f.s.CreateLink(f.ctx, long, 2), "create with at most 2 links (expired ones do not count)")
		third := long
		third.Token = "t5"
		f.must(f.s.CreateLink(f.ctx, third, 2), "a second link")
		third.Token = "t6"
		f.wantErr(f.s.CreateLink(f.ctx, third, 2), store.ErrLimit, "a third link")
		f.wantErr(f.s.RevokeLink(f.ctx, "g_1", "erin", "t4"), store.ErrForbidden, "a plain member revokes")
		f.must(f.s.RevokeLink(f.ctx, "g_1", "alice", "t4"), "revoke")
		f.wantErr(f.s.RevokeLink(f.ctx, "g_1", "alice", "t4"), store.ErrNotFound, "revoke twice")
		_, err = f.s.JoinByLink(f.ctx, "t4", "dave", 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "a revoked link")
	}},
	{"links/join approval", func(f *fx) {
		f.users("alice", "bob", "carol", "dave", "erin")
		f.group("g_1", "alice", "erin")
		f.ok(memberEvent("g_1", "alice", "erin", protocol.MemberRole, protocol.RoleAdmin))
		f.users("frank")
		f.ok(memberEvent("g_1", "alice", "frank", protocol.MemberAdded, protocol.RoleMember))
		s, err := f.s.GroupSettings(f.ctx, "g_1")
		if err != nil || s.JoinApproval {
			f.Fatalf("settings of a new group: %+v, %v", s, err)
		}
		f.wantErr(f.s.SetGroupSettings(f.ctx, "g_1", "frank", store.GroupSettings{JoinApproval: true}), store.ErrForbidden, "a plain member sets")
		f.must(f.s.SetGroupSettings(f.ctx, "g_1", "erin", store.GroupSettings{JoinApproval: true}), "an admin sets")
		if s, _ := f.s.GroupSettings(f.ctx, "g_1"); !s.JoinApproval {
			f.Fatalf("settings after setting: %+v", s)
		}
		l := f.link("g_1", "alice", time.Hour, 0)
		at := f.tick()
		ch, err := f.s.JoinByLink(f.ctx, l.Token, "bob", 0, at)
		f.must(err, "bob asks")
		if !ch.Requested || ch.Joined != nil || len(ch.Events) != 3 {
			f.Fatalf("request: %+v", ch)
		}
		f.inviteEntry(ch.Events[0], "alice", "bob", protocol.InviteJoinRequest, "bob", "g_1")
		f.inviteEntry(ch.Events[1], "erin", "bob", protocol.InviteJoinRequest, "bob", "g_1")
		f.inviteEntry(ch.Events[2], "bob", "bob", protocol.InviteJoinRequested, "", "g_1")
		ch, err = f.s.JoinByLink(f.ctx, l.Token, "bob", 0, f.tick())
		f.must(err, "bob asks again")
		if !ch.Requested || len(ch.Events) != 0 {
			f.Fatalf("repeated request: %+v", ch)
		}
		_, err = f.s.JoinByLink(f.ctx, l.Token, "carol", 0, f.tick())
		f.must(err, "carol asks")
		if ls, _ := f.s.Links(f.ctx, "g_1", f.now); len(ls) != 1 || ls[0].Uses != 2 {
			f.Fatalf("links after two requests (one repeated): %+v", ls)
		}
		f.joinRequests("g_1", []store.JoinRequest{{Conv: "g_1", User: "bob", CreatedAt: at}, {Conv: "g_1", User: "carol", CreatedAt: at.Add(2 * time.Second)}})

		_, err = f.s.AnswerJoinRequest(f.ctx, "g_1", "frank", "bob", true, 0, f.tick())
		f.wantErr(err, store.ErrForbidden, "a plain member approves")
		_, err = f.s.AnswerJoinRequest(f.ctx, "g_1", "erin", "bob", true, 3, f.tick())
		f.wantErr(err, store.ErrLimit, "approving into a full group")
		ch, err = f.s.AnswerJoinRequest(f.ctx, "g_1", "erin", "bob", true, 5, f.tick())
		f.must(err, "approve")
		if ch.Joined == nil || ch.Joined.From != "bob" || len(ch.Events) != 4 {
			f.Fatalf("approve: %+v", ch)
		}
		f.inviteEntry(ch.Events[1], "bob", "erin", protocol.InviteJoinApproved, "erin", "g_1")
		f.inviteEntry(ch.Events[2], "alice", "erin", protocol.InviteJoinApproved, "bob", "g_1")
		f.inviteEntry(ch.Events[3], "erin", "erin", protocol.InviteJoinApproved, "bob", "g_1")
		f.member("g_1", "bob")
		ch, err = f.s.AnswerJoinRequest(f.ctx, "g_1", "alice", "carol", false, 0, f.tick())
		f.must(err, "deny")
		if ch.Joined != nil || len(ch.Events) != 3 {
			f.Fatalf("deny: %+v", ch)
		}
		f.inviteEntry(ch.Events[0], "carol", "alice", protocol.InviteJoinDenied, "alice", "g_1")
		if _, err := f.s.Member(f.ctx, "g_1", "carol"); !errors.Is(err, store.ErrNotFound) {
			f.Fatalf("carol was denied and is a member: %v", err)
		}
		_, err = f.s.AnswerJoinRequest(f.ctx, "g_1", "alice", "carol", true, 0, f.tick())
		f.wantErr(err, store.ErrNotFound, "answering twice")
		f.joinRequests("g_1", nil)

		// A request while the group is full is refused at once.
		_, err = f.s.JoinByLink(f.ctx, l.Token, "dave", 4, f.tick())
		f.wantErr(err, store.ErrLimit, "asking to join a full group")
	}},
	{"invites/erasure drops a user's invitations and join requests", func(f *fx) {
		f.users("alice", "bob", "carol")
		f.group("g_1", "alice")
		_, err := f.s.Invite(f.ctx, "g_1", "alice", []string{"bob"}, f.tick())
		f.must(err, "invite")
		f.must(f.s.SetGroupSettings(f.ctx, "g_1", "alice", store.GroupSettings{JoinApproval: true}), "approval on")
		l := f.link("g_1", "alice", time.Hour, 0)
		_, err = f.s.JoinByLink(f.ctx, l.Token, "carol", 0, f.tick())
		f.must(err, "carol asks")
		for _, u := range []string{"bob", "carol"} {
			_, err := f.s.DeleteUser(f.ctx, u, f.tick())
			f.must(err, "delete "+u)
		}
		f.invitations("g_1", "", nil)
		f.joinRequests("g_1", nil)
	}},
	{"settings/group_add", func(f *fx) {
		f.user("alice")
		friends := protocol.GroupAddFriends
		s, err := f.s.UpdateUserSettings(f.ctx, "alice", store.SettingsUpdate{GroupAdd: &friends})
		f.must(err, "update")
		if s != (store.UserSettings{GroupAdd: friends}) {
			f.Fatalf("settings after the update: %+v", s)
		}
		hidden := true
		_, err = f.s.UpdateUserSettings(f.ctx, "alice", store.SettingsUpdate{PresenceHidden: &hidden})
		f.must(err, "update another setting")
		if s, err := f.s.UserSettings(f.ctx, "alice"); err != nil || s != (store.UserSettings{GroupAdd: friends, PresenceHidden: true}) {
			f.Fatalf("settings read back: %+v, %v", s, err)
		}
	}},
}

// users creates users.
func (f *fx) users(ids ...string) {
	f.Helper()
	for _, id := range ids {
		f.user(id)
	}
}

// link creates an invite link of conv by creator, valid for ttl.
func (f *fx) link(conv, creator string, ttl time.Duration, maxUses int) store.GroupLink {
	f.Helper()
	at := f.tick()
	l := store.GroupLink{Token: fmt.Sprintf("tok-%s-%d", conv, at.UnixMilli()), Conv: conv, CreatedBy: creator,
		CreatedAt: at, ExpiresAt: at.Add(ttl), MaxUses: maxUses}
	f.must(f.s.CreateLink(f.ctx, l, 0), "create link")
	return l
}

// inviteEntry checks an entry of kind invite: owner's system
// conversation, from, the action, the user it names and the group.
func (f *fx) inviteEntry(m protocol.Message, owner, from, action, user, group string) {
	f.Helper()
	want := protocol.SocialEvent{Action: action, User: user, Group: group, Name: "Group " + group}
	if m.Conv != store.SystemConvID(owner) || m.From != from || m.Kind != protocol.KindInvite || m.Social == nil || *m.Social != want {
		f.Fatalf("entry %+v (social %+v), want %s's %q by %s about %s in %s", m, m.Social, owner, action, from, user, group)
	}
	f.sameMessage(f.at(m.Conv, m.Seq), m, "entry read back")
}

// invitations checks the pending invitations of a group (conv) or a user.
func (f *fx) invitations(conv, user string, want []store.Invitation) {
	f.Helper()
	var got []store.Invitation
	var err error
	if conv != "" {
		got, err = f.s.GroupInvites(f.ctx, conv, "", 100)
	} else {
		got, err = f.s.UserInvites(f.ctx, user, "", 100)
	}
	f.must(err, "invitations")
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		f.Fatalf("invitations of %s%s:\n got  %+v\n want %+v", conv, user, got, want)
	}
	if len(want) > 1 { // paging
		var page []store.Invitation
		if conv != "" {
			page, err = f.s.GroupInvites(f.ctx, conv, want[0].Invitee, 1)
		} else {
			page, err = f.s.UserInvites(f.ctx, user, want[0].Conv, 1)
		}
		f.must(err, "invitations, second page")
		if len(page) != 1 || !reflect.DeepEqual(page[0], want[1]) {
			f.Fatalf("second page %+v, want %+v", page, want[1])
		}
	}
}

// links checks the links of conv usable at now.
func (f *fx) links(conv string, now time.Time, want []store.GroupLink) {
	f.Helper()
	got, err := f.s.Links(f.ctx, conv, now)
	f.must(err, "links")
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		f.Fatalf("links of %s:\n got  %+v\n want %+v", conv, got, want)
	}
}

// joinRequests checks the pending join requests of conv.
func (f *fx) joinRequests(conv string, want []store.JoinRequest) {
	f.Helper()
	got, err := f.s.JoinRequests(f.ctx, conv, "", 100)
	f.must(err, "join requests")
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		f.Fatalf("join requests of %s:\n got  %+v\n want %+v", conv, got, want)
	}
}

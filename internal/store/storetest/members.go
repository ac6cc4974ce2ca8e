package storetest

import (
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// memberEvent is a KindMember entry.
func memberEvent(conv, from, user, action, role string) store.Append {
	return store.Append{
		Conv: conv, Sender: from, Kind: protocol.KindMember,
		Member: &protocol.MemberChange{User: user, Action: action, Role: role},
	}
}

var memberTests = []test{
	{"members/add, role and remove through KindMember", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.group("g_1", "alice", "bob")
		f.send("g_1", "alice", "before carol")
		f.send("g_1", "bob", "before carol too")

		r := f.appendAll(msg("g_1", "carol", "let me in"))[0]
		f.wantErr(r.Err, store.ErrNotMember, "send before joining")

		added := f.ok(memberEvent("g_1", "alice", "carol", protocol.MemberAdded, protocol.RoleAdmin))
		if added.Kind != protocol.KindMember || added.Member == nil || added.Member.User != "carol" ||
			added.Member.Action != protocol.MemberAdded || added.Member.Role != protocol.RoleAdmin {
			f.Fatalf("added event = %+v", added)
		}
		m := f.member("g_1", "carol")
		if m.JoinedSeq != added.Seq-1 || m.Role != protocol.RoleAdmin {
			f.Fatalf("carol = %+v, want JoinedSeq %d and role admin", m, added.Seq-1)
		}
		visible, err := f.s.Range(f.ctx, "g_1", m.JoinedSeq, 0, 100, true)
		f.must(err, "range")
		if len(visible) != 1 || visible[0].ID != added.ID {
			f.Fatalf("carol sees %v, want only her own join event %d", seqs(visible), added.Seq)
		}
		f.send("g_1", "carol", "hello all")

		// A member added without a role is a plain member.
		f.user("dave")
		f.ok(memberEvent("g_1", "alice", "dave", protocol.MemberAdded, ""))
		if m := f.member("g_1", "dave"); m.Role != protocol.RoleMember {
			f.Fatalf("dave's default role = %q", m.Role)
		}

		f.ok(memberEvent("g_1", "alice", "bob", protocol.MemberRole, protocol.RoleAdmin))
		if m := f.member("g_1", "bob"); m.Role != protocol.RoleAdmin {
			f.Fatalf("bob's role = %q after the role change", m.Role)
		}

		// Removal drops the member and its device positions.
		last := f.conv("g_1").LastSeq
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{{User: "bob", Device: "phone", Conv: "g_1", Seq: last}}), "ack")
		removed := f.ok(memberEvent("g_1", "alice", "bob", protocol.MemberRemoved, ""))
		_, err = f.s.Member(f.ctx, "g_1", "bob")
		f.wantErr(err, store.ErrNotFound, "Member after removal")
		if pos, _ := f.s.DevicePositions(f.ctx, "bob", "phone"); len(pos) != 0 {
			f.Fatalf("positions of a removed member = %v", pos)
		}
		r = f.appendAll(msg("g_1", "bob", "still here?"))[0]
		f.wantErr(r.Err, store.ErrNotMember, "send after removal")
		if convs := f.userConvs("bob"); len(convs) != 0 {
			f.Fatalf("bob's conversations after removal = %v", convs)
		}

		// Leaving: the member removes itself.
		f.ok(memberEvent("g_1", "carol", "carol", protocol.MemberLeft, ""))
		if _, err := f.s.Member(f.ctx, "g_1", "carol"); err == nil {
			f.Fatal("carol is still a member after leaving")
		}
		ids, _ := f.s.MemberIDs(f.ctx, "g_1")
		if len(ids) != 2 {
			f.Fatalf("members = %v, want alice and dave", ids)
		}
		if got := f.conv("g_1"); got.LastSeq != removed.Seq+1 {
			f.Fatalf("LastSeq = %d, want %d", got.LastSeq, removed.Seq+1)
		}
	}},
	{"members/join with SkipMemberCheck", func(f *fx) {
		f.user("alice")
		f.user("erin")
		f.group("g_1", "alice")
		f.send("g_1", "alice", "old news")
		join := memberEvent("g_1", "erin", "erin", protocol.MemberJoined, "")
		r := f.appendAll(join)[0]
		f.wantErr(r.Err, store.ErrNotMember, "join without SkipMemberCheck")

		join.SkipMemberCheck = true
		joined := f.ok(join)
		m := f.member("g_1", "erin")
		if m.JoinedSeq != joined.Seq-1 || m.Role != protocol.RoleMember {
			f.Fatalf("erin = %+v, want JoinedSeq %d, role member", m, joined.Seq-1)
		}
		// Leaving again and re-joining within one batch, then a message.
		leave := memberEvent("g_1", "erin", "erin", protocol.MemberLeft, "")
		rejoin := memberEvent("g_1", "erin", "erin", protocol.MemberJoined, "")
		rejoin.SkipMemberCheck = true
		res := f.appendAll(leave, msg("g_1", "erin", "while out"), rejoin, msg("g_1", "erin", "back"))
		if res[0].Err != nil || res[2].Err != nil || res[3].Err != nil {
			f.Fatalf("leave/rejoin/send: %v / %v / %v", res[0].Err, res[2].Err, res[3].Err)
		}
		f.wantErr(res[1].Err, store.ErrNotMember, "send between leaving and re-joining")
		if m := f.member("g_1", "erin"); m.JoinedSeq != res[2].Message.Seq-1 {
			f.Fatalf("erin re-joined at %d, want %d", m.JoinedSeq, res[2].Message.Seq-1)
		}
	}},
	{"members/add then send in one batch", func(f *fx) {
		f.user("alice")
		f.user("frank")
		f.group("g_1", "alice")
		res := f.appendAll(
			memberEvent("g_1", "alice", "frank", protocol.MemberAdded, ""),
			msg("g_1", "frank", "thanks"),
		)
		if res[0].Err != nil || res[1].Err != nil {
			f.Fatalf("add then send: %v / %v", res[0].Err, res[1].Err)
		}
		if res[1].Message.Seq != res[0].Message.Seq+1 {
			f.Fatalf("seqs %d, %d", res[0].Message.Seq, res[1].Message.Seq)
		}
	}},
	{"members/rename through KindSystem", func(f *fx) {
		f.user("alice")
		f.group("g_1", "alice")
		ev := f.ok(store.Append{
			Conv: "g_1", Sender: "alice", Kind: protocol.KindSystem,
			Member: &protocol.MemberChange{Action: "renamed", Name: "Renamed ✨"},
		})
		if ev.Kind != protocol.KindSystem || ev.Member == nil || ev.Member.Name != "Renamed ✨" {
			f.Fatalf("rename event = %+v", ev)
		}
		c := f.conv("g_1")
		if c.Name != "Renamed ✨" || c.LastSeq != ev.Seq || !c.UpdatedAt.Equal(f.now) {
			f.Fatalf("group after rename = %+v", c)
		}
		stored := f.at("g_1", ev.Seq)
		f.sameMessage(stored, ev, "stored rename event")
	}},
}

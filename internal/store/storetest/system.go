package storetest

import (
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// systemTests check store.SystemConversations.
var systemTests = []test{
	{"SystemConversationCreatedWithTheUser", func(f *fx) {
		f.user("alice")
		f.user("bob")
		// It exists, empty, with alice its only member, and is not listed
		// until it holds an entry.
		conv := store.SystemConvID("alice")
		if c := f.conv(conv); c.Kind != protocol.ConvSystem || c.LastSeq != 0 {
			f.Fatalf("conversation before its first entry %+v", c)
		}
		if mem := f.member(conv, "alice"); mem.JoinedSeq != 0 || mem.Role != protocol.RoleMember {
			f.Fatalf("membership before the first entry %+v", mem)
		}
		if page, _, _, err := f.s.ListConversations(f.ctx, "alice", "", 10); err != nil || len(page) != 0 {
			f.Fatalf("alice's list before the first entry = %+v, %v; want none", page, err)
		}
		req := &protocol.SocialEvent{Action: protocol.FriendRequest, User: "bob", Text: "hi <alice>"}
		res := f.system(store.SystemEntry{User: "alice", Append: store.Append{Sender: "bob", Kind: protocol.KindFriend, Social: req}})
		m := res[0].Message
		if m.Conv != conv || m.Seq != 1 || m.From != "bob" || m.Kind != protocol.KindFriend || m.Social == nil || *m.Social != *req {
			f.Fatalf("stored %+v (social %+v)", m, m.Social)
		}
		c := f.conv(conv)
		if c.Kind != protocol.ConvSystem || c.LastSeq != 1 {
			f.Fatalf("conversation %+v", c)
		}
		ids, err := f.s.MemberIDs(f.ctx, conv)
		f.must(err, "member ids")
		if len(ids) != 1 || ids[0] != "alice" {
			f.Fatalf("members %v, want only alice", ids)
		}
		if mem := f.member(conv, "alice"); mem.JoinedSeq != 0 || mem.Role != protocol.RoleMember {
			f.Fatalf("membership %+v", mem)
		}
		f.sameMessage(f.at(conv, 1), m, "read back")
		if page, _, _, err := f.s.ListConversations(f.ctx, "alice", "", 10); err != nil || len(page) != 1 || page[0].ID != conv {
			f.Fatalf("alice's list after the first entry = %+v, %v; want the system conversation", page, err)
		}
	}},
	{"SystemEntriesShareATransactionAndKeepSeqs", func(f *fx) {
		f.user("alice")
		f.user("bob")
		notice := func(user, body string) store.SystemEntry {
			return store.SystemEntry{User: user, Append: store.Append{Sender: protocol.SystemSender, Kind: protocol.KindMessage,
				ContentType: "text/plain", Body: body, Social: &protocol.SocialEvent{Notice: "n1"}}}
		}
		res := f.system(notice("alice", "one"), notice("bob", "one"), notice("ghost", "one"), notice("alice", "two"))
		if res[0].Message.Seq != 1 || res[1].Message.Seq != 1 || res[3].Message.Seq != 2 {
			f.Fatalf("seqs %d %d %d", res[0].Message.Seq, res[1].Message.Seq, res[3].Message.Seq)
		}
		f.wantErr(res[2].Err, store.ErrNotFound, "entry for an unknown user")
		if _, err := f.s.Conversation(f.ctx, store.SystemConvID("ghost")); err == nil {
			f.Fatal("a system conversation was made for an unknown user")
		}
		// A notice is content: it counts as unread until read.
		n, err := f.s.Unread(f.ctx, store.SystemConvID("alice"), "alice", 0)
		f.must(err, "unread")
		if n != 2 {
			f.Fatalf("unread %d, want 2", n)
		}
		if got := f.at(store.SystemConvID("bob"), 1); got.Social == nil || got.Social.Notice != "n1" || got.Body != "one" {
			f.Fatalf("notice read back as %+v", got)
		}
	}},
	{"SystemEntryForDeletedUserFails", func(f *fx) {
		f.user("alice")
		f.system(store.SystemEntry{User: "alice", Append: store.Append{Sender: protocol.SystemSender, Kind: protocol.KindMessage, Body: "x"}})
		_, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete user")
		res := f.system(store.SystemEntry{User: "alice", Append: store.Append{Sender: protocol.SystemSender, Kind: protocol.KindMessage, Body: "y"}})
		f.wantErr(res[0].Err, store.ErrNotFound, "entry for a deleted user")
	}},
	{"SocialEntryOutsideSystemConversationRefused", func(f *fx) {
		f.user("alice")
		f.user("bob")
		d := f.direct("alice", "bob")
		r := f.appendAll(store.Append{Conv: d.ID, Sender: "alice", Kind: protocol.KindFriend,
			Social: &protocol.SocialEvent{Action: protocol.FriendRequest, User: "alice"}})[0]
		f.wantErr(r.Err, store.ErrInvalid, "a friend entry in a direct conversation")
		r = f.appendAll(store.Append{Conv: d.ID, Sender: "alice", Kind: protocol.KindFriend, SkipMemberCheck: true,
			Social: &protocol.SocialEvent{Action: protocol.FriendRequest, User: "alice"}})[0]
		f.wantErr(r.Err, store.ErrInvalid, "a friend entry in a direct conversation, member check skipped")
	}},
}

// system appends entries with AppendSystem at a new tick and checks the
// result count.
func (f *fx) system(entries ...store.SystemEntry) []store.AppendResult {
	f.Helper()
	res, err := f.s.AppendSystem(f.ctx, entries, f.tick())
	f.must(err, "append system")
	if len(res) != len(entries) {
		f.Fatalf("append system: %d results for %d entries", len(res), len(entries))
	}
	return res
}

package storetest

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// tombstone fails unless m is the erased form of orig: same identity, seq,
// sender and kind; no body, no payload; deleted.
func (f *fx) tombstone(m, orig protocol.Message, what string) {
	f.Helper()
	if !m.Deleted || m.Body != "" || len(m.Payload) != 0 || m.ID != orig.ID || m.Seq != orig.Seq ||
		m.From != orig.From || m.Kind != orig.Kind || m.Conv != orig.Conv {
		f.Fatalf("%s: got %+v, want the tombstone of %+v", what, m, orig)
	}
}

// sentBy returns every stored message of convs whose sender is user,
// ordered by (Conv, Seq).
func (f *fx) sentBy(user string, convs ...string) []protocol.Message {
	f.Helper()
	sort.Strings(convs)
	var out []protocol.Message
	for _, c := range convs {
		for _, m := range f.all(c) {
			if m.From == user {
				out = append(out, m)
			}
		}
	}
	return out
}

// sentPages reads SentMessages of user in pages of limit.
func (f *fx) sentPages(user string, limit int) []protocol.Message {
	f.Helper()
	var out []protocol.Message
	conv, seq := "", uint64(0)
	for range 1000 {
		page, err := f.s.SentMessages(f.ctx, user, conv, seq, limit)
		f.must(err, "sent messages")
		if len(page) > limit {
			f.Fatalf("page of %d with limit %d", len(page), limit)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		last := page[len(page)-1]
		conv, seq = last.Conv, last.Seq
	}
	f.Fatal("SentMessages does not end")
	return nil
}

var erasureTests = []test{
	{"erasure/delete user leaves a tombstone, seqs stay", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			f.user(u)
		}
		f.must(f.s.SetPassword(f.ctx, "alice", "hash"), "password")
		f.must(f.s.TouchUser(f.ctx, "alice", f.tick()), "touch")
		f.session("s1", "alice", "phone")
		f.session("s2", "alice", "laptop")
		f.session("s3", "bob", "phone")
		d := f.direct("alice", "bob")
		f.group("g_1", "alice", "bob", "carol") // seq 1 by alice
		f.group("g_2", "bob", "alice")          // seq 1 by bob

		a1 := f.ok(store.Append{Conv: d.ID, Sender: "alice", ClientMsgID: "a1", Kind: protocol.KindMessage,
			ContentType: "text/plain", Body: "a1", Payload: json.RawMessage(`{"secret":1}`)}) // d 1
		b1 := f.send(d.ID, "bob", "b1")                                                     // d 2
		a2 := f.send(d.ID, "alice", "a2")                                                   // d 3
		ed := f.ok(edit(d.ID, "alice", a1.Seq, "a1 v2"))                                    // d 4
		ga := f.send("g_1", "alice", "ga")                                                  // g_1 2
		gc := f.send("g_1", "carol", "gc")                                                  // g_1 3
		f.ok(memberEvent("g_1", "alice", "carol", protocol.MemberRole, protocol.RoleAdmin)) // g_1 4
		ha := f.send("g_2", "alice", "ha")                                                  // g_2 2
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{
			{User: "alice", Device: "phone", Conv: d.ID, Seq: 4},
			{User: "bob", Device: "phone", Conv: d.ID, Seq: 4},
		}), "acks")
		if u, _ := f.s.Unread(f.ctx, d.ID, "bob", 2); u != 1 {
			f.Fatalf("bob's unread before = %d, want 1", u)
		}
		userBefore, err := f.s.User(f.ctx, "alice")
		f.must(err, "user")

		at := f.tick()
		events, err := f.s.DeleteUser(f.ctx, "alice", at)
		f.must(err, "delete user")

		// The events: in g_1 ownership goes to carol (admin beats an
		// earlier member), then alice leaves; in g_2 she just leaves.
		byConv := map[string][]protocol.Message{}
		for _, e := range events {
			if e.Kind != protocol.KindMember || e.From != "alice" || e.Member == nil || e.Time != ms(at) {
				f.Fatalf("event = %+v", e)
			}
			byConv[e.Conv] = append(byConv[e.Conv], e)
			f.sameMessage(f.at(e.Conv, e.Seq), e, "stored event")
		}
		if len(events) != 3 || len(byConv["g_1"]) != 2 || len(byConv["g_2"]) != 1 {
			f.Fatalf("events = %+v", events)
		}
		if e := byConv["g_1"][0]; e.Seq != 5 || e.Member.Action != protocol.MemberRole || e.Member.User != "carol" || e.Member.Role != protocol.RoleOwner {
			f.Fatalf("hand-over = %+v", e)
		}
		if e := byConv["g_1"][1]; e.Seq != 6 || e.Member.Action != protocol.MemberLeft || e.Member.User != "alice" {
			f.Fatalf("left = %+v", e)
		}
		if e := byConv["g_2"][0]; e.Seq != 3 || e.Member.Action != protocol.MemberLeft || e.Member.User != "alice" {
			f.Fatalf("left g_2 = %+v", e)
		}

		// The tombstone of the account.
		u, err := f.s.User(f.ctx, "alice")
		f.must(err, "user after delete")
		if !u.Deleted || !u.Disabled || u.DisplayName != "" || u.PasswordHash != "" || !u.LastSeen.IsZero() ||
			!u.CreatedAt.Equal(userBefore.CreatedAt) || !u.DeletedAt.Equal(at) {
			f.Fatalf("tombstone = %+v", u)
		}
		if b, _ := f.s.User(f.ctx, "bob"); b.Deleted || b.DisplayName != "User bob" || !b.DeletedAt.IsZero() {
			f.Fatalf("bob changed: %+v", b)
		}
		us, err := f.s.ListUsers(f.ctx, "", 10)
		f.must(err, "list users")
		if len(us) != 4 || us[0].ID != "alice" || !us[0].Deleted || us[1].Deleted {
			f.Fatalf("listed users = %+v", us)
		}

		// Sessions, devices and positions are gone; bob's stay.
		for _, s := range []string{"s1", "s2"} {
			_, err := f.s.Session(f.ctx, s)
			f.wantErr(err, store.ErrNotFound, "session "+s)
		}
		if s := f.getSession("s3"); s.Revoked {
			f.Fatal("bob's session was revoked")
		}
		if devs, err := f.s.Devices(f.ctx, "alice"); err != nil || len(devs) != 0 {
			f.Fatalf("devices = %+v, %v", devs, err)
		}
		if pos, err := f.s.DevicePositions(f.ctx, "alice", "phone"); err != nil || len(pos) != 0 {
			f.Fatalf("positions = %v, %v", pos, err)
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "bob", "phone"); pos[d.ID] != 4 {
			f.Fatalf("bob's positions = %v", pos)
		}

		// Memberships are gone everywhere.
		if cs, err := f.s.UserConversations(f.ctx, "alice"); err != nil || len(cs) != 0 {
			f.Fatalf("conversations = %v, %v", cs, err)
		}
		for _, c := range []string{d.ID, "g_1", "g_2"} {
			_, err := f.s.Member(f.ctx, c, "alice")
			f.wantErr(err, store.ErrNotFound, "member of "+c)
		}
		if ids, _ := f.s.MemberIDs(f.ctx, d.ID); len(ids) != 1 || ids[0] != "bob" {
			f.Fatalf("members of the direct conversation = %v", ids)
		}
		if m := f.member("g_1", "carol"); m.Role != protocol.RoleOwner {
			f.Fatalf("carol = %+v, want owner", m)
		}
		if m := f.member("g_1", "bob"); m.Role != protocol.RoleMember {
			f.Fatalf("bob = %+v, want member", m)
		}
		if m := f.member("g_2", "bob"); m.Role != protocol.RoleOwner {
			f.Fatalf("bob in g_2 = %+v", m)
		}

		// Messages: alice's content and edits are tombstones in place; the
		// rest is untouched; no seq moved.
		f.tombstone(f.at(d.ID, 1), a1, "a1")
		f.sameMessage(f.at(d.ID, 2), b1, "bob's message")
		f.tombstone(f.at(d.ID, 3), a2, "a2")
		f.tombstone(f.at(d.ID, 4), ed, "edit")
		f.tombstone(f.at("g_1", 2), ga, "ga")
		f.sameMessage(f.at("g_1", 3), gc, "carol's message")
		f.tombstone(f.at("g_2", 2), ha, "ha")
		for _, seq := range []uint64{1, 4} {
			if m := f.at("g_1", seq); m.Deleted || m.Member == nil || m.Kind != protocol.KindMember {
				f.Fatalf("membership event %d = %+v", seq, m)
			}
		}
		f.sameSeqs(seqs(f.all(d.ID)), span(1, 4), "direct")
		f.sameSeqs(seqs(f.all("g_1")), span(1, 6), "g_1")
		if c := f.conv(d.ID); c.LastSeq != 4 {
			f.Fatalf("direct LastSeq = %d", c.LastSeq)
		}
		if u, _ := f.s.Unread(f.ctx, d.ID, "bob", 2); u != 0 {
			f.Fatalf("bob's unread = %d: a tombstone is not unread", u)
		}
		if m := f.send(d.ID, "bob", "anyone?"); m.Seq != 5 {
			f.Fatalf("next seq = %d", m.Seq)
		}
	}},
	{"erasure/a deleted id is never reused nor logged into", func(f *fx) {
		f.user("alice")
		f.user("bob")
		d := f.direct("alice", "bob")
		f.send(d.ID, "alice", "hi")
		_, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete")

		f.wantErr(f.s.CreateUser(f.ctx, store.User{ID: "alice", DisplayName: "New Alice", CreatedAt: f.tick()}),
			store.ErrExists, "re-create")
		f.wantErr(f.s.SetDisabled(f.ctx, "alice", false), store.ErrNotFound, "re-enable")
		f.wantErr(f.s.SetPassword(f.ctx, "alice", "h"), store.ErrNotFound, "set password")
		err = f.s.CreateSession(f.ctx, store.Session{ID: "s9", User: "alice", Device: "phone", RefreshHash: "h",
			CreatedAt: f.tick(), ExpiresAt: f.now.Add(1000)})
		f.wantErr(err, store.ErrNotFound, "create session")
		_, err = f.s.Session(f.ctx, "s9")
		f.wantErr(err, store.ErrNotFound, "the refused session")
		f.must(f.s.TouchDevice(f.ctx, "alice", "phone", f.tick()), "touch device")
		_ = f.s.TouchUser(f.ctx, "alice", f.tick())
		f.must(f.s.SaveAcks(f.ctx, []store.DeviceAck{{User: "alice", Device: "phone", Conv: d.ID, Seq: 1}}), "ack")
		u, err := f.s.User(f.ctx, "alice")
		f.must(err, "user")
		if !u.Deleted || !u.Disabled || !u.LastSeen.IsZero() || u.DisplayName != "" {
			f.Fatalf("tombstone changed: %+v", u)
		}
		if devs, _ := f.s.Devices(f.ctx, "alice"); len(devs) != 0 {
			f.Fatalf("a device came back: %+v", devs)
		}
		if pos, _ := f.s.DevicePositions(f.ctx, "alice", "phone"); len(pos) != 0 {
			f.Fatalf("a position came back: %v", pos)
		}

		// Nothing makes the tombstone a member again.
		f.user("carol")
		_, err = f.s.EnsureDirect(f.ctx, "d_new", "carol", "alice", f.tick())
		f.wantErr(err, store.ErrNotFound, "a new direct conversation with a deleted user")
		if existing, err := f.s.EnsureDirect(f.ctx, "d_other", "bob", "alice", f.tick()); err != nil || existing.ID != d.ID {
			f.Fatalf("the existing direct conversation = %+v, %v", existing, err)
		}
		_, err = f.s.CreateGroup(f.ctx, store.Conversation{ID: "g_new", Kind: protocol.ConvGroup, CreatedBy: "bob", CreatedAt: f.tick()},
			[]store.Member{{User: "bob"}, {User: "alice"}})
		f.wantErr(err, store.ErrNotFound, "a group with a deleted user")
		_, err = f.s.Conversation(f.ctx, "g_new")
		f.wantErr(err, store.ErrNotFound, "the refused group")
		f.group("g_1", "bob", "carol")
		r := f.appendAll(memberEvent("g_1", "bob", "alice", protocol.MemberAdded, ""))[0]
		f.wantErr(r.Err, store.ErrNotFound, "adding a deleted user")
		if cs, _ := f.s.UserConversations(f.ctx, "alice"); len(cs) != 0 {
			f.Fatalf("the tombstone is a member of %v", cs)
		}

		// Deleting again changes nothing; an unknown user is ErrNotFound.
		before := f.conv(d.ID)
		events, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete again")
		if len(events) != 0 || f.conv(d.ID).LastSeq != before.LastSeq {
			f.Fatalf("deleting again stored %+v", events)
		}
		if u2, _ := f.s.User(f.ctx, "alice"); !u2.DeletedAt.Equal(u.DeletedAt) {
			f.Fatalf("DeletedAt moved from %v to %v", u.DeletedAt, u2.DeletedAt)
		}
		_, err = f.s.DeleteUser(f.ctx, "nobody", f.tick())
		f.wantErr(err, store.ErrNotFound, "delete unknown")
	}},
	{"erasure/the last member and the only owner", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.group("g_solo", "alice")                                                          // seq 1
		f.group("g_two", "alice", "bob")                                                    // seq 1
		f.ok(memberEvent("g_two", "alice", "bob", protocol.MemberRole, protocol.RoleOwner)) // seq 2: two owners
		f.group("g_three", "alice", "bob", "carol")                                         // seq 1: both members joined at 0: bob by id
		events, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete")
		want := map[string][]string{
			"g_solo":  {protocol.MemberLeft},
			"g_two":   {protocol.MemberLeft},
			"g_three": {protocol.MemberRole, protocol.MemberLeft},
		}
		got := map[string][]string{}
		for _, e := range events {
			got[e.Conv] = append(got[e.Conv], e.Member.Action)
		}
		for c, w := range want {
			if len(got[c]) != len(w) || got[c][0] != w[0] || got[c][len(w)-1] != w[len(w)-1] {
				f.Fatalf("events of %s = %v, want %v", c, got[c], w)
			}
		}
		if ids, _ := f.s.MemberIDs(f.ctx, "g_solo"); len(ids) != 0 {
			f.Fatalf("members of g_solo = %v", ids)
		}
		if m := f.member("g_two", "bob"); m.Role != protocol.RoleOwner {
			f.Fatalf("bob in g_two = %+v", m)
		}
		if m := f.member("g_three", "bob"); m.Role != protocol.RoleOwner {
			f.Fatalf("bob in g_three = %+v, want the owner (joined first, id first)", m)
		}
		if m := f.member("g_three", "carol"); m.Role != protocol.RoleMember {
			f.Fatalf("carol in g_three = %+v", m)
		}
	}},
	{"erasure/sent messages in order, paged, across conversations left", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		d := f.direct("alice", "bob")
		f.group("g_1", "bob", "alice", "carol")
		f.group("g_2", "carol", "bob")
		for i := range 3 {
			f.send(d.ID, "alice", "d")
			f.send("g_1", "alice", "g")
			f.send("g_1", "carol", "not hers")
			if i == 1 {
				f.send(d.ID, "bob", "not hers")
			}
		}
		f.ok(memberEvent("g_2", "carol", "alice", protocol.MemberAdded, "")) // alice joins through Append
		e := f.send("g_2", "alice", "in g_2")
		f.ok(edit("g_2", "alice", e.Seq, "in g_2, edited"))
		f.ok(memberEvent("g_1", "alice", "alice", protocol.MemberLeft, ""))
		f.send("g_1", "bob", "after she left")

		want := f.sentBy("alice", d.ID, "g_1", "g_2")
		if len(want) != 3+3+1+2 {
			f.Fatalf("fixture: alice sent %d", len(want))
		}
		for _, limit := range []int{1, 2, 4, 100} {
			got := f.sentPages("alice", limit)
			if len(got) != len(want) {
				f.Fatalf("limit %d: %d messages, want %d", limit, len(got), len(want))
			}
			for i := range want {
				f.sameMessage(got[i], want[i], "sent message")
			}
		}
		if got := f.sentPages("alice", 100); got[len(got)-2].EditedAt == 0 || got[len(got)-2].Body != "in g_2, edited" {
			f.Fatalf("an edited message is not in its current state: %+v", got[len(got)-2])
		}
		if page, err := f.s.SentMessages(f.ctx, "alice", "", 0, 0); err != nil || len(page) != 0 {
			f.Fatalf("limit 0 = %v, %v", page, err)
		}
		if page, err := f.s.SentMessages(f.ctx, "nobody", "", 0, 10); err != nil || len(page) != 0 {
			f.Fatalf("unknown user = %v, %v", page, err)
		}
		if got := f.sentPages("carol", 3); len(got) != len(f.sentBy("carol", d.ID, "g_1", "g_2")) {
			f.Fatalf("carol's = %d", len(got))
		}

		// After erasure the same rows are listed, as tombstones.
		_, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete")
		// Alice is still in g_2, so erasure adds her "left" there.
		got := f.sentPages("alice", 3)
		if len(got) != len(want)+1 {
			f.Fatalf("after erasure: %d messages, want %d", len(got), len(want)+1)
		}
		for i, m := range got[:len(want)] {
			if m.ID != want[i].ID {
				f.Fatalf("after erasure, message %d is %+v, want %+v", i, m, want[i])
			}
			if want[i].Kind == protocol.KindMessage || want[i].Kind == protocol.KindEdit {
				f.tombstone(m, want[i], "erased message")
			}
		}
	}},
}

func init() {
	erasureTests = append(erasureTests, test{"erasure/in steps: others commit between them, an interrupted one resumes", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.session("s1", "alice", "phone")
		f.group("g_1", "alice", "bob", "carol") // seq 1
		ga := f.send("g_1", "alice", "ga")
		f.send("g_1", "carol", "gc")
		// More conversations than one step finishes.
		const n = 150
		convs := []string{"g_1"}
		peers := map[string]string{}
		for i := range n {
			p := fmt.Sprintf("u%03d", i)
			f.user(p)
			d := f.direct("alice", p)
			f.send(d.ID, "alice", "a")
			f.send(d.ID, p, "p")
			convs = append(convs, d.ID)
			peers[d.ID] = p
		}
		before := f.sentBy("alice", convs...)

		f.must(f.s.BeginErasure(f.ctx, "alice", f.tick()), "begin erasure")
		if u, err := f.s.User(f.ctx, "alice"); err != nil || !u.Deleted || !u.Disabled {
			f.Fatalf("after BeginErasure: %+v, %v; want the tombstone", u, err)
		}
		_, err := f.s.Session(f.ctx, "s1")
		f.wantErr(err, store.ErrNotFound, "session after BeginErasure")
		if p, err := f.s.PendingErasures(f.ctx); err != nil || len(p) != 1 || p[0] != "alice" {
			f.Fatalf("PendingErasures = %v, %v; want [alice]", p, err)
		}
		// Still a member of g_1, but sends nothing.
		r := f.appendAll(msg("g_1", "alice", "late"))[0]
		f.wantErr(r.Err, store.ErrNotMember, "send while being erased")

		at := f.tick()
		events, done, err := f.s.EraseStep(f.ctx, "alice", at)
		f.must(err, "first step")
		if done {
			f.Fatalf("one step erased %d conversations", len(convs))
		}
		// Other commits run between the steps.
		f.send("g_1", "bob", "between")
		// An interruption: the rest is done by DeleteUser called again.
		rest, err := f.s.DeleteUser(f.ctx, "alice", at)
		f.must(err, "resume")
		events = append(events, rest...)

		if len(events) != 2 || events[0].Conv != "g_1" || events[1].Conv != "g_1" ||
			events[0].Member == nil || events[0].Member.Action != protocol.MemberRole || events[0].Member.User != "bob" ||
			events[1].Member == nil || events[1].Member.Action != protocol.MemberLeft || events[1].Member.User != "alice" ||
			events[1].Seq != events[0].Seq+1 {
			f.Fatalf("events = %+v", events)
		}
		for _, e := range events {
			f.sameMessage(f.at(e.Conv, e.Seq), e, "stored event")
		}
		if p, err := f.s.PendingErasures(f.ctx); err != nil || len(p) != 0 {
			f.Fatalf("PendingErasures after = %v, %v", p, err)
		}
		after := f.sentBy("alice", convs...)
		for i, m := range before {
			if after[i].Kind == protocol.KindMessage || after[i].Kind == protocol.KindEdit {
				f.tombstone(after[i], m, "alice's message")
			}
		}
		if f.at("g_1", ga.Seq).Body != "" {
			f.Fatal("ga kept its body")
		}
		if m := f.member("g_1", "bob"); m.Role != protocol.RoleOwner {
			f.Fatalf("bob in g_1 = %+v, want the owner", m)
		}
		for _, c := range convs {
			_, err := f.s.Member(f.ctx, c, "alice")
			f.wantErr(err, store.ErrNotFound, "alice's membership of "+c)
		}
		// Unread: alice's tombstones are not unread; the others' messages are.
		for c, p := range peers {
			if u, err := f.s.Unread(f.ctx, c, p, 0); err != nil || u != 0 {
				f.Fatalf("%s's unread in %s = %d, %v; want 0", p, c, u, err)
			}
		}
		if u, err := f.s.Unread(f.ctx, "g_1", "bob", 0); err != nil || u != 1 {
			f.Fatalf("bob's unread in g_1 = %d, %v; want 1 (carol's)", u, err)
		}
		// Done: again changes nothing.
		again, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		if err != nil || len(again) != 0 {
			f.Fatalf("DeleteUser again = %+v, %v", again, err)
		}
		if evs, done, err := f.s.EraseStep(f.ctx, "alice", f.tick()); err != nil || !done || len(evs) != 0 {
			f.Fatalf("EraseStep after = %+v, %v, %v", evs, done, err)
		}
	}})
}

package storetest

import (
	"encoding/json"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// edit and del are edit and delete entries with fresh client message ids.
func edit(conv, from string, target uint64, body string) store.Append {
	e := msg(conv, from, body)
	e.Kind, e.Target = protocol.KindEdit, target
	return e
}

func del(conv, from string, target uint64) store.Append {
	e := msg(conv, from, "")
	e.Kind, e.Target, e.ContentType = protocol.KindDelete, target, ""
	return e
}

var editTests = []test{
	{"edit/edit and delete update the target in place", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		orig := f.ok(store.Append{
			Conv: c.ID, Sender: "alice", ClientMsgID: "m1", Kind: protocol.KindMessage,
			ContentType: "text/plain", Body: "helo", Payload: json.RawMessage(`{"k":"v"}`),
		})
		f.send(c.ID, "bob", "unrelated")

		ed := f.ok(edit(c.ID, "alice", orig.Seq, "hello"))
		editedAt := f.now
		if ed.Kind != protocol.KindEdit || ed.Target != orig.Seq || ed.Body != "hello" || ed.Seq != 3 {
			f.Fatalf("edit event = %+v", ed)
		}
		got := f.at(c.ID, orig.Seq)
		if got.Body != "hello" || got.EditedAt != ms(editedAt) || got.Deleted || got.ID != orig.ID || got.Kind != protocol.KindMessage {
			f.Fatalf("edited message = %+v", got)
		}
		if string(got.Payload) != `{"k":"v"}` {
			f.Fatalf("edit changed the payload to %q", got.Payload)
		}
		if other := f.at(c.ID, 2); other.Body != "unrelated" || other.EditedAt != 0 {
			f.Fatalf("edit changed another message: %+v", other)
		}
		// A retry of the original send reports the message in its current state.
		dup := f.appendAll(store.Append{Conv: c.ID, Sender: "alice", ClientMsgID: "m1", Kind: protocol.KindMessage, Body: "helo"})[0]
		if !dup.Duplicate || dup.Message.ID != orig.ID || dup.Message.Seq != orig.Seq {
			f.Fatalf("retry after edit = %+v", dup)
		}

		dl := f.ok(del(c.ID, "alice", orig.Seq))
		if dl.Kind != protocol.KindDelete || dl.Target != orig.Seq || dl.Seq != 4 {
			f.Fatalf("delete event = %+v", dl)
		}
		got = f.at(c.ID, orig.Seq)
		if !got.Deleted || got.Body != "" || len(got.Payload) != 0 || got.ID != orig.ID || got.Seq != orig.Seq {
			f.Fatalf("deleted message = %+v", got)
		}
		r := f.appendAll(edit(c.ID, "alice", orig.Seq, "too late"))[0]
		f.wantErr(r.Err, store.ErrInvalid, "edit of a deleted message")
		if got := f.conv(c.ID); got.LastSeq != 4 {
			f.Fatalf("LastSeq = %d, want 4", got.LastSeq)
		}
	}},
	{"edit/targets must be content messages of the sender", func(f *fx) {
		for _, u := range []string{"alice", "bob", "carol"} {
			f.user(u)
		}
		f.group("g_1", "alice", "bob", "carol") // seq 1: the creation event by alice
		m := f.send("g_1", "alice", "mine")
		ed := f.ok(edit("g_1", "alice", m.Seq, "mine, edited"))
		res := f.appendAll(
			edit("g_1", "alice", 1, "edit a member event"),
			edit("g_1", "alice", ed.Seq, "edit an edit"),
			del("g_1", "alice", ed.Seq),
			edit("g_1", "carol", m.Seq, "carol edits alice"),
			del("g_1", "carol", m.Seq),
			edit("g_1", "alice", 0, "no target"),
			edit("g_1", "alice", 1000, "beyond the end"),
		)
		want := []error{store.ErrInvalid, store.ErrInvalid, store.ErrInvalid, store.ErrForbidden, store.ErrForbidden, store.ErrNotFound, store.ErrNotFound}
		for i, w := range want {
			if res[i].Err == nil {
				f.Fatalf("entry %d succeeded, want %v", i, w)
			}
			f.wantErr(res[i].Err, w, "entry")
		}
		if got := f.at("g_1", m.Seq); got.Body != "mine, edited" || got.Deleted {
			f.Fatalf("target after refused changes = %+v", got)
		}
	}},
	{"edit/edit and delete in the batch of the target", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		f.send(c.ID, "bob", "first")
		// seq 2 is the message, seq 3 its edit, seq 4 another message, seq 5
		// its deletion, seq 6 an edit of the deleted one (refused).
		res := f.appendAll(
			msg(c.ID, "alice", "draft"),
			edit(c.ID, "alice", 2, "final"),
			msg(c.ID, "alice", "oops"),
			del(c.ID, "alice", 4),
			edit(c.ID, "alice", 4, "revive"),
		)
		for i := range 4 {
			if res[i].Err != nil || res[i].Message.Seq != uint64(i+2) {
				f.Fatalf("entry %d: err=%v seq=%d", i, res[i].Err, res[i].Message.Seq)
			}
		}
		f.wantErr(res[4].Err, store.ErrInvalid, "edit of a message deleted earlier in the batch")
		if got := f.at(c.ID, 2); got.Body != "final" || got.EditedAt == 0 {
			f.Fatalf("message edited in its own batch = %+v", got)
		}
		if got := f.at(c.ID, 4); !got.Deleted || got.Body != "" {
			f.Fatalf("message deleted in its own batch = %+v", got)
		}
		if got := f.conv(c.ID); got.LastSeq != 5 {
			f.Fatalf("LastSeq = %d, want 5", got.LastSeq)
		}
	}},
}

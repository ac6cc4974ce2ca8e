package storetest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var appendTests = []test{
	{"append/assigns seqs and stores every field", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		e := store.Append{
			Conv: c.ID, Sender: "alice", ClientMsgID: "c-1", Kind: protocol.KindMessage,
			ContentType: "application/vnd.parley.card+json", Body: "hello",
			Payload: json.RawMessage(`{"card":{"title":"t","n":[1,2]}}`), Encrypted: true,
		}
		now := f.tick()
		res, err := f.s.Append(f.ctx, []store.Append{e, msg(c.ID, "bob", "second"), msg(c.ID, "alice", "third")}, now)
		f.must(err, "append")
		if len(res) != 3 {
			f.Fatalf("%d results for 3 entries", len(res))
		}
		for i, r := range res {
			if r.Err != nil || r.Duplicate {
				f.Fatalf("result %d: err=%v duplicate=%v", i, r.Err, r.Duplicate)
			}
			if r.Message.Seq != uint64(i+1) {
				f.Fatalf("result %d has seq %d, want %d", i, r.Message.Seq, i+1)
			}
			if r.Message.Time != ms(now) {
				f.Fatalf("result %d time = %d, want %d", i, r.Message.Time, ms(now))
			}
		}
		m := res[0].Message
		want := protocol.Message{
			Conv: c.ID, Seq: 1, ID: m.ID, From: "alice", ClientMsgID: "c-1", Kind: protocol.KindMessage,
			ContentType: e.ContentType, Body: "hello", Payload: e.Payload, Encrypted: true, Time: ms(now),
		}
		if m.ID == "" || m.ID == res[1].Message.ID || res[1].Message.ID == res[2].Message.ID {
			f.Fatalf("message ids %q %q %q: want distinct and non-empty", m.ID, res[1].Message.ID, res[2].Message.ID)
		}
		f.sameMessage(m, want, "returned message")
		stored := f.all(c.ID)
		f.sameSeqs(seqs(stored), span(1, 3), "stored")
		for i := range stored {
			f.sameMessage(stored[i], res[i].Message, fmt.Sprintf("stored message %d", i))
		}
		got := f.conv(c.ID)
		if got.LastSeq != 3 || !got.UpdatedAt.Equal(now) {
			f.Fatalf("conversation after append: LastSeq %d UpdatedAt %v, want 3 and %v", got.LastSeq, got.UpdatedAt, now)
		}
		// The next batch continues the sequence.
		if m := f.send(c.ID, "bob", "fourth"); m.Seq != 4 {
			f.Fatalf("next seq = %d, want 4", m.Seq)
		}
	}},
	{"append/dedupe across batches", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		first := f.ok(store.Append{Conv: c.ID, Sender: "alice", ClientMsgID: "retry-me", Kind: protocol.KindMessage, Body: "original"})
		f.send(c.ID, "bob", "in between")
		r := f.appendAll(store.Append{Conv: c.ID, Sender: "alice", ClientMsgID: "retry-me", Kind: protocol.KindMessage, Body: "changed on retry"})[0]
		if r.Err != nil || !r.Duplicate {
			f.Fatalf("retry: err=%v duplicate=%v, want a duplicate", r.Err, r.Duplicate)
		}
		f.sameMessage(r.Message, first, "duplicate result")
		if got := f.conv(c.ID); got.LastSeq != 2 {
			f.Fatalf("LastSeq = %d after a duplicate, want 2", got.LastSeq)
		}
		if n := len(f.all(c.ID)); n != 2 {
			f.Fatalf("%d messages stored, want 2", n)
		}
		// The key is per sender: bob may use the same client message id.
		other := f.ok(store.Append{Conv: c.ID, Sender: "bob", ClientMsgID: "retry-me", Kind: protocol.KindMessage, Body: "bob's"})
		if other.Seq != 3 || other.ID == first.ID {
			f.Fatalf("bob's message with alice's client id = %+v", other)
		}
		// Messages without a client message id are never deduplicated.
		a := f.ok(store.Append{Conv: c.ID, Sender: "alice", Kind: protocol.KindMessage, Body: "same"})
		b := f.ok(store.Append{Conv: c.ID, Sender: "alice", Kind: protocol.KindMessage, Body: "same"})
		if a.Seq != 4 || b.Seq != 5 {
			f.Fatalf("messages without client id got seqs %d, %d, want 4, 5", a.Seq, b.Seq)
		}
	}},
	{"append/dedupe within one batch", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		res := f.appendAll(
			store.Append{Conv: c.ID, Sender: "alice", ClientMsgID: "x", Kind: protocol.KindMessage, Body: "x1"},
			store.Append{Conv: c.ID, Sender: "alice", ClientMsgID: "y", Kind: protocol.KindMessage, Body: "y"},
			store.Append{Conv: c.ID, Sender: "alice", ClientMsgID: "x", Kind: protocol.KindMessage, Body: "x2"},
			store.Append{Conv: c.ID, Sender: "bob", ClientMsgID: "x", Kind: protocol.KindMessage, Body: "bob x"},
		)
		for i, wantDup := range []bool{false, false, true, false} {
			if res[i].Err != nil || res[i].Duplicate != wantDup {
				f.Fatalf("result %d: err=%v duplicate=%v, want duplicate=%v", i, res[i].Err, res[i].Duplicate, wantDup)
			}
		}
		f.sameMessage(res[2].Message, res[0].Message, "in-batch duplicate")
		if res[0].Message.Seq != 1 || res[1].Message.Seq != 2 || res[3].Message.Seq != 3 {
			f.Fatalf("seqs %d %d %d, want 1 2 3", res[0].Message.Seq, res[1].Message.Seq, res[3].Message.Seq)
		}
		stored := f.all(c.ID)
		f.sameSeqs(seqs(stored), span(1, 3), "stored")
		if stored[0].Body != "x1" {
			f.Fatalf("stored body %q, want the first entry's", stored[0].Body)
		}
	}},
	{"append/per-entry errors consume no seq", func(f *fx) {
		for _, u := range []string{"alice", "bob", "mallory"} {
			f.user(u)
		}
		f.group("g_1", "alice", "bob")
		base := f.conv("g_1").LastSeq
		own := f.send("g_1", "alice", "alice's")
		res := f.appendAll(
			msg("g_1", "alice", "ok 1"),
			msg("g_1", "mallory", "not a member"),
			msg("g_1", "bob", "ok 2"),
			store.Append{Conv: "g_1", Sender: "bob", Kind: protocol.KindEdit, Target: own.Seq, Body: "hijack"},
			store.Append{Conv: "g_1", Sender: "bob", Kind: protocol.KindDelete, Target: own.Seq},
			store.Append{Conv: "g_1", Sender: "alice", Kind: protocol.KindEdit, Target: 999, Body: "nothing there"},
			store.Append{Conv: "g_1", Sender: "alice", Kind: protocol.KindEdit, Target: 1, Body: "an event"},
			msg("g_nope", "alice", "no such conversation"),
			msg("g_1", "alice", "ok 3"),
		)
		wantErrs := []error{nil, store.ErrNotMember, nil, store.ErrForbidden, store.ErrForbidden, store.ErrNotFound, store.ErrInvalid, store.ErrNotMember, nil}
		next := own.Seq + 1
		for i, want := range wantErrs {
			r := res[i]
			if want == nil {
				if r.Err != nil || r.Duplicate {
					f.Fatalf("entry %d: err=%v duplicate=%v", i, r.Err, r.Duplicate)
				}
				if r.Message.Seq != next {
					f.Fatalf("entry %d got seq %d, want %d (failed entries must not consume seqs)", i, r.Message.Seq, next)
				}
				next++
				continue
			}
			f.wantErr(r.Err, want, fmt.Sprintf("entry %d", i))
		}
		if got := f.conv("g_1"); got.LastSeq != base+4 {
			f.Fatalf("LastSeq = %d, want %d", got.LastSeq, base+4)
		}
		f.sameSeqs(seqs(f.all("g_1")), span(1, base+4), "stored seqs")
		if m := f.at("g_1", own.Seq); m.Body != "alice's" || m.EditedAt != 0 || m.Deleted {
			f.Fatalf("a forbidden edit or delete changed the target: %+v", m)
		}
		if _, err := f.s.Conversation(f.ctx, "g_nope"); err == nil {
			f.Fatal("an append created a conversation")
		}
	}},
	{"append/sending raises the sender's read position", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		f.send(c.ID, "alice", "1")
		f.send(c.ID, "alice", "2")
		if m := f.member(c.ID, "bob"); m.ReadSeq != 0 {
			f.Fatalf("bob's ReadSeq = %d before sending, want 0", m.ReadSeq)
		}
		sent := f.send(c.ID, "bob", "3")
		if m := f.member(c.ID, "bob"); m.ReadSeq != sent.Seq {
			f.Fatalf("bob's ReadSeq = %d after sending seq %d", m.ReadSeq, sent.Seq)
		}
		if m := f.member(c.ID, "alice"); m.ReadSeq != 2 {
			f.Fatalf("alice's ReadSeq = %d, want 2 (her own last message)", m.ReadSeq)
		}
		res := f.appendAll(msg(c.ID, "alice", "4"), msg(c.ID, "bob", "5"), msg(c.ID, "alice", "6"))
		if m := f.member(c.ID, "alice"); m.ReadSeq != res[2].Message.Seq {
			f.Fatalf("alice's ReadSeq = %d, want %d", m.ReadSeq, res[2].Message.Seq)
		}
		if m := f.member(c.ID, "bob"); m.ReadSeq != res[1].Message.Seq {
			f.Fatalf("bob's ReadSeq = %d, want %d", m.ReadSeq, res[1].Message.Seq)
		}
	}},
	{"append/an error stores nothing", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		f.send(c.ID, "alice", "before")
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		res, err := f.s.Append(ctx, []store.Append{msg(c.ID, "alice", "cancelled"), msg(c.ID, "bob", "cancelled")}, f.tick())
		stored := f.all(c.ID)
		if err != nil {
			if len(stored) != 1 || f.conv(c.ID).LastSeq != 1 {
				f.Fatalf("Append failed (%v) but %d messages are stored", err, len(stored))
			}
			return
		}
		// A store may finish a batch whose context ends; then it stored it all.
		if len(res) != 2 || len(stored) != 3 {
			f.Fatalf("Append succeeded with %d results and %d stored messages", len(res), len(stored))
		}
	}},
}

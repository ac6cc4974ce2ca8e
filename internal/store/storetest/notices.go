package storetest

import (
	"fmt"
	"slices"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// noticeTests check store.Notices, and the part of store.Tags that keeps
// a notice's audience fixed.
var noticeTests = []test{
	{"notices/sent in chunks, once per user", func(f *fx) {
		var beijing []string
		for i := range 7 {
			u := fmt.Sprintf("u%02d", i)
			f.user(u)
			region := "hangzhou"
			if i%3 != 1 {
				region = "beijing"
				beijing = append(beijing, u)
			}
			f.tags(0, store.TagChange{User: u, Set: map[string]string{"region": region}})
		}
		n := f.notice("n1", term("region", "beijing"))
		if got := f.getNotice("n1"); got.State != store.NoticeSending || got.Matched != -1 || got.Stored != 0 || got.Cursor != "" ||
			got.Body != n.Body || got.ContentType != n.ContentType || string(got.Payload) != string(n.Payload) ||
			!got.CreatedAt.Equal(n.CreatedAt) || got.CreatedBy != "ops" || got.To.String() != "region=beijing" {
			f.Fatalf("created notice %+v", got)
		}
		counted, err := f.s.CountNoticeAudience(f.ctx, "n1")
		f.must(err, "count audience")
		if counted.Matched != int64(len(beijing)) {
			f.Fatalf("matched %d, want %d", counted.Matched, len(beijing))
		}
		var got []string
		for chunks := 0; ; chunks++ {
			if chunks > 10 {
				f.Fatal("the notice is not done after 10 chunks")
			}
			copies, after, err := f.s.SendNoticeChunk(f.ctx, "n1", 2, 1, f.tick())
			f.must(err, "send chunk")
			if len(copies) > 2 {
				f.Fatalf("%d copies in a chunk of 2", len(copies))
			}
			for _, c := range copies {
				got = append(got, c.User)
				m := c.Message
				if m.Conv != store.SystemConvID(c.User) || m.From != protocol.SystemSender || m.Kind != protocol.KindMessage ||
					m.Body != n.Body || m.ContentType != n.ContentType || m.Social == nil || m.Social.Notice != "n1" || m.Social.Tags != "beijing" {
					f.Fatalf("copy for %s: %+v (social %+v)", c.User, m, m.Social)
				}
				f.sameMessage(f.at(m.Conv, m.Seq), m, "copy read back")
			}
			if after.Stored != int64(len(got)) {
				f.Fatalf("stored %d after %d copies", after.Stored, len(got))
			}
			if after.State == store.NoticeDone {
				if after.Delivered != int64(chunks+1) || after.Matched != int64(len(beijing)) || after.Skipped != 0 || after.FinishedAt.IsZero() {
					f.Fatalf("done notice %+v", after)
				}
				break
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, beijing) {
			f.Fatalf("copies for %v, want %v", got, beijing)
		}
		// Done: nothing more is stored; a copy is content and unread.
		copies, after, err := f.s.SendNoticeChunk(f.ctx, "n1", 2, 0, f.tick())
		f.must(err, "send chunk after done")
		if len(copies) != 0 || after.Stored != int64(len(beijing)) {
			f.Fatalf("a done notice stored %d more", len(copies))
		}
		if u, err := f.s.Unread(f.ctx, store.SystemConvID("u00"), "u00", 0); err != nil || u != 1 {
			f.Fatalf("unread %d %v, want 1", u, err)
		}
		f.must(f.s.AddNoticeDelivered(f.ctx, "n1", 5), "add delivered")
		if d := f.getNotice("n1").Delivered; d != after.Delivered+5 {
			f.Fatalf("delivered %d, want %d", d, after.Delivered+5)
		}
	}},
	{"notices/the audience is fixed when the notice is created", func(f *fx) {
		for _, u := range []string{"a", "b", "c", "d", "e"} {
			f.user(u)
		}
		f.tags(0,
			store.TagChange{User: "a", Set: map[string]string{"region": "beijing"}},
			store.TagChange{User: "b", Set: map[string]string{"region": "beijing"}},
			store.TagChange{User: "c", Set: map[string]string{"region": "hangzhou"}},
			store.TagChange{User: "d", Set: map[string]string{"region": "beijing"}},
		)
		f.notice("bj", term("region", "beijing"))
		f.notice("notbj", not(term("region", "beijing")))
		f.notice("all", store.TagExpr{Op: store.TagAll})
		// After creation: b leaves beijing and then comes back, c joins,
		// e joins, f is created and joins. None of it changes who gets
		// the notices.
		f.tags(0, store.TagChange{User: "b", Set: map[string]string{"region": "hangzhou"}})
		f.tags(0, store.TagChange{User: "b", Set: map[string]string{"region": "beijing"}})
		f.tags(0, store.TagChange{User: "b", Set: map[string]string{"region": "shanghai"}})
		f.tags(0, store.TagChange{User: "c", Set: map[string]string{"region": "beijing"}})
		f.tags(0, store.TagChange{User: "e", Set: map[string]string{"region": "beijing"}})
		f.user("f")
		f.tags(0, store.TagChange{User: "f", Set: map[string]string{"region": "beijing"}})
		f.tags(0, store.TagChange{User: "g", Create: true, Set: map[string]string{"region": "hangzhou"}})
		for _, c := range []struct {
			id   string
			want []string
		}{
			{"bj", []string{"a", "b", "d"}},
			{"notbj", []string{"c", "e"}},
			{"all", []string{"a", "b", "c", "d", "e"}},
		} {
			n, err := f.s.CountNoticeAudience(f.ctx, c.id)
			f.must(err, "count "+c.id)
			if n.Matched != int64(len(c.want)) {
				f.Fatalf("%s: matched %d, want %d", c.id, n.Matched, len(c.want))
			}
			if got := f.sendAll(c.id, 10); !slices.Equal(got, c.want) {
				f.Fatalf("%s went to %v, want %v", c.id, got, c.want)
			}
		}
	}},
	{"notices/a change after the notice reached the user is not recorded against it", func(f *fx) {
		for _, u := range []string{"a", "b", "c"} {
			f.user(u)
			f.tags(0, store.TagChange{User: u, Set: map[string]string{"region": "beijing"}})
		}
		f.notice("bj", term("region", "beijing"))
		copies, n, err := f.s.SendNoticeChunk(f.ctx, "bj", 1, 0, f.tick())
		f.must(err, "first chunk")
		if len(copies) != 1 || n.Cursor == "" || n.State != store.NoticeSending {
			f.Fatalf("first chunk: %d copies, cursor %q", len(copies), n.Cursor)
		}
		// The first user was reached: their changes are their own
		// business; the others' still count.
		reached := copies[0].User
		var rest []string
		changes := []store.TagChange{{User: reached, Set: map[string]string{"region": "hangzhou"}}}
		for _, u := range []string{"a", "b", "c"} {
			if u != reached {
				rest = append(rest, u)
				changes = append(changes, store.TagChange{User: u, Set: map[string]string{"region": "hangzhou"}})
			}
		}
		f.tags(0, changes...)
		if got := f.sendAll("bj", 1); !slices.Equal(got, rest) {
			f.Fatalf("the rest went to %v, want %v", got, rest)
		}
	}},
	{"notices/users deleted before their turn are skipped", func(f *fx) {
		for _, u := range []string{"a", "b", "c"} {
			f.user(u)
			f.tags(0, store.TagChange{User: u, Set: map[string]string{"plan": "pro"}})
		}
		f.notice("pro", term("plan", "pro"))
		_, err := f.s.CountNoticeAudience(f.ctx, "pro")
		f.must(err, "count")
		_, err = f.s.DeleteUser(f.ctx, "b", f.tick())
		f.must(err, "delete b")
		if got := f.sendAll("pro", 10); !slices.Equal(got, []string{"a", "c"}) {
			f.Fatalf("sent to %v", got)
		}
		if n := f.getNotice("pro"); n.Matched != 3 || n.Stored != 2 || n.Skipped != 1 || n.State != store.NoticeDone {
			f.Fatalf("notice %+v", n)
		}
	}},
	{"notices/cancel stops sending and keeps what was stored", func(f *fx) {
		for _, u := range []string{"a", "b", "c"} {
			f.user(u)
		}
		f.notice("all", store.TagExpr{Op: store.TagAll})
		copies, _, err := f.s.SendNoticeChunk(f.ctx, "all", 1, 0, f.tick())
		f.must(err, "chunk")
		at := f.tick()
		n, err := f.s.CancelNotice(f.ctx, "all", at)
		f.must(err, "cancel")
		if n.State != store.NoticeCancelled || !n.FinishedAt.Equal(at) || n.Stored != 1 {
			f.Fatalf("cancelled notice %+v", n)
		}
		more, _, err := f.s.SendNoticeChunk(f.ctx, "all", 10, 0, f.tick())
		f.must(err, "chunk after cancel")
		if len(more) != 0 {
			f.Fatalf("%d copies after cancel", len(more))
		}
		if again, err := f.s.CancelNotice(f.ctx, "all", f.tick()); err != nil || !again.FinishedAt.Equal(at) {
			f.Fatalf("cancel again: %+v %v", again, err)
		}
		f.sameMessage(f.at(store.SystemConvID(copies[0].User), 1), copies[0].Message, "copy stored before cancel")
		if s, err := f.s.SendingNotices(f.ctx); err != nil || len(s) != 0 {
			f.Fatalf("sending after cancel: %v %v", s, err)
		}
		_, err = f.s.CancelNotice(f.ctx, "nope", f.tick())
		f.wantErr(err, store.ErrNotFound, "cancel an unknown notice")
	}},
	{"notices/listed newest first; those being sent oldest first", func(f *fx) {
		for _, id := range []string{"n1", "n2", "n3", "n4"} {
			f.notice(id, term("k", "v"))
		}
		err := f.s.CreateNotice(f.ctx, store.Notice{ID: "n2", To: term("k", "v"), CreatedAt: f.tick()})
		f.wantErr(err, store.ErrExists, "a notice id used twice")
		_, err = f.s.CancelNotice(f.ctx, "n3", f.tick())
		f.must(err, "cancel n3")
		ids := func(ns []store.Notice) []string {
			var out []string
			for _, n := range ns {
				out = append(out, n.ID)
			}
			return out
		}
		page, err := f.s.ListNotices(f.ctx, "", 3)
		f.must(err, "list")
		if got := ids(page); !slices.Equal(got, []string{"n4", "n3", "n2"}) {
			f.Fatalf("first page %v", got)
		}
		page, err = f.s.ListNotices(f.ctx, "n2", 3)
		f.must(err, "list after n2")
		if got := ids(page); !slices.Equal(got, []string{"n1"}) {
			f.Fatalf("second page %v", got)
		}
		_, err = f.s.ListNotices(f.ctx, "nope", 3)
		f.wantErr(err, store.ErrNotFound, "list before an unknown notice")
		sending, err := f.s.SendingNotices(f.ctx)
		f.must(err, "sending")
		if got := ids(sending); !slices.Equal(got, []string{"n1", "n2", "n4"}) {
			f.Fatalf("sending %v", got)
		}
		_, err = f.s.Notice(f.ctx, "nope")
		f.wantErr(err, store.ErrNotFound, "an unknown notice")
	}},
}

// notice creates a notice to expr at a new tick.
func (f *fx) notice(id string, expr store.TagExpr) store.Notice {
	f.Helper()
	n := store.Notice{ID: id, To: expr, CreatedBy: "ops", ContentType: "text/plain", Body: "Happy new year, " + id,
		Payload: []byte(`{"img":"https://example.com/` + id + `.png"}`), CreatedAt: f.tick()}
	f.must(f.s.CreateNotice(f.ctx, n), "create notice "+id)
	return n
}

func (f *fx) getNotice(id string) store.Notice {
	f.Helper()
	n, err := f.s.Notice(f.ctx, id)
	f.must(err, "notice "+id)
	return n
}

// sendAll sends the notice to the end in chunks of limit and returns the
// users it went to, sorted (each once, or the test fails).
func (f *fx) sendAll(id string, limit int) []string {
	f.Helper()
	var got []string
	for range 1000 {
		copies, n, err := f.s.SendNoticeChunk(f.ctx, id, limit, 0, f.tick())
		f.must(err, "send chunk")
		for _, c := range copies {
			if slices.Contains(got, c.User) {
				f.Fatalf("notice %s went to %s twice", id, c.User)
			}
			got = append(got, c.User)
		}
		if n.State != store.NoticeSending {
			slices.Sort(got)
			return got
		}
	}
	f.Fatalf("notice %s not done after 1000 chunks", id)
	return nil
}

package parley_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// apiError returns err as a *protocol.Error, failing the test if it is
// not one with the status code.
func apiError(t *testing.T, what string, err error, code int) *protocol.Error {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("%s: %v, want a *protocol.Error with code %d", what, err, code)
	}
	return pe
}

func wantTags(t *testing.T, what string, got protocol.UserTags, user string, want map[string]string) {
	t.Helper()
	if got.User != user || !maps.Equal(got.Tags, want) || got.Tags == nil {
		t.Fatalf("%s: %+v, want user %s with tags %v", what, got, user, want)
	}
}

// TestAdminTags sets, changes, deletes and imports tags with Admin, and
// counts audiences, against a real server; refusals are *protocol.Error
// values naming the field.
func TestAdminTags(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.users("alice", "bob", "carol")
	ctx, ad := ctxT(t), s.admin()

	tags, err := ad.SetTags(ctx, "alice", map[string]string{"region": "beijing", "plan": "pro"})
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "SetTags", tags, "alice", map[string]string{"region": "beijing", "plan": "pro"})
	tags, err = ad.UpdateTags(ctx, "alice", protocol.TagsUpdate{Set: map[string]string{"region": "hangzhou", "lang": "zh"}, Delete: []string{"plan"}})
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "UpdateTags", tags, "alice", map[string]string{"region": "hangzhou", "lang": "zh"})
	if tags, err = ad.DeleteTag(ctx, "alice", "lang"); err != nil {
		t.Fatal(err)
	}
	wantTags(t, "DeleteTag", tags, "alice", map[string]string{"region": "hangzhou"})
	if tags, err = ad.DeleteTag(ctx, "alice", "lang"); err != nil { // again: nothing to delete
		t.Fatal(err)
	}
	wantTags(t, "DeleteTag again", tags, "alice", map[string]string{"region": "hangzhou"})
	if tags, err = ad.UserTags(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	wantTags(t, "UserTags", tags, "alice", map[string]string{"region": "hangzhou"})
	if tags, err = ad.UserTags(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	wantTags(t, "UserTags of an untagged user", tags, "carol", map[string]string{})
	if tags, err = ad.SetTags(ctx, "alice", nil); err != nil {
		t.Fatal(err)
	}
	wantTags(t, "SetTags(nil)", tags, "alice", map[string]string{})

	// Refusals.
	_, err = ad.UserTags(ctx, "nobody")
	apiError(t, "UserTags of an unknown user", err, 404)
	_, err = ad.SetTags(ctx, "alice", map[string]string{"Bad key": "x"})
	if pe := apiError(t, "SetTags with a bad key", err, 400); pe.Field != "tags" {
		t.Errorf("SetTags with a bad key: field %q, want tags", pe.Field)
	}
	wrong := &parley.Admin{BaseURL: s.URL, Key: "not-the-admin-key-0123456789abcdef"}
	_, err = wrong.UserTags(ctx, "alice")
	apiError(t, "a wrong admin key", err, 401)

	// Import: each entry sets its keys; an unknown user fails alone.
	imp := protocol.TagsImport{Users: []protocol.UserTags{
		{User: "alice", Tags: map[string]string{"region": "beijing", "plan": "pro"}},
		{User: "bob", Tags: map[string]string{"region": "beijing"}},
		{User: "carol", Tags: map[string]string{"region": "hangzhou", "plan": "free"}},
		{User: "dave", Tags: map[string]string{"region": "beijing"}},
	}}
	res, err := ad.ImportTags(ctx, imp)
	if err != nil {
		t.Fatal(err)
	}
	wantFailed := []protocol.TagsImportFailure{{Index: 3, User: "dave", Error: "no such user"}}
	if res.Changed != 3 || res.Unchanged != 0 || res.Created != 0 || !slices.Equal(res.Failed, wantFailed) {
		t.Fatalf("import: %+v, want 3 changed and dave failed", res)
	}
	if res, err = ad.ImportTags(ctx, imp); err != nil {
		t.Fatal(err)
	}
	if res.Changed != 0 || res.Unchanged != 3 || !slices.Equal(res.Failed, wantFailed) {
		t.Fatalf("the same import again: %+v, want 3 unchanged", res)
	}
	imp.CreateUsers = true
	if res, err = ad.ImportTags(ctx, imp); err != nil {
		t.Fatal(err)
	}
	if res.Changed != 1 || res.Unchanged != 3 || res.Created != 1 || len(res.Failed) != 0 {
		t.Fatalf("import creating users: %+v, want dave created", res)
	}
	// Replace: carol's tags become exactly the entry's; an empty value
	// deletes a key.
	res, err = ad.ImportTags(ctx, protocol.TagsImport{Replace: true, Users: []protocol.UserTags{{User: "carol", Tags: map[string]string{"plan": "pro"}}}})
	if err != nil || res.Changed != 1 {
		t.Fatalf("import with replace: %+v, %v", res, err)
	}
	if _, err = ad.ImportTags(ctx, protocol.TagsImport{Users: []protocol.UserTags{{User: "bob", Tags: map[string]string{"region": ""}}}}); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]map[string]string{"carol": {"plan": "pro"}, "bob": {}, "dave": {"region": "beijing"}} {
		tags, err := ad.UserTags(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		wantTags(t, "after the imports", tags, user, want)
	}
	// A malformed entry refuses the whole request.
	_, err = ad.ImportTags(ctx, protocol.TagsImport{Users: []protocol.UserTags{
		{User: "alice", Tags: map[string]string{"region": "shanghai"}},
		{User: "bob", Tags: map[string]string{"not a key": "x"}},
	}})
	if pe := apiError(t, "import with a malformed entry", err, 400); !strings.HasPrefix(pe.Field, "users") {
		t.Errorf("import with a malformed entry: field %q, want users[1]", pe.Field)
	}
	if tags, _ := ad.UserTags(ctx, "alice"); tags.Tags["region"] != "beijing" {
		t.Errorf("a refused import changed alice's tags: %v", tags.Tags)
	}

	// Audiences: canonical form, count and values.
	au, err := ad.Audience(ctx, "region=beijing and not plan=free")
	if err != nil {
		t.Fatal(err)
	}
	if au.To != "region=beijing AND NOT plan=free" || au.Matched != 2 || !slices.Equal(au.Values, []string{"beijing"}) {
		t.Errorf("audience: %+v, want alice and dave, in canonical form", au)
	}
	if au, err = ad.Audience(ctx, "*"); err != nil || au.Matched != 4 || au.Values == nil || len(au.Values) != 0 {
		t.Errorf("audience of every user: %+v, %v; want 4 users and no values", au, err)
	}
	_, err = ad.Audience(ctx, "region=")
	if pe := apiError(t, "an expression that does not parse", err, 400); pe.Field != "to" || !strings.Contains(pe.Message, "at 8") {
		t.Errorf("an expression that does not parse: %+v, want field to and the position", pe)
	}
}

// TestAdminNotices sends notices to tag expressions with Admin: the
// connected user of the audience gets the copy live, WaitNotice ends with
// every copy stored and the live one counted delivered, Notices pages them
// newest first, CancelNotice returns a finished notice as it is.
func TestAdminNotices(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.users("alice", "bob", "carol", "dave")
	ctx, ad := ctxT(t), s.admin()
	res, err := ad.ImportTags(ctx, protocol.TagsImport{Users: []protocol.UserTags{
		{User: "alice", Tags: map[string]string{"region": "beijing"}},
		{User: "bob", Tags: map[string]string{"region": "beijing", "plan": "free"}},
		{User: "carol", Tags: map[string]string{"region": "hangzhou"}},
		{User: "dave", Tags: map[string]string{"region": "beijing", "plan": "pro"}},
	}})
	if err != nil || res.Changed != 4 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	alice := s.dial("alice", "phone") // online; dave, also in the audience, is not
	resumed(t, alice)                 // so that alice's copy is delivered live

	payload := json.RawMessage(`{"image":"https://img.example.com/lantern.png"}`)
	n, err := ad.SendNotice(ctx, protocol.NoticeRequest{To: "region=beijing and not plan=free", Body: "Happy new year!", Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n.ID, "n_") || n.To != "region=beijing AND NOT plan=free" || !slices.Equal(n.Values, []string{"beijing"}) ||
		n.State != protocol.NoticeSending || n.Matched != -1 || n.CreatedBy != "admin" || n.ContentType != "text/plain" || n.CreatedAt == 0 {
		t.Fatalf("SendNotice: %+v", n)
	}

	select {
	case m := <-alice.Messages():
		if m.From != protocol.SystemSender || m.Kind != protocol.KindMessage || m.Social == nil || m.Social.Notice != n.ID ||
			m.Social.Tags != "beijing" || m.Body != "Happy new year!" || string(m.Payload) != string(payload) {
			t.Fatalf("alice received %+v (social %+v), want the notice's copy", m, m.Social)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice received no copy of the notice")
	}

	done, err := ad.WaitNotice(ctx, n.ID, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != protocol.NoticeDone || done.Matched != 2 || done.Stored != 2 || done.Skipped != 0 || done.Delivered != 1 || done.FinishedAt < done.CreatedAt {
		t.Fatalf("WaitNotice: %+v, want done with alice's and dave's copies, alice's delivered", done)
	}
	if got, err := ad.Notice(ctx, n.ID); err != nil || got.State != protocol.NoticeDone || got.Stored != 2 {
		t.Fatalf("Notice: %+v, %v", got, err)
	}
	// Cancelling a notice that is done changes nothing.
	if got, err := ad.CancelNotice(ctx, n.ID); err != nil || got.State != protocol.NoticeDone || got.FinishedAt != done.FinishedAt {
		t.Fatalf("CancelNotice of a done notice: %+v, %v", got, err)
	}

	// A second notice, a payload without a body; then page them.
	n2, err := ad.SendNotice(ctx, protocol.NoticeRequest{To: "region=hangzhou", ContentType: "application/vnd.example.card+json",
		Payload: json.RawMessage(`{"card":"spring-festival"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if n2, err = ad.WaitNotice(ctx, n2.ID, 20*time.Millisecond); err != nil || n2.State != protocol.NoticeDone || n2.Stored != 1 {
		t.Fatalf("the second notice: %+v, %v", n2, err)
	}
	var ids []string
	for before, pages := "", 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("Notices: more pages than notices: %v", ids)
		}
		l, err := ad.Notices(ctx, before, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range l.Notices {
			ids = append(ids, x.ID)
		}
		if len(l.Notices) == 0 {
			t.Fatalf("Notices after %q: an empty page (the page before it had a next)", before)
		}
		if l.Next == "" {
			break
		}
		before = l.Next
	}
	if !slices.Equal(ids, []string{n2.ID, n.ID}) {
		t.Errorf("Notices, a page at a time: %v, want %v newest first", ids, []string{n2.ID, n.ID})
	}
	if l, err := ad.Notices(ctx, "", 0); err != nil || len(l.Notices) != 2 || l.Next != "" {
		t.Errorf("Notices with the default limit: %+v, %v; want both and no next", l, err)
	}

	// Refusals.
	_, err = ad.Notice(ctx, "n_doesnotexist")
	apiError(t, "an unknown notice", err, 404)
	_, err = ad.Notices(ctx, "not-a-notice-id", 0)
	if pe := apiError(t, "Notices before a malformed id", err, 400); pe.Field != "before" {
		t.Errorf("Notices before a malformed id: field %q, want before", pe.Field)
	}
	_, err = ad.SendNotice(ctx, protocol.NoticeRequest{To: "region=beijing AND", Body: "x"})
	if pe := apiError(t, "a notice to a malformed expression", err, 400); pe.Field != "to" {
		t.Errorf("a notice to a malformed expression: field %q, want to", pe.Field)
	}
}

// TestAdminCancelNotice cancels a notice while it is being sent (one copy
// a second): it ends cancelled at once, with fewer copies than its
// audience, and stores no more afterwards.
func TestAdminCancelNotice(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Notices.UsersPerSecond = 1
		c.Notices.ChunkUsers = 1
	})
	s.users("u1", "u2", "u3", "u4", "u5")
	ctx, ad := ctxT(t), s.admin()
	n, err := ad.SendNotice(ctx, protocol.NoticeRequest{To: "*", Body: "Maintenance tonight at 23:00"})
	if err != nil {
		t.Fatal(err)
	}
	if n.To != "*" || n.Values == nil || len(n.Values) != 0 {
		t.Errorf("a notice to every user: to %q, values %#v", n.To, n.Values)
	}
	c, err := ad.CancelNotice(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != protocol.NoticeCancelled || c.FinishedAt == 0 || c.Stored >= 5 {
		t.Fatalf("CancelNotice: %+v, want cancelled before all 5 copies", c)
	}
	if w, err := ad.WaitNotice(ctx, n.ID, 0); err != nil || w.State != protocol.NoticeCancelled {
		t.Fatalf("WaitNotice of a cancelled notice: %+v, %v", w, err)
	}
	time.Sleep(1500 * time.Millisecond) // more than a copy's turn
	if later, err := ad.Notice(ctx, n.ID); err != nil || later.Stored != c.Stored || later.State != protocol.NoticeCancelled {
		t.Fatalf("after the cancel: %+v, %v; want %d copies still", later, err, c.Stored)
	}
}

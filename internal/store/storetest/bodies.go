package storetest

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// hostileBodies must be stored and returned byte for byte (BAD_INPUTS J8,
// H1): markup, bidi overrides, joiners, NUL bytes, SQL, invalid UTF-8.
var hostileBodies = []struct{ name, body string }{
	{"emoji", "4-byte emoji 😀🎉 and a family 👨‍👩‍👧‍👦"},
	{"rtl", "مرحبا بالعالم שלום עולם"},
	{"bidi override", "invoice\u202Egpj.exe"},
	{"script", "<script>alert(1)</script></script>"},
	{"img", `<img src=x onerror=alert(1)>`},
	{"zwj", "a\u200db\u200cc\u2060d\ufeff"},
	{"nul inside", "before\x00after"},
	{"nul only", "\x00"},
	{"sql", `'; DROP TABLE messages; -- " OR 1=1 --`},
	{"percent and backslash", `100% \n \x00 \\ %s %d ?1 $1`},
	{"invalid utf-8", "\xce\xba\xe1\xbd \xc0\xaf \xed\xa0\x80 \xff"},
	{"newlines", "line1\r\nline2\nline3\r"},
	{"long", strings.Repeat("long body ✓ ", 64<<10/14)},
}

var bodyTests = []test{
	{"bodies/stored byte-exact", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		payload := json.RawMessage("{\"bin\":\"\\u0000\",\"rtl\":\"\u202e\"}")
		var entries []store.Append
		for _, b := range hostileBodies {
			e := msg(c.ID, "alice", b.body)
			e.Payload = payload
			entries = append(entries, e)
		}
		res := f.appendAll(entries...)
		for i, r := range res {
			if r.Err != nil {
				f.Fatalf("%s: %v", hostileBodies[i].name, r.Err)
			}
			if r.Message.Body != hostileBodies[i].body {
				f.Fatalf("%s: returned body differs", hostileBodies[i].name)
			}
		}
		stored := f.all(c.ID)
		if len(stored) != len(hostileBodies) {
			f.Fatalf("stored %d messages, want %d", len(stored), len(hostileBodies))
		}
		for i, m := range stored {
			if m.Body != hostileBodies[i].body {
				f.Fatalf("%s: stored body %q, want %q", hostileBodies[i].name, clip(m.Body), clip(hostileBodies[i].body))
			}
			if !bytes.Equal(m.Payload, payload) {
				f.Fatalf("%s: stored payload %q, want %q", hostileBodies[i].name, m.Payload, payload)
			}
		}
		// Retries return the same bytes, and so do edits.
		dup := f.appendAll(entries[6])[0]
		if !dup.Duplicate || dup.Message.Body != hostileBodies[6].body {
			f.Fatalf("duplicate of the NUL body = %+v", dup)
		}
		nul := hostileBodies[7].body + hostileBodies[2].body
		f.ok(edit(c.ID, "alice", stored[0].Seq, nul))
		if got := f.at(c.ID, stored[0].Seq); got.Body != nul {
			f.Fatalf("edited body %q, want %q", got.Body, nul)
		}
		page, _, _, err := f.s.ListConversations(f.ctx, "bob", "", 10)
		f.must(err, "list")
		if len(page) != 1 || page[0].Last == nil || page[0].Last.Body != nul {
			f.Fatalf("last message of the list does not carry the edit body byte-exact")
		}
	}},
	{"bodies/identity and names byte-exact", func(f *fx) {
		for i, b := range hostileBodies[:11] {
			id := "u" + string(rune('a'+i))
			f.must(f.s.CreateUser(f.ctx, store.User{ID: id, DisplayName: b.body, PasswordHash: b.body, CreatedAt: f.now}), b.name)
			u, err := f.s.User(f.ctx, id)
			f.must(err, b.name)
			if u.DisplayName != b.body || u.PasswordHash != b.body {
				f.Fatalf("%s: display name %q, want %q", b.name, u.DisplayName, b.body)
			}
		}
		f.group("g_1", "ua")
		for _, b := range hostileBodies[:11] {
			f.ok(store.Append{Conv: "g_1", Sender: "ua", Kind: protocol.KindSystem, Member: &protocol.MemberChange{Action: "renamed", Name: b.body}})
			if c := f.conv("g_1"); c.Name != b.body {
				f.Fatalf("%s: group name %q, want %q", b.name, c.Name, b.body)
			}
		}
	}},
}

// clip shortens s for a failure message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

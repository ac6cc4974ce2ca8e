package core

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parley-im/parley/protocol"
)

func TestJSONStringSizeIsExact(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"quoted" \ back`, "<>&", "\n\r\t\b\f\x00\x1f", "héllo ✓ 😀",
		"\u2028\u2029", "bad \xff\xfe utf-8", strings.Repeat("<", 1000)} {
		b, _ := json.Marshal(s)
		if got := jsonStringSize(s); got < len(b) || got > len(b)+8*strings.Count(s, "\b")+8*strings.Count(s, "\f") {
			t.Errorf("jsonStringSize(%q) = %d, encoding/json writes %d", s, got, len(b))
		}
	}
}

// FuzzMessageSizeBoundsEncoding: the size a page counts a message by is
// never below its real encoding, so a page never exceeds PageMaxBytes.
func FuzzMessageSizeBoundsEncoding(f *testing.F) {
	f.Add("hi", `{"a":"<b>"}`, "text/plain", "alice")
	f.Add(strings.Repeat("<", 100), `"\u2028"`, "", "")
	f.Add("\xff\x00\u2029", `[1, 2,  3]`, "x", "bob")
	f.Fuzz(func(t *testing.T, body, payload, ct, from string) {
		m := &protocol.Message{Conv: "d_conv", Seq: 1 << 40, ID: "id", From: from, ClientMsgID: "c", Kind: protocol.KindMessage,
			ContentType: ct, Body: body, Time: 1 << 50, EditedAt: 1 << 50, Target: 7, Deleted: true, Encrypted: true,
			Member: &protocol.MemberChange{User: from, Action: "removed", Role: ct, Name: body}}
		if json.Valid([]byte(payload)) {
			m.Payload = json.RawMessage(payload)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Skip()
		}
		if got := messageSize(m); got < len(b) {
			t.Fatalf("messageSize = %d, encoding is %d bytes", got, len(b))
		}
	})
}

func TestPageBudget(t *testing.T) {
	t.Parallel()
	big := protocol.Message{Body: strings.Repeat("<", 64<<10)} // 384 KiB encoded
	msgs := []protocol.Message{big, big, big, big}
	if n := pageBudget(msgs); n != 2 {
		t.Fatalf("pageBudget of four 384 KiB messages = %d, want 2", n)
	}
	huge := protocol.Message{Body: strings.Repeat("<", 2<<20)}
	if n := pageBudget([]protocol.Message{huge, big}); n != 1 {
		t.Fatalf("a message over the budget travels alone: got %d", n)
	}
	if MaxFrameBytes(2<<20) > 16<<20 {
		t.Fatalf("the largest frame at the largest message limit, %d, is over the SDK's default read limit", MaxFrameBytes(2<<20))
	}
}

package mqtt

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestParseSend(t *testing.T) {
	pub := func(payload string, mod ...func(*packets.Properties)) packets.Packet {
		pk := packets.Packet{Payload: []byte(payload)}
		for _, m := range mod {
			m(&pk.Properties)
		}
		return pk
	}
	corr := func(v string) func(*packets.Properties) {
		return func(p *packets.Properties) { p.CorrelationData = []byte(v) }
	}
	user := func(k, v string) func(*packets.Properties) {
		return func(p *packets.Properties) { p.User = append(p.User, packets.UserProperty{Key: k, Val: v}) }
	}
	ctype := func(v string) func(*packets.Properties) {
		return func(p *packets.Properties) { p.ContentType = v }
	}
	for _, c := range []struct {
		name                    string
		pk                      packets.Packet
		body, contentType, cmid string
		payload                 string
		encrypted, wantErr      bool
	}{
		{name: "plain text", pk: pub("hello"), body: "hello"},
		{name: "plain text keeps its bytes", pk: pub(" <b>x</b>\u202e\n"), body: " <b>x</b>\u202e\n"},
		{name: "empty", pk: pub(""), body: ""},
		{name: "plain text with content type", pk: pub("# title", ctype("text/markdown")), body: "# title", contentType: "text/markdown"},
		{name: "envelope", pk: pub(`{"body":"hi","client_msg_id":"c1","content_type":"text/plain"}`), body: "hi", cmid: "c1", contentType: "text/plain"},
		{name: "envelope with spaces", pk: pub("  {\"body\": \"hi\"}\n"), body: "hi"},
		{name: "envelope with payload", pk: pub(`{"payload":{"a":1},"content_type":"application/json","encrypted":true}`),
			payload: `{"a":1}`, contentType: "application/json", encrypted: true},
		{name: "envelope with null body", pk: pub(`{"body":null,"payload":[1]}`), payload: `[1]`},
		// Not envelopes: the JSON is the text.
		{name: "other JSON object", pk: pub(`{"text":"hi"}`), body: `{"text":"hi"}`},
		{name: "envelope keys and another", pk: pub(`{"body":"hi","to":"mallory"}`), body: `{"body":"hi","to":"mallory"}`},
		{name: "no body nor payload", pk: pub(`{"client_msg_id":"x"}`), body: `{"client_msg_id":"x"}`},
		{name: "empty object", pk: pub(`{}`), body: `{}`},
		{name: "wrong type", pk: pub(`{"body":5}`), body: `{"body":5}`},
		{name: "array", pk: pub(`["body"]`), body: `["body"]`},
		{name: "truncated JSON", pk: pub(`{"body":"hi"`), body: `{"body":"hi"`},
		// The client message id: the envelope's, else correlation data,
		// else the user property.
		{name: "correlation data", pk: pub("x", corr("corr-1")), body: "x", cmid: "corr-1"},
		{name: "user property", pk: pub("x", user("k", "v"), user("client_msg_id", "u1")), body: "x", cmid: "u1"},
		{name: "correlation data over user property", pk: pub("x", user("client_msg_id", "u1"), corr("corr-1")), body: "x", cmid: "corr-1"},
		{name: "envelope over both", pk: pub(`{"body":"x","client_msg_id":"e1"}`, user("client_msg_id", "u1"), corr("corr-1")), body: "x", cmid: "e1"},
		{name: "envelope without id, correlation data", pk: pub(`{"body":"x"}`, corr("corr-1")), body: "x", cmid: "corr-1"},
		{name: "the envelope's content type wins", pk: pub(`{"body":"x"}`, ctype("text/markdown")), body: "x"},
		// Text must be UTF-8.
		{name: "invalid UTF-8", pk: pub("\xc0\xaf"), wantErr: true},
		{name: "binary", pk: pub("\x00\xff\xfe"), wantErr: true},
	} {
		r, err := parseSend(c.pk)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: error %v, want error %v", c.name, err, c.wantErr)
			continue
		}
		if err != nil {
			if err.field != "payload" {
				t.Errorf("%s: error names %q, want payload", c.name, err.field)
			}
			continue
		}
		if r.Body != c.body || r.ContentType != c.contentType || r.ClientMsgID != c.cmid || string(r.Payload) != c.payload || r.Encrypted != c.encrypted {
			t.Errorf("%s: got body %q content type %q client_msg_id %q payload %s encrypted %v", c.name, r.Body, r.ContentType, r.ClientMsgID, r.Payload, r.Encrypted)
		}
		if r.To != "" || r.Conv != "" {
			t.Errorf("%s: the payload chose the recipient: %+v", c.name, r)
		}
	}
}

func TestParseSeq(t *testing.T) {
	for _, c := range []struct {
		in   string
		seq  uint64
		isOK bool
	}{
		{"42", 42, true},
		{" 42\n", 42, true},
		{"0", 0, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{`{"seq":7}`, 7, true},
		{` {"seq": 7} `, 7, true},
		{`{"seq":0}`, 0, true},
		{`{"seq":7,"other":1}`, 7, true},
		{"18446744073709551616", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"4 2", 0, false},
		{"", 0, false},
		{"abc", 0, false},
		{`{"seq":"7"}`, 0, false},
		{`{"seq":-1}`, 0, false},
		{`{"seq":1.5}`, 0, false},
		{`{"seq":null}`, 0, false},
		{`{"x":1}`, 0, false},
		{`{}`, 0, false},
		{`[7]`, 0, false},
		{`{"seq":7`, 0, false},
	} {
		seq, ok := parseSeq([]byte(c.in))
		if seq != c.seq || ok != c.isOK {
			t.Errorf("parseSeq(%q) = %d %v, want %d %v", c.in, seq, ok, c.seq, c.isOK)
		}
	}
}
